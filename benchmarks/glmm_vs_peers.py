"""multilevel's Laplace engine against lme4 glmer, mixedlm and gpboost (issue 18's benchmark).

Point estimates with lme4 ``glmer``'s definitions (Laplace approximation, ``nAGQ = 1``) of

- ``bernoulli_1e4`` … ``bernoulli_1e7``: ``y ~ x + (1 + x | g)``, 10^4 … 10^7 rows,
  g = rows / 10 groups of 10 consecutive rows, x ~ N(0, 1), logit link, coefficients
  (-0.5, 0.7), group intercept / slope SDs (0.8, 0.4), correlation 0.3;
- ``poisson_1e4`` … ``poisson_1e7``: the same with a log link, coefficients (0.5, 0.3), SDs
  (0.5, 0.2), correlation 0.3;
- ``crossed_1e5``: ``y ~ x + (1 | f1) + (1 | f2) + (1 | f3) + (1 | f4) + (1 | f5)``, bernoulli,
  10^5 rows, five crossed factors of 2000, 1000, 500, 100 and 20 levels (every row's level of
  each factor drawn uniformly), coefficients (-0.5, 0.7), SDs (0.6, 0.5, 0.4, 0.3, 0.8);
- ``bernoulli_2e5``: the bernoulli model at 2 * 10^5 rows (2 * 10^4 groups), for the NUTS
  engine only;

(fixed seed) by ``ml.fit(..., method="laplace")``, R's ``lme4::glmer(..., family =
binomial / poisson)`` with default settings (benchmarks/glmm/glmer_time.R), ``mixedlm.glmer``
(Rust lme4 clone, PyPI) and ``gpboost.GPModel`` (PyPI; ``group_data`` for the intercepts,
``group_rand_coef_data`` for the slope: gpboost has no correlated intercept / slope, so it fits
``(1 + x || g)``, a different model, on the slope sets; the crossed model is the same for all
four), interleaved per data set (rotated order), and multilevel's NUTS engine (``method="nuts"``,
4 chains x 1000 draws after 1000 warmup) on ``bernoulli_2e5`` (``--engines nuts``).

Every (engine, data set) case runs in a fresh process and fits ``--fits`` times up to 10^5 rows
(``--fits-big`` above and on the crossed set): the first fit is **cold** (imports done
beforehand; lazy loading and first runs of code paths included), the later ones **warm** (same
process). Timed: the fit call only; reading the data is timed separately. CPU seconds next to
every wall time (wall well above CPU means the case waited for a core). Peak memory: the
process's high-water mark (VmHWM) after imports, after the data and after the fits (for R also
``/usr/bin/time -v``); the parent kills a case above ``--mem-limit-gb`` (process tree) or after
``--timeout`` seconds (``--timeout-crossed`` on the crossed set, ``--timeout-nuts`` for NUTS).

The data are written once per set into ``--data-dir`` as raw little-endian binaries (float64
``y``, ``x``; int32 level index per factor), read by R with ``readBin`` and by the Python
engines with ``numpy.fromfile``. A peer is not run (and its time is extrapolated by the log-log
slope of the two largest sizes of the same family it ran) where that predicts more than
``--lme4-max-s`` (lme4) or ``--peer-max-s`` (mixedlm, gpboost).

Threads: the peers (R, mixedlm, gpboost) get ``OPENBLAS_NUM_THREADS=1`` and
``MKL_NUM_THREADS=1`` (no BLAS threads nested in their own parallel code on 2 cores);
``OMP_NUM_THREADS`` is left alone unless ``--omp-threads`` is given (gpboost's OpenMP then uses
one thread per core). multilevel runs with its own defaults (the Laplace engine limits BLAS
to one thread itself). ``--neighbours N`` keeps N CPU-bound processes spinning beside every
case (a busy machine).

Estimates: the parent records the largest relative difference of every engine's estimates (b,
SDs, correlations, theta, logLik) from lme4's, and of multilevel's from mixedlm's.

Usage (from the repository root)::

    python3 benchmarks/glmm_vs_peers.py                                 # everything but NUTS
    python3 benchmarks/glmm_vs_peers.py --data bernoulli_1e4 poisson_1e4 crossed_1e5
    python3 benchmarks/glmm_vs_peers.py --data bernoulli_1e5 bernoulli_1e6 poisson_1e5 \
        poisson_1e6 --neighbours 2 --out benchmarks/results/glmm_vs_peers_busy.json
    python3 benchmarks/glmm_vs_peers.py --engines nuts --data bernoulli_2e5 --merge
    python3 benchmarks/glmm_vs_peers.py --resume                        # continue a run
    python3 benchmarks/glmm_vs_peers.py --report                        # tables from the JSON

The peers live in their own venv (``--venv``, default ``/work/bench-glmm-venv``)::

    python3 -m venv /work/bench-glmm-venv
    /work/bench-glmm-venv/bin/pip install mixedlm gpboost numpy pandas

R and lme4 are installed with ``apt-get install -y r-base-core r-cran-lme4`` when missing.
Results: ``benchmarks/results/glmm_vs_peers.json`` (rewritten after every case).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from gaussian_vs_peers import (  # noqa: E402
    _cpu,
    _hwm,
    _mb,
    _rel,
    _s,
    _status_bytes,
    busy_neighbours,
    ensure_r,
    git_info,
    machine,
    run_process,
    run_r_timing,
)

R_SCRIPT = HERE / "glmm" / "glmer_time.R"
SEED = 20261218
CHUNK = 1_000_000

SLOPE_FORMULA = "y ~ x + (1 + x | g)"
CROSSED_FORMULA = "y ~ x + (1 | f1) + (1 | f2) + (1 | f3) + (1 | f4) + (1 | f5)"
TRUTH = {
    "bernoulli": {"b": (-0.5, 0.7), "sd": (0.8, 0.4), "cor": 0.3},
    "poisson": {"b": (0.5, 0.3), "sd": (0.5, 0.2), "cor": 0.3},
    "crossed": {
        "b": (-0.5, 0.7),
        "levels": (2000, 1000, 500, 100, 20),
        "sd": (0.6, 0.5, 0.4, 0.3, 0.8),
    },
}
SIZES = [10**4, 10**5, 10**6, 10**7]
DATA = [
    "bernoulli_1e4",
    "poisson_1e4",
    "bernoulli_1e5",
    "poisson_1e5",
    "bernoulli_1e6",
    "poisson_1e6",
    "bernoulli_1e7",
    "poisson_1e7",
    "crossed_1e5",
]
NUTS_DATA = ["bernoulli_2e5", "bernoulli_1e4"]
ENGINES = ["laplace", "lme4", "mixedlm", "gpboost"]
#: posterior engines of multilevel, run after the point estimators when asked for
SAMPLERS = ("nuts", "inla")
ML_ENGINES = ("laplace", *SAMPLERS)
PEER_ENGINES = ("mixedlm", "gpboost")


def rows_of(name: str) -> int:
    return int(float(name.split("_", 1)[1]))


def family_of(name: str) -> str:
    """multilevel's family name of a data set (crossed: bernoulli)."""
    return "poisson" if name.startswith("poisson") else "bernoulli"


def kind_of(name: str) -> str:
    return name.split("_", 1)[0]


def formula_of(name: str) -> str:
    return CROSSED_FORMULA if kind_of(name) == "crossed" else SLOPE_FORMULA


def factors_of(name: str) -> list[str]:
    return ["f1", "f2", "f3", "f4", "f5"] if kind_of(name) == "crossed" else ["g"]


# ----------------------------------------------------------------------------- data
def _inverse_link(family, eta):
    import numpy as np

    return np.exp(eta) if family == "poisson" else 1.0 / (1.0 + np.exp(-eta))


def _draw(family, rng, eta):
    mu = _inverse_link(family, eta)
    if family == "poisson":
        return rng.poisson(mu).astype(float)
    return (rng.random(len(mu)) < mu).astype(float)


def simulate(name: str, seed: int = SEED) -> dict:
    """The columns of one data set (numpy arrays): y, x float64; factors int32 (0-based)."""
    import numpy as np

    n, kind = rows_of(name), kind_of(name)
    code = {"bernoulli": 1, "poisson": 2, "crossed": 3}[kind]
    rng = np.random.default_rng([seed, code, n])
    truth = TRUTH[kind]
    b0, b1 = truth["b"]
    if kind == "crossed":
        x = rng.standard_normal(n)
        eta = b0 + b1 * x
        cols = {}
        for j, (levels, sd) in enumerate(zip(truth["levels"], truth["sd"], strict=True)):
            f = rng.integers(0, levels, n).astype(np.int32)
            u = sd * rng.standard_normal(levels)
            eta += u[f]
            cols[f"f{j + 1}"] = f
        return {"y": _draw("bernoulli", rng, eta), "x": x, **cols}
    family = kind
    G = n // 10
    sd = np.array(truth["sd"])
    cov = np.array([[1.0, truth["cor"]], [truth["cor"], 1.0]]) * np.outer(sd, sd)
    chol = np.linalg.cholesky(cov)
    y = np.empty(n)
    x = np.empty(n)
    g = np.repeat(np.arange(G, dtype=np.int32), 10)
    for start in range(0, G, CHUNK // 10):
        m = min(CHUNK // 10, G - start)
        u = rng.standard_normal((m, 2)) @ chol.T
        rows = slice(start * 10, (start + m) * 10)
        xs = rng.standard_normal(m * 10)
        uu = np.repeat(u, 10, axis=0)
        x[rows] = xs
        y[rows] = _draw(family, rng, b0 + uu[:, 0] + (b1 + uu[:, 1]) * xs)
    return {"y": y, "x": x, "g": g}


def _files(data_dir: Path, name: str) -> dict[str, Path]:
    base = data_dir / name
    out = {"y": Path(f"{base}.y.f64"), "x": Path(f"{base}.x.f64")}
    for f in factors_of(name):
        out[f] = Path(f"{base}.{f}.i32")
    return out


def prepare_data(data_dir: Path, names) -> dict:
    """Write every data set once as raw binaries; {name: info}."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info = {}
    for name in names:
        files = _files(data_dir, name)
        stamp = data_dir / f"{name}.seed"
        if not (
            all(f.exists() for f in files.values())
            and stamp.exists()
            and stamp.read_text() == str(SEED)
        ):
            t0 = time.perf_counter()
            cols = simulate(name)
            for k, path in files.items():
                cols[k].astype("<i4" if path.suffix == ".i32" else "<f8").tofile(path)
            stamp.write_text(str(SEED))
            del cols
            print(
                f"  wrote {data_dir / name}.* ({time.perf_counter() - t0:.1f} s)", file=sys.stderr
            )
        n = rows_of(name)
        info[name] = {
            "path": str(data_dir / name),
            "rows": n,
            "factors": factors_of(name),
            "levels": list(TRUTH["crossed"]["levels"]) if kind_of(name) == "crossed" else [n // 10],
            "data_bytes": int(sum(8 if f.suffix == ".f64" else 4 for f in files.values()) * n),
        }
    return info


def load_columns(name: str, data_dir: Path) -> dict:
    import numpy as np

    out = {}
    for k, path in _files(data_dir, name).items():
        if path.suffix == ".i32":
            out[k] = np.fromfile(path, dtype="<i4").astype(np.int64)
        else:
            out[k] = np.fromfile(path, dtype="<f8")
    return out


# ----------------------------------------------------------------------------- worker side
def _versions(pkgs) -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in pkgs:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _src_hash() -> str:
    import hashlib

    import multilevel

    h = hashlib.sha256()
    src = Path(multilevel.__file__).parent
    for f in sorted(src.rglob("*.py")):
        h.update(str(f.relative_to(src)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _mixedlm_named(m) -> dict:
    out = {}
    for k, v in m.fixef().items():
        out["b_" + ("Intercept" if k == "(Intercept)" else k)] = float(v)
    for grp, block in m.VarCorr().groups.items():
        names = ["Intercept" if t == "(Intercept)" else t for t in block.term_names]
        for i, t in enumerate(names):
            out[f"sd_{grp}__{t}"] = float(block.stddev[block.term_names[i]])
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                out[f"cor_{grp}__{names[i]}__{names[j]}"] = float(block.corr[i, j])
    return out


def worker(args) -> dict:
    """One engine on one data set in this (fresh) process; returns the record."""
    import gc
    import warnings

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    hwm_start = _hwm()
    engine = args.worker
    import numpy as np
    import pandas as pd

    if engine in ML_ENGINES:
        import multilevel as ml

        versions = _versions(["multilevel", "numpy", "scipy", "pandas", "jax", "numpyro", "nlopt"])
    elif engine == "mixedlm":
        import mixedlm
        from mixedlm import families

        versions = _versions(["mixedlm", "numpy", "scipy", "pandas"])
    elif engine == "gpboost":
        import gpboost as gpb

        versions = _versions(["gpboost", "numpy", "scipy", "pandas"])
    else:
        raise SystemExit(f"unknown engine {engine}")
    t_imports = time.perf_counter() - t0
    hwm_imports = _hwm()

    t0 = time.perf_counter()
    ds = args.dataset
    cols = load_columns(ds, Path(args.data_dir))
    factors = factors_of(ds)
    n = len(cols["y"])
    if engine == "gpboost":
        groups = np.column_stack([cols[f] for f in factors]) if len(factors) > 1 else cols["g"]
        X = np.column_stack([np.ones(n), cols["x"]])
        y = cols["y"]
        frame = None
    else:
        frame = pd.DataFrame(cols, copy=False)
    del cols
    gc.collect()
    t_data = time.perf_counter() - t0
    hwm_data = _hwm()
    formula = formula_of(ds)
    family = family_of(ds)
    rec = {
        "engine": engine,
        "dataset": ds,
        "formula": formula,
        "family": family,
        "rows": n,
        "loadavg_at_start": list(load_start),
        "import_s": t_imports,
        "data_s": t_data,
        "hwm_start": hwm_start,
        "hwm_after_imports": hwm_imports,
        "hwm_after_data": hwm_data,
        "rss_after_data": _status_bytes("VmRSS"),
        "versions": versions,
        "threads_env": {
            k: os.environ.get(k)
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
        },
        "fits": [],
    }
    if engine in ML_ENGINES:
        rec["src_sha256"] = _src_hash()
        rec["multilevel_path"] = ml.__file__
    if engine == "gpboost":
        rec["model_note"] = (
            "(1 + x || g): uncorrelated intercept and slope (gpboost has no correlated ones)"
            if "g" in factors
            else "the same model as the others"
        )
    fit = None
    for i in range(args.fits):
        seed = args.seed + i
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            c0, w0 = _cpu(), time.perf_counter()
            if engine == "laplace":
                fit = ml.fit(formula, frame, family=family, method="laplace")
            elif engine in SAMPLERS:
                fit = ml.fit(
                    formula,
                    frame,
                    family=family,
                    method=engine,
                    chains=args.chains,
                    draws=args.draws,
                    warmup=args.warmup,
                    seed=seed,
                    progress=False,
                )
            elif engine == "mixedlm":
                fam = families.Poisson() if family == "poisson" else families.Binomial()
                fit = mixedlm.glmer(formula, frame, family=fam)
            else:
                slope = "g" in factors  # (1 + x || g); the crossed model has intercepts only
                fit = gpb.GPModel(
                    group_data=groups,
                    group_rand_coef_data=X[:, 1] if slope else None,
                    ind_effect_group_rand_coef=[1] if slope else None,
                    likelihood="poisson" if family == "poisson" else "bernoulli_logit",
                )
                fit.fit(y=y, X=X)
            wall, cpu = time.perf_counter() - w0, _cpu() - c0
        one = {
            "kind": "cold" if i == 0 else "warm",
            "wall_s": wall,
            "cpu_s": cpu,
            "hwm_after": _hwm(),
            "loadavg_1min_after": os.getloadavg()[0],
            "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5],
        }
        if engine == "laplace":
            one["engine_timings"] = dict(fit.estimate.timings)
            one["evaluations"] = getattr(fit.estimate, "evaluations", None)
        elif engine == "nuts":
            one.update(_nuts_summary(fit, wall, cpu, args))
        elif engine == "inla":
            one.update(_inla_summary(fit))
        rec["fits"].append(one)
        if i + 1 < args.fits and engine in SAMPLERS:
            del fit
            fit = None
            gc.collect()
    if engine == "laplace":
        est = fit.estimate
        table = fit.summary()
        rec["estimates"] = {
            "theta": [float(v) for v in np.ravel(est.theta)],
            "loglik": float(fit.loglik()),
            "named": {
                str(k): float(v)
                for k, v in table["estimate"].items()
                if not str(k).startswith("r_")
            },
            "converged": bool(getattr(est, "converged", True)),
            "message": str(getattr(est, "message", "")),
        }
    elif engine == "mixedlm":
        rec["estimates"] = {
            "theta": [float(v) for v in np.ravel(fit.theta)],
            "loglik": float(fit.logLik().value),
            "named": _mixedlm_named(fit),
            "converged": bool(fit.converged),
            "optimizer": str(fit.optimizer),
            "message": str(fit.message),
            "function_evals": int(fit.n_iter) if fit.n_iter is not None else None,
        }
    elif engine == "gpboost":
        cov = np.ravel(np.asarray(fit.get_cov_pars(), dtype=float))[: len(fit.cov_par_names)]
        coef = np.ravel(np.asarray(fit.get_coef(), dtype=float))
        named = {"b_Intercept": float(coef[0]), "b_x": float(coef[1])}
        if "g" in factors:
            named["sd_g__Intercept"] = float(np.sqrt(cov[0]))
            named["sd_g__x"] = float(np.sqrt(cov[1]))
        else:
            for f, v in zip(factors, cov, strict=True):
                named[f"sd_{f}__Intercept"] = float(np.sqrt(v))
        rec["estimates"] = {
            "theta": [],
            "loglik": -float(fit.get_current_neg_log_likelihood()),
            "named": named,
            "cov_par_names": list(fit.cov_par_names),
            "variances": [float(v) for v in cov],
        }
    rec["hwm_end"] = _hwm()
    return rec


def _inla_summary(fit) -> dict:
    """The nested Laplace's timings, integration points and posterior means and SDs of the
    named parameters (from the draws: the summary of every group effect would take longer
    than the fit at 10^6 rows)."""
    import numpy as np

    post = fit.posterior
    named = {k: np.asarray(v) for k, v in post.draws.items() if not k.startswith("r_")}
    return {
        "engine_timings": dict(post.timings),
        "strategy": post.settings.get("strategy"),
        "points": post.settings.get("points"),
        "evaluations": post.settings.get("evaluations"),
        "posterior_mean": {k: float(v.mean()) for k, v in named.items()},
        "posterior_sd": {k: float(v.std(ddof=1)) for k, v in named.items()},
        "draws_total": int(post.n_chains * post.n_draws),
    }


def _nuts_summary(fit, wall, cpu, args) -> dict:
    import numpy as np

    table = fit.summary()
    ess_b = table["ess_bulk"].astype(float)
    ess_t = table["ess_tail"].astype(float)
    named = [k for k in table.index if not str(k).startswith("r_")]
    out = {
        "engine_timings": dict(fit.posterior.timings),
        "n_parameters": int(len(table)),
        "min_ess": float(min(ess_b.min(), ess_t.min())),
        "min_ess_named": float(min(ess_b[named].min(), ess_t[named].min())),
        "argmin_ess_bulk": str(ess_b.idxmin()),
        "max_rhat": float(table["r_hat"].astype(float).max()),
        "ess_per_s": float(min(ess_b.min(), ess_t.min())) / wall,
        "ess_named_per_s": float(min(ess_b[named].min(), ess_t[named].min())) / wall,
        "posterior_mean": {str(k): float(table.loc[k, "mean"]) for k in named},
        "posterior_sd": {str(k): float(table.loc[k, "sd"]) for k in named},
        "draws_total": int(args.chains * args.draws),
    }
    diag = getattr(fit.posterior, "sample_stats", None)
    if isinstance(diag, dict) and "diverging" in diag:
        out["divergences"] = int(np.asarray(diag["diverging"]).sum())
    return out


# ----------------------------------------------------------------------------- parent side
def peer_env(args) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    if args.omp_threads:
        env["OMP_NUM_THREADS"] = str(args.omp_threads)
    return env


def fits_for(engine, ds, args) -> int:
    if engine == "nuts":
        return args.fits_nuts
    if kind_of(ds) == "crossed":
        return args.fits_big  # minutes per fit for some peers
    return args.fits if rows_of(ds) <= 10**5 else args.fits_big


def timeout_for(ds, args) -> float:
    return args.timeout_crossed if kind_of(ds) == "crossed" else args.timeout


def python_case(engine, ds, args, py, env) -> dict:
    cmd = [
        py,
        str(Path(__file__).resolve()),
        "--worker",
        engine,
        "--dataset",
        ds,
        "--data-dir",
        str(args.data_dir),
        "--fits",
        str(fits_for(engine, ds, args)),
        "--chains",
        str(args.chains),
        "--draws",
        str(args.draws),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(args.seed),
    ]
    timeout = args.timeout_nuts if engine == "nuts" else timeout_for(ds, args)
    rc, out, err, killed, info = run_process(
        cmd, timeout=timeout, mem_limit_gb=args.mem_limit_gb, env=env
    )
    base = {"engine": engine, "dataset": ds, "command": " ".join(cmd), **info}
    if killed:
        return {**base, "status": killed, "stderr_tail": err.strip().splitlines()[-5:]}
    if rc != 0:
        return {
            **base,
            "status": f"failed (exit {rc})",
            "stderr_tail": err.strip().splitlines()[-8:],
        }
    try:
        rec = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {
            **base,
            "status": "failed (no JSON)",
            "stdout_tail": out.strip().splitlines()[-5:],
            "stderr_tail": err.strip().splitlines()[-8:],
        }
    return {**base, **rec, "status": "ok"}


def lme4_case(ds, info, args, env) -> dict:
    spec = {
        "path": info["path"],
        "rows": info["rows"],
        "formula": formula_of(ds),
        "family": "poisson" if family_of(ds) == "poisson" else "binomial",
        "numeric": ["y", "x"],
        "factors": info["factors"],
        "fits": fits_for("lme4", ds, args),
    }
    cmd = ["/usr/bin/time", "-v", "Rscript", str(R_SCRIPT), json.dumps(spec)]
    base = {
        "engine": "lme4",
        "dataset": ds,
        "command": " ".join(cmd[:4]) + " '" + json.dumps(spec) + "'",
    }
    record, rec = run_r_timing(
        cmd, base, timeout=timeout_for(ds, args), mem_limit_gb=args.mem_limit_gb, env=env
    )
    if rec is None:
        return record
    return {
        **record,
        **rec,
        "rows": info["rows"],
        "threads_env": {k: env.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }


# ----------------------------------------------------------------------------- comparison
def compare(rec, ref) -> dict | None:
    """Largest relative (and absolute) differences of one engine's estimates from ref's."""
    if not rec or not ref or rec.get("status") != "ok" or ref.get("status") != "ok":
        return None
    a, b = rec.get("estimates"), ref.get("estimates")
    if not a or not b:
        return None
    keys = [k for k in b["named"] if k in a["named"]]
    named = {k: _rel(a["named"][k], b["named"][k]) for k in keys}
    absolute = {k: abs(a["named"][k] - b["named"][k]) for k in keys}
    out = {
        "named": named,
        "max_named": max(named.values()) if named else None,
        "argmax_named": max(named, key=named.get) if named else None,
        "max_abs_named": max(absolute.values()) if absolute else None,
        "argmax_abs_named": max(absolute, key=absolute.get) if absolute else None,
        "loglik": _rel(a["loglik"], b["loglik"]),
        "loglik_minus_ref": a["loglik"] - b["loglik"],
        "missing": sorted(set(b["named"]) - set(a["named"])),
    }
    if a["theta"] and len(a["theta"]) == len(b["theta"]):
        out["theta"] = max(_rel(x, y) for x, y in zip(a["theta"], b["theta"], strict=True))
    out["max"] = max([out["max_named"] or 0.0, out["loglik"], out.get("theta", 0.0)])
    return out


# ----------------------------------------------------------------------------- reporting
def _find(records, engine, dataset):
    for r in records:
        if r["engine"] == engine and r["dataset"] == dataset:
            return r
    return None


def _fit(r, kind):
    if not r or r.get("status") != "ok":
        return None
    fits = [f for f in r.get("fits", []) if f["kind"] == kind]
    return min(fits, key=lambda f: f["wall_s"]) if fits else None


def cold_s(r):
    if r and r.get("status") == "extrapolated":
        return r.get("predicted_s")
    f = _fit(r, "cold")
    return f["wall_s"] if f else None


def _peak(r):
    if not r or r.get("status") != "ok":
        return None
    return r.get("hwm_end") or r.get("time_v_maxrss")


def _cell(r):
    if r and r.get("status") == "extrapolated":
        return f"≈{_s(r['predicted_s'])} (extrap.)" if r.get("predicted_s") else "not run"
    if not r:
        return "–"
    if r.get("status") != "ok":
        return r["status"].split(":")[0]
    c, w = _fit(r, "cold"), _fit(r, "warm")
    out = f"{_s(c['wall_s'])} ({_s(c['cpu_s'])})"
    if w:
        out += f" / {_s(w['wall_s'])}"
    return out


def _ratio(a, b):
    return f"{a / b:.2f}" if a and b else "–"


def point_table(records, datasets=None) -> str:
    """Times: wall (CPU) cold / warm; ratios multilevel / peer on cold wall seconds."""
    lines = [
        "| data | rows | multilevel | lme4 | mixedlm | gpboost | ml ÷ lme4 | ml ÷ mixedlm "
        "| ml ÷ gpboost | peak MiB ml / lme4 / mixedlm / gpboost | max rel diff ml vs lme4 "
        "| vs mixedlm |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = datasets or sorted(
        {r["dataset"] for r in records if r["engine"] not in SAMPLERS},
        key=lambda d: (kind_of(d), rows_of(d)),
    )
    for ds in names:
        m, r, x, g = (_find(records, e, ds) for e in ENGINES)
        if not (m or r or x or g):
            continue
        rows = rows_of(ds)
        mc = cold_s(m)
        vl = (m or {}).get("vs_lme4") or {}
        vx = (m or {}).get("vs_mixedlm") or {}
        fmt = lambda c: f"{c['max']:.1e}" if c else "–"  # noqa: E731
        lines.append(
            f"| {ds} | {rows:,} | {_cell(m)} | {_cell(r)} | {_cell(x)} | {_cell(g)} "
            f"| {_ratio(mc, cold_s(r))} | {_ratio(mc, cold_s(x))} | {_ratio(mc, cold_s(g))} "
            f"| {' / '.join(_mb(_peak(z)) for z in (m, r, x, g))} | {fmt(vl)} | {fmt(vx)} |"
        )
    return "\n".join(lines)


def posterior_table(records) -> str:
    """The posterior engines (NUTS, nested Laplace) beside the Laplace fit of the same data
    in the same run: wall (CPU) seconds cold / warm, ratio to the Laplace fit (cold), peak
    memory, integration points or minimum ESS."""
    lines = [
        "| data | engine | wall (CPU) s, cold / warm | ÷ laplace | peak MiB | points / min ESS "
        "| posterior mean (sd) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in records:
        if r["engine"] not in SAMPLERS:
            continue
        c = _fit(r, "cold")
        extra = "–"
        means = ""
        if c:
            extra = (
                f"{c['points']} ({c['strategy']})"
                if r["engine"] == "inla"
                else (f"{c.get('min_ess', float('nan')):.0f}")
            )
            means = ", ".join(
                f"{k} {v:.3f} ({c['posterior_sd'][k]:.3f})"
                for k, v in c.get("posterior_mean", {}).items()
                if not k.startswith("cor_")
            )
        laplace = cold_s(_find(records, "laplace", r["dataset"]))
        lines.append(
            f"| {r['dataset']} | {r['engine']} | {_cell(r)} | {_ratio(cold_s(r), laplace)} "
            f"| {_mb(_peak(r))} | {extra} | {means} |"
        )
    return "\n".join(lines)


def estimates_table(records) -> str:
    lines = ["| data | engine | estimates | logLik | status |", "|---|---|---|---:|---|"]
    for r in records:
        if r.get("status") != "ok" or "estimates" not in r:
            continue
        e = r["estimates"]
        est = ", ".join(f"{k} {v:.4f}" for k, v in e["named"].items())
        lines.append(f"| {r['dataset']} | {r['engine']} | {est} | {e['loglik']:.2f} | ok |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=None, help=f"data sets (default: {' '.join(DATA)})")
    p.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES + list(SAMPLERS))
    p.add_argument("--fits", type=int, default=2, help="fits per process up to 10^5 rows")
    p.add_argument("--fits-big", type=int, default=1, help="fits per process above 10^5 rows")
    p.add_argument("--fits-nuts", type=int, default=1)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    p.add_argument(
        "--timeout-crossed", type=float, default=900.0, help="seconds per crossed_1e5 case"
    )
    p.add_argument("--timeout-nuts", type=float, default=900.0, help="seconds per NUTS case")
    p.add_argument("--mem-limit-gb", type=float, default=18.0)
    p.add_argument(
        "--lme4-max-s",
        type=float,
        default=600.0,
        help="skip lme4 where the log-log extrapolation predicts more than this",
    )
    p.add_argument(
        "--peer-max-s",
        type=float,
        default=600.0,
        help="skip mixedlm / gpboost where the extrapolation predicts more than this",
    )
    p.add_argument("--omp-threads", type=int, default=0, help="OMP_NUM_THREADS for the peers")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/glmm_vs_peers_data"))
    p.add_argument("--src", type=Path, default=ROOT / "src", help="multilevel source folder")
    p.add_argument("--python", default=sys.executable, help="python for multilevel")
    p.add_argument("--venv", type=Path, default=Path("/work/bench-glmm-venv"), help="peers' venv")
    p.add_argument("--out", type=Path, default=HERE / "results" / "glmm_vs_peers.json")
    p.add_argument("--resume", action="store_true", help="skip the cases the JSON has as ok")
    p.add_argument("--merge", action="store_true", help="keep the JSON's other cases")
    p.add_argument(
        "--neighbours", type=int, default=0, help="CPU-bound processes beside every case"
    )
    p.add_argument("--report", action="store_true", help="print the tables from --out")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def extrapolation(engine, ds, done_records, max_s):
    """(predicted seconds or None, note) from the two largest sizes of ds's family that ran."""
    ran = sorted(
        (
            r
            for r in done_records
            if r["engine"] == engine
            and kind_of(r["dataset"]) == kind_of(ds)
            and r.get("status") == "ok"
            and rows_of(r["dataset"]) < rows_of(ds)
        ),
        key=lambda r: rows_of(r["dataset"]),
    )
    if len(ran) < 2:
        return None, None
    (n1, t1), (n2, t2) = [(rows_of(r["dataset"]), _fit(r, "cold")["wall_s"]) for r in ran[-2:]]
    slope = math.log(t2 / t1) / math.log(n2 / n1)
    predicted = t2 * (rows_of(ds) / n2) ** slope
    note = (
        f"log-log extrapolation from {ran[-2]['dataset']} ({t1:.1f} s) and "
        f"{ran[-1]['dataset']} ({t2:.1f} s), slope {slope:.2f}: {predicted:.0f} s"
    )
    return predicted, note


def main(argv=None):
    args = _parse(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.report:
        payload = json.loads(args.out.read_text())
        print(point_table(payload["cases"]))
        print()
        print(posterior_table(payload["cases"]))
        print()
        print(estimates_table(payload["cases"]))
        return

    ml_env = dict(os.environ)
    ml_env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(args.src), os.environ.get("PYTHONPATH")] if p
    )
    penv = peer_env(args)
    peer_py = str(args.venv / "bin" / "python")

    data = args.data or (NUTS_DATA[:1] if args.engines == ["nuts"] else DATA)
    plan = []
    for i, ds in enumerate(data):
        engines = [e for e in ENGINES if e in args.engines]
        k = i % len(engines) if engines else 0
        plan += [(e, ds) for e in engines[k:] + engines[:k]]  # rotate the order per data set
        plan += [(e, ds) for e in SAMPLERS if e in args.engines]

    previous = []
    if (args.resume or args.merge) and args.out.exists():
        previous = json.loads(args.out.read_text()).get("cases", [])
    key = lambda r: (r["engine"], r["dataset"])  # noqa: E731
    done = (
        {key(r) for r in previous if r.get("status") in ("ok", "extrapolated")}
        if args.resume
        else set()
    )

    if any(e == "lme4" for e, _ in plan):
        ensure_r()
    print(f"preparing data in {args.data_dir}", file=sys.stderr)
    data_info = prepare_data(args.data_dir, sorted({ds for _, ds in plan}, key=rows_of))

    def src_commit():
        stamp = Path(args.src).parent / "COMMIT"  # an exported commit: git archive C src
        if stamp.exists():
            return stamp.read_text().strip()
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=args.src, capture_output=True, text=True
        )
        return out.stdout.strip() or None

    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "git": git_info(),
        "src": str(args.src),
        "src_commit": src_commit(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "truth": TRUTH,
        "seed": SEED,
        "data": data_info,
        "peer_threads_env": {
            k: penv.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "neighbours": args.neighbours,
    }
    records = []

    def save(final=False):
        new = {key(r) for r in records}
        merged = [r for r in previous if key(r) not in new] + records
        order = {k: i for i, k in enumerate(plan)}
        merged.sort(key=lambda r: order.get(key(r), -1))
        for r in merged:
            if r["engine"] in ("laplace", "mixedlm", "gpboost"):
                r["vs_lme4"] = compare(r, _find(merged, "lme4", r["dataset"]))
            if r["engine"] in ("laplace", "gpboost"):
                r["vs_mixedlm"] = compare(r, _find(merged, "mixedlm", r["dataset"]))
        if final:
            meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "cases": merged}, indent=1))
        return merged

    with busy_neighbours(args.neighbours):
        for engine, ds in plan:
            if (engine, ds) in done:
                continue
            print(
                f"[{datetime.now(UTC):%H:%M:%S}] {engine} {ds} (load {os.getloadavg()[0]:.1f})",
                file=sys.stderr,
                flush=True,
            )
            rec = None
            if engine in ("lme4", *PEER_ENGINES):
                limit = args.lme4_max_s if engine == "lme4" else args.peer_max_s
                predicted, note = extrapolation(engine, ds, records + previous, limit)
                failed = [
                    r
                    for r in records
                    if r["engine"] == engine
                    and kind_of(r["dataset"]) == kind_of(ds)
                    and r.get("status") not in ("ok", "extrapolated")
                ]
                if failed or (predicted is not None and predicted > limit):
                    rec = {
                        "engine": engine,
                        "dataset": ds,
                        "status": "extrapolated",
                        "predicted_s": predicted,
                        "note": f"not run: {note} > {limit:g} s"
                        if predicted
                        else "not run: a smaller size failed",
                    }
                elif engine != "lme4" and not Path(peer_py).exists():
                    rec = {
                        "engine": engine,
                        "dataset": ds,
                        "status": f"not run: no venv {args.venv}",
                    }
            if rec is None:
                if engine == "lme4":
                    rec = lme4_case(ds, data_info[ds], args, penv)
                elif engine in PEER_ENGINES:
                    rec = python_case(engine, ds, args, peer_py, penv)
                else:
                    rec = python_case(engine, ds, args, args.python, ml_env)
            records.append(rec)
            merged = save()
            if rec.get("status") == "ok":
                c, w = _fit(rec, "cold"), _fit(rec, "warm")
                msg = f"cold {c['wall_s']:.3f} s (cpu {c['cpu_s']:.2f})"
                if w:
                    msg += f", warm {w['wall_s']:.3f} s (cpu {w['cpu_s']:.2f})"
                if c.get("ess_per_s") is not None:
                    msg += f"; min ESS {c['min_ess']:.0f} -> {c['ess_per_s']:.2f}/s"
                if _peak(rec):
                    msg += f"; peak {_mb(_peak(rec))} MiB"
                cmp_ = (_find(merged, engine, ds) or {}).get("vs_lme4")
                if cmp_:
                    msg += f"; max rel diff vs lme4 {cmp_['max']:.1e} ({cmp_['argmax_named']})"
                print("    " + msg, file=sys.stderr, flush=True)
            else:
                print(f"    {rec['status']} {rec.get('note', '')}", file=sys.stderr, flush=True)
    merged = save(final=True)
    print(point_table(merged))
    print()
    print(posterior_table(merged))
    print()
    print(estimates_table(merged))


if __name__ == "__main__":
    main()
