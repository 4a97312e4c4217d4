"""multilevel's exact Gaussian engine against lme4, mixedlm and NUTS (issue 4's benchmark).

Point estimates (REML) of

- ``sleepstudy``: ``Reaction ~ Days + (Days | Subject)`` (180 rows, 18 subjects);
- ``insteval``: ``y ~ 1 + (1 | s) + (1 | d) + (1 | dept)`` (73,421 rows, three crossed factors);
- ``synth_1e4`` … ``synth_1e7``: ``y ~ x + (x | g)`` with 10^4 … 10^7 rows, g = rows / 10
  groups of 10 rows, x ~ N(0, 1), group intercept / slope SDs (0.5, 0.2), correlation 0.3,
  coefficients (1, 0.5), sigma 1 (fixed seed);

by ``ml.fit(..., method="reml")``, ``mixedlm.lmer(..., REML=True)`` (Rust lme4 clone, PyPI) and R's
``lme4::lmer(..., REML = TRUE)`` with default settings (benchmarks/gaussian/lmer_time.R), the
three interleaved per data set (rotated order). Full Bayes (``method="exact"``, 4 chains x 1000
draws after 1000 warmup) on sleepstudy, ``radon`` (``log_radon ~ floor + (floor | county)``) and
the synthetic sets, multilevel's NUTS engine (``method="nuts"``) on sleepstudy, radon and
synth_1e4, and bambi + nutpie (the fastest NUTS peer of benchmarks/nuts_vs_peers.py, uncorrelated
``(x || g)`` models only, through benchmarks/peers/worker.py in the benchmark venv) on
sleepstudy and radon.

Every (engine, data set) case runs in a fresh process and fits ``--fits`` times: the first fit is
**cold** (imports done, JIT compilation / lazy loading included), the later ones **warm** (same
process). Timed: the fit call only (``ml.fit``, ``mixedlm.lmer``, ``lmer``); reading or
simulating the data is timed separately. Peak memory: the process's high-water mark (VmHWM =
``ru_maxrss``) after imports, after the data, and after the fits, and for R also the maximum
resident set size reported by ``/usr/bin/time -v``; the parent kills a case above
``--mem-limit-gb`` (process tree) or after ``--timeout`` seconds. Data column bytes = 3 columns x
8 bytes x rows for the synthetic sets. CPU seconds are recorded next to every wall time: this
machine is shared, and wall time well above CPU time means the case waited for a core.

lme4 reads the synthetic data from raw little-endian binaries (float64 y, x; int32 g) written
once per size into ``--data-dir`` (the Python engines read the same files), the bundled sets
from CSV; R's read time is reported separately. lme4 is skipped (and its time extrapolated by
the log-log slope of the two largest sizes it ran) where that predicts more than
``--lme4-max-s``; NUTS runs only on sleepstudy, radon and synth_1e4.

Estimates: the parent prints and records the largest relative difference between
multilevel's REML fit and lme4's (b, SDs, correlations, sigma, theta, logLik), the same for
mixedlm, and for sleepstudy / InstEval also against the tight-optimizer references in
tests/reference/lme4.

Usage (from the repository root)::

    python3 benchmarks/gaussian_vs_peers.py                          # everything
    python3 benchmarks/gaussian_vs_peers.py --sections point --data sleepstudy synth_1e4
    python3 benchmarks/gaussian_vs_peers.py --resume                 # continue an interrupted run
    python3 benchmarks/gaussian_vs_peers.py --src /tmp/snap/src      # an exported commit

If R or lme4 is missing, the script installs them with ``apt-get install -y r-base-core
r-cran-lme4`` (Debian, as root). Results: ``benchmarks/results/gaussian_vs_peers.json``
(rewritten after every case) and tables on stdout (``--report`` prints them from the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
R_SCRIPT = HERE / "gaussian" / "lmer_time.R"
PEER_WORKER = HERE / "peers" / "worker.py"
REF_DIR = ROOT / "tests" / "reference" / "lme4"
SEED = 20261125
CHUNK = 1_000_000

DATASETS = {
    "sleepstudy": {
        "formula": "Reaction ~ Days + (Days | Subject)",
        "factors": ["Subject"],
        "columns": ["Reaction", "Days", "Subject"],
    },
    "radon": {
        "formula": "log_radon ~ floor + (floor | county)",
        "factors": ["county"],
        "columns": ["log_radon", "floor", "county"],
    },
    "insteval": {
        "formula": "y ~ 1 + (1 | s) + (1 | d) + (1 | dept)",
        "factors": ["s", "d", "studage", "lectage", "service", "dept"],
        "columns": ["y", "s", "d", "dept"],
    },
}
SYNTH_FORMULA = "y ~ x + (x | g)"
SYNTH_SIZES = [10**4, 10**5, 10**6, 10**7]
TRUTH = {"b": (1.0, 0.5), "sd": (0.5, 0.2), "cor": 0.3, "sigma": 1.0}

POINT_DATA = ["sleepstudy", "insteval", "synth_1e4", "synth_1e5", "synth_1e6", "synth_1e7"]
BAYES_DATA = ["sleepstudy", "radon", "synth_1e4", "synth_1e5", "synth_1e6"]
NUTS_DATA = ["sleepstudy", "radon", "synth_1e4"]
NUTPIE_DATA = ["sleepstudy", "radon"]


def synth_rows(name: str) -> int:
    return int(float(name.split("_", 1)[1]))


def is_synth(name: str) -> bool:
    return name.startswith("synth_")


def small(name: str) -> bool:
    """Data sets small enough for several warm repeats of a point fit."""
    return name in ("sleepstudy", "radon") or is_synth(name) and synth_rows(name) <= 10**4


def formula_of(name: str) -> str:
    return SYNTH_FORMULA if is_synth(name) else DATASETS[name]["formula"]


# ----------------------------------------------------------------------------- data
def simulate(n: int, seed: int = SEED):
    """``y ~ x + (x | g)``: n rows, n // 10 groups of 10 consecutive rows; numpy arrays."""
    import numpy as np

    G = n // 10
    rng = np.random.default_rng([seed, n])
    sd = np.array(TRUTH["sd"])
    cov = np.array([[1.0, TRUTH["cor"]], [TRUTH["cor"], 1.0]]) * np.outer(sd, sd)
    chol = np.linalg.cholesky(cov)
    y = np.empty(n)
    x = np.empty(n)
    g = np.repeat(np.arange(G, dtype=np.int32), 10)
    b0, b1 = TRUTH["b"]
    for start in range(0, G, CHUNK // 10):
        m = min(CHUNK // 10, G - start)
        u = rng.standard_normal((m, 2)) @ chol.T
        rows = slice(start * 10, (start + m) * 10)
        xs = rng.standard_normal(m * 10)
        uu = np.repeat(u, 10, axis=0)
        x[rows] = xs
        y[rows] = (
            b0 + uu[:, 0] + (b1 + uu[:, 1]) * xs + TRUTH["sigma"] * rng.standard_normal(m * 10)
        )
    return y, x, g


def prepare_data(data_dir: Path, names) -> dict:
    """Write every data set the engines need once: CSV (bundled) or raw binaries (synthetic)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info = {}
    for name in names:
        if is_synth(name):
            n = synth_rows(name)
            base = data_dir / f"synth_{n}"
            files = [Path(f"{base}.y.f64"), Path(f"{base}.x.f64"), Path(f"{base}.g.i32")]
            stamp = Path(f"{base}.seed")
            if not (
                all(f.exists() for f in files) and stamp.exists() and stamp.read_text() == str(SEED)
            ):
                t0 = time.perf_counter()
                y, x, g = simulate(n)
                y.astype("<f8").tofile(files[0])
                x.astype("<f8").tofile(files[1])
                g.astype("<i4").tofile(files[2])
                stamp.write_text(str(SEED))
                del y, x, g
                print(f"  wrote {base}.* ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
            info[name] = {"format": "bin", "path": str(base), "rows": n, "groups": n // 10}
        else:
            path = data_dir / f"{name}.csv"
            if not path.exists():
                import multilevel as ml

                ml.datasets.load(name).to_csv(path, index=False)
            info[name] = {"format": "csv", "path": str(path)}
    return info


def load_frame(name: str, data_dir: Path):
    """The data frame the Python engines fit, and the bytes of the columns the model uses."""
    import numpy as np
    import pandas as pd

    if is_synth(name):
        n = synth_rows(name)
        base = data_dir / f"synth_{n}"
        y = np.fromfile(f"{base}.y.f64", dtype="<f8")
        x = np.fromfile(f"{base}.x.f64", dtype="<f8")
        g = np.fromfile(f"{base}.g.i32", dtype="<i4").astype(np.int64)
        frame = pd.DataFrame({"y": y, "x": x, "g": g}, copy=False)
        del y, x, g
        return frame, 3 * 8 * n
    import multilevel as ml

    frame = ml.datasets.load(name)
    cols = DATASETS[name]["columns"]
    return frame, int(frame[cols].memory_usage(deep=True, index=False).sum())


# ----------------------------------------------------------------------------- worker side
def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _hwm() -> int:
    return _status_bytes("VmHWM")


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _src_hash() -> str:
    import multilevel

    h = hashlib.sha256()
    src = Path(multilevel.__file__).parent
    for f in sorted(src.rglob("*.py")):
        h.update(str(f.relative_to(src)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in (
        "multilevel",
        "numpy",
        "scipy",
        "pandas",
        "jax",
        "jaxlib",
        "numpyro",
        "arviz",
        "mixedlm",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _named_point(fit) -> dict:
    table = fit.summary()
    return {str(k): float(v) for k, v in table["estimate"].items() if not str(k).startswith("r_")}


def _mixedlm_named(m) -> dict:
    out = {}
    for k, v in m.fixef().items():
        out["b_" + ("Intercept" if k == "(Intercept)" else k)] = float(v)
    vc = m.VarCorr()
    for grp, block in vc.groups.items():
        names = ["Intercept" if t == "(Intercept)" else t for t in block.term_names]
        for i, t in enumerate(names):
            out[f"sd_{grp}__{t}"] = float(block.stddev[block.term_names[i]])
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                out[f"cor_{grp}__{names[i]}__{names[j]}"] = float(block.corr[i, j])
    out["sigma"] = float(m.sigma)
    return out


def worker(args) -> dict:
    import gc
    import warnings

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    hwm_start = _hwm()
    engine = args.engine
    import numpy as np
    import pandas  # noqa: F401

    if engine == "mixedlm":
        import mixedlm
    import multilevel as ml

    t_imports = time.perf_counter() - t0
    hwm_imports = _hwm()
    t0 = time.perf_counter()
    frame, data_bytes = load_frame(args.dataset, Path(args.data_dir))
    gc.collect()
    t_data = time.perf_counter() - t0
    hwm_data = _hwm()
    rss_data = _status_bytes("VmRSS")
    formula = formula_of(args.dataset)
    rec = {
        "engine": engine,
        "dataset": args.dataset,
        "formula": formula,
        "rows": int(len(frame)),
        "data_bytes": data_bytes,
        "loadavg_at_start": list(load_start),
        "import_s": t_imports,
        "data_s": t_data,
        "hwm_start": hwm_start,
        "hwm_after_imports": hwm_imports,
        "hwm_after_data": hwm_data,
        "rss_after_data": rss_data,
        "versions": _versions(),
        "src_sha256": _src_hash(),
        "multilevel_path": ml.__file__,
        "fits": [],
    }
    fit = None
    for i in range(args.fits):
        seed = args.seed + i
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            c0, w0 = _cpu(), time.perf_counter()
            if engine == "reml":
                fit = ml.fit(formula, frame, method="reml")
            elif engine == "mixedlm":
                fit = mixedlm.lmer(formula, frame, REML=True)
            elif engine in ("exact", "nuts"):
                fit = ml.fit(
                    formula,
                    frame,
                    method=engine,
                    chains=args.chains,
                    draws=args.draws,
                    warmup=args.warmup,
                    seed=seed,
                    progress=False,
                )
            else:
                raise SystemExit(f"unknown engine {engine}")
            wall, cpu = time.perf_counter() - w0, _cpu() - c0
        one = {
            "kind": "cold" if i == 0 else "warm",
            "seed": seed,
            "wall_s": wall,
            "cpu_s": cpu,
            "hwm_after": _hwm(),
            "loadavg_1min_after": os.getloadavg()[0],
            "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5],
        }
        if engine == "reml":
            one["engine_timings"] = dict(fit.estimate.timings)
            one["evaluations"] = getattr(fit.estimate, "evaluations", None)
        elif engine in ("exact", "nuts"):
            one["engine_timings"] = dict(fit.posterior.timings)
            one["reason"] = fit.posterior.reason
            c0, w0 = _cpu(), time.perf_counter()
            table = fit.summary()
            one["summary_s"] = time.perf_counter() - w0
            ess_b = table["ess_bulk"].astype(float)
            ess_t = table["ess_tail"].astype(float)
            named = [k for k in table.index if not str(k).startswith("r_")]
            one.update(
                {
                    "n_parameters": int(len(table)),
                    "min_ess_bulk": float(ess_b.min()),
                    "argmin_ess_bulk": str(ess_b.idxmin()),
                    "min_ess_tail": float(ess_t.min()),
                    "argmin_ess_tail": str(ess_t.idxmin()),
                    "min_ess": float(min(ess_b.min(), ess_t.min())),
                    "min_ess_named": float(min(ess_b[named].min(), ess_t[named].min())),
                    "max_rhat": float(table["r_hat"].astype(float).max()),
                    "ess_per_s": float(min(ess_b.min(), ess_t.min())) / wall,
                    "ess_per_cpu_s": float(min(ess_b.min(), ess_t.min())) / cpu,
                    "posterior_mean": {str(k): float(table.loc[k, "mean"]) for k in named},
                    "posterior_sd": {str(k): float(table.loc[k, "sd"]) for k in named},
                    "draws_total": int(args.chains * args.draws),
                }
            )
            diag = getattr(fit.posterior, "sample_stats", None)
            if isinstance(diag, dict) and "diverging" in diag:
                one["divergences"] = int(np.asarray(diag["diverging"]).sum())
            del table
        rec["fits"].append(one)
        if i + 1 < args.fits and engine in ("exact", "nuts"):
            del fit
            fit = None
            gc.collect()
    if engine == "reml":
        est = fit.estimate
        rec["estimates"] = {
            "theta": [float(v) for v in np.ravel(est.theta)],
            "loglik": float(fit.loglik()),
            "named": _named_point(fit),
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
            "function_evals": int(fit.function_evals),
        }
    rec["hwm_end"] = _hwm()
    return rec


# ----------------------------------------------------------------------------- parent side
def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
        stack.extend(children.get(p, []))
    return total


def run_process(cmd, *, timeout, mem_limit_gb, env=None):
    """Run cmd, watching the process tree's memory; (returncode, stdout, stderr, info)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    import threading

    out_chunks, err_chunks = [], []
    t_out = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))
    t_err = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()))
    t_out.start()
    t_err.start()
    limit = mem_limit_gb * 2**30
    peak, killed = 0, None
    while proc.poll() is None:
        time.sleep(0.2)
        rss = _tree_rss(proc.pid)
        peak = max(peak, rss)
        if rss > limit:
            killed = f"killed: process tree above {mem_limit_gb:g} GB resident"
        elif time.perf_counter() - start > timeout:
            killed = f"timeout after {timeout:.0f} s"
        if killed:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            break
    proc.wait()
    t_out.join()
    t_err.join()
    info = {"process_wall_s": time.perf_counter() - start, "peak_tree_rss_seen": peak}
    return proc.returncode, "".join(out_chunks), "".join(err_chunks), killed, info


def ensure_r() -> None:
    ok = (
        subprocess.run(
            ["Rscript", "-e", "suppressPackageStartupMessages(library(lme4))"], capture_output=True
        )
        if shutil.which("Rscript")
        else None
    )
    if ok is not None and ok.returncode == 0:
        return
    print("R / lme4 missing: apt-get install -y r-base-core r-cran-lme4", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "r-base-core", "r-cran-lme4"], check=True, env=env)


def python_case(py, engine, dataset, args, env) -> dict:
    fits = args.fits
    if engine in ("reml", "mixedlm") and small(dataset):
        fits = max(fits, args.small_fits)  # tiny fits: more warm repeats
    cmd = [
        py,
        str(Path(__file__).resolve()),
        "--worker",
        engine,
        "--dataset",
        dataset,
        "--data-dir",
        str(args.data_dir),
        "--fits",
        str(fits),
        "--chains",
        str(args.chains),
        "--draws",
        str(args.draws),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(args.seed),
    ]
    timeout = args.timeout
    rc, out, err, killed, info = run_process(
        cmd, timeout=timeout, mem_limit_gb=args.mem_limit_gb, env=env
    )
    base = {"engine": engine, "dataset": dataset, "command": " ".join(cmd), **info}
    if killed:
        return {**base, "status": killed, "stderr_tail": err.strip().splitlines()[-5:]}
    if rc != 0:
        return {
            **base,
            "status": f"failed (exit {rc})",
            "stderr_tail": err.strip().splitlines()[-8:],
        }
    return {**base, **json.loads(out.strip().splitlines()[-1]), "status": "ok"}


def run_r_timing(cmd, base, *, timeout, mem_limit_gb, env=None) -> tuple[dict, dict | None]:
    """Run an R timing script (``cmd`` starts with ``/usr/bin/time -v``) and read the JSON
    on its last line: ``(record, rec)``. ``record`` is ``base`` with the load at start, the
    process's wall time and memory and ``time_v_maxrss``, plus ``status`` and the output's
    tail when it failed (then ``rec`` is None). In ``rec`` every fit's ``warnings`` (and
    ``messages``) are lists, and ``theta`` / ``loglik`` / ``named`` moved to ``estimates``."""
    load = list(os.getloadavg())
    rc, out, err, killed, info = run_process(
        cmd, timeout=timeout, mem_limit_gb=mem_limit_gb, env=env
    )
    record = {**base, "loadavg_at_start": load, **info}
    maxrss = None
    for line in err.splitlines():
        if "Maximum resident set size" in line:
            maxrss = int(line.split(":")[1]) * 1024
    if killed:
        return {**record, "status": killed}, None
    record["time_v_maxrss"] = maxrss
    if rc != 0:
        return {
            **record,
            "status": f"failed (exit {rc})",
            "stderr_tail": err.strip().splitlines()[-8:],
        }, None
    try:
        rec = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {
            **record,
            "status": "failed (no JSON from R)",
            "stdout_tail": out.strip().splitlines()[-5:],
            "stderr_tail": err.strip().splitlines()[-30:],
        }, None
    for f in rec["fits"]:
        for key in ("warnings", "messages"):
            if key == "warnings" or key in f:
                w = f.get(key) or []
                f[key] = [x for x in ([w] if isinstance(w, str) else w) if x]
    theta = rec.pop("theta")
    rec["estimates"] = {
        "theta": theta if isinstance(theta, list) else [theta],
        "loglik": rec.pop("loglik"),
        "named": rec.pop("named"),
    }
    return {**record, "status": "ok"}, rec


def lme4_case(dataset, data_info, args) -> dict:
    spec = {
        "format": data_info["format"],
        "path": data_info["path"],
        "formula": formula_of(dataset),
        "factors": [] if is_synth(dataset) else DATASETS[dataset]["factors"],
        "REML": True,
        "fits": args.small_fits
        if small(dataset)
        else args.fits
        if dataset == "insteval" or synth_rows(dataset) <= 10**5
        else args.fits_lme4,
        "rows": data_info.get("rows", 0),
        "groups": data_info.get("groups", 0),
    }
    cmd = ["/usr/bin/time", "-v", "Rscript", str(R_SCRIPT), json.dumps(spec)]
    base = {
        "engine": "lme4",
        "dataset": dataset,
        "command": " ".join(cmd[:4]) + " '" + json.dumps(spec) + "'",
    }
    record, rec = run_r_timing(cmd, base, timeout=args.timeout, mem_limit_gb=args.mem_limit_gb)
    if rec is None:
        return record
    return {
        **record,
        **rec,
        "rows": data_info.get("rows") or rec.get("nobs"),
        "data_bytes": 3 * 8 * data_info["rows"] if is_synth(dataset) else None,
    }


def nutpie_case(dataset, args) -> dict:
    py = str(args.venv / "bin" / "python")
    if not Path(py).exists():
        return {
            "engine": "bambi_nutpie",
            "dataset": dataset,
            "status": f"not run: no benchmark venv at {args.venv} (see nuts_vs_peers.py)",
        }
    cmd = [
        py,
        str(PEER_WORKER),
        "--engine",
        "bambi_nutpie",
        "--model",
        f"{dataset}_uncor",
        "--fits",
        "2",
        "--chains",
        str(args.chains),
        "--draws",
        str(args.draws),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(args.seed),
        "--options",
        "{}",
    ]
    load = list(os.getloadavg())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(args.src) if args.src else None, os.environ.get("PYTHONPATH")] if p
        ),
    }
    rc, out, err, killed, info = run_process(
        cmd, timeout=args.timeout, mem_limit_gb=args.mem_limit_gb, env=env
    )
    base = {
        "engine": "bambi_nutpie",
        "dataset": dataset,
        "model": f"{dataset}_uncor",
        "command": " ".join(cmd),
        "loadavg_at_start": load,
        **info,
    }
    if killed:
        return {**base, "status": killed}
    if rc != 0:
        return {
            **base,
            "status": f"failed (exit {rc})",
            "stderr_tail": err.strip().splitlines()[-8:],
        }
    rec = json.loads(out.strip().splitlines()[-1])
    fits = []
    for f in rec.get("fits", []):
        ess_b = f.get("min_ess_bulk_all")
        ess_t = f.get("min_ess_tail_all")
        m = min(x for x in (ess_b, ess_t) if x is not None)
        fits.append(
            {
                "kind": f["kind"],
                "wall_s": f["wall_s"],
                "cpu_s": f.get("cpu_s"),
                "min_ess_bulk": ess_b,
                "min_ess_tail": ess_t,
                "min_ess": m,
                "ess_per_s": m / f["wall_s"],
                "max_rhat": f.get("max_rhat_all"),
                "divergences": f.get("divergences"),
            }
        )
    return {
        **base,
        "status": "ok",
        "fits": fits,
        "versions": rec.get("versions"),
        "priors": rec.get("priors"),
    }


# ----------------------------------------------------------------------------- comparison
def _rel(a, b) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def compare(rec, ref) -> dict | None:
    """Largest relative differences of one engine's REML estimates from lme4's."""
    if not rec or not ref or rec.get("status") != "ok" or ref.get("status") != "ok":
        return None
    a, b = rec["estimates"], ref["estimates"]
    named = {k: _rel(a["named"][k], v) for k, v in b["named"].items() if k in a["named"]}
    missing = sorted(set(b["named"]) - set(a["named"]))
    out = {
        "named": named,
        "max_named": max(named.values()) if named else None,
        "argmax_named": max(named, key=named.get) if named else None,
        "loglik": _rel(a["loglik"], b["loglik"]),
        "loglik_minus_lme4": a["loglik"] - b["loglik"],
        "missing": missing,
    }
    if len(a["theta"]) == len(b["theta"]):
        out["theta"] = max(_rel(x, y) for x, y in zip(a["theta"], b["theta"], strict=True))
    vals = [out["max_named"] or 0.0, out["loglik"], out.get("theta", 0.0)]
    out["max"] = max(vals)
    return out


def reference_numbers(dataset) -> dict | None:
    path = REF_DIR / f"{dataset}.json"
    if not path.exists():
        return None
    ref = json.loads(path.read_text())["REML"]
    named = {}
    for k, v in ref["beta"].items():
        named["b_" + ("Intercept" if k == "(Intercept)" else k)] = v
    for row in ref["varcorr"]:
        if row["grp"] == "Residual":
            named["sigma"] = row["sdcor"]
            continue
        v1 = "Intercept" if row["var1"] == "(Intercept)" else row["var1"]
        if row["var2"] is None:
            named[f"sd_{row['grp']}__{v1}"] = row["sdcor"]
        else:
            v2 = "Intercept" if row["var2"] == "(Intercept)" else row["var2"]
            named[f"cor_{row['grp']}__{v1}__{v2}"] = row["sdcor"]
    return {
        "status": "ok",
        "estimates": {
            "theta": list(ref["theta"].values()),
            "loglik": ref["logLik"],
            "named": named,
        },
    }


# ----------------------------------------------------------------------------- reporting
def _find(records, section, engine, dataset):
    for r in records:
        if r.get("section") == section and r["engine"] == engine and r["dataset"] == dataset:
            return r
    return None


def _fit(r, kind):
    if not r or r.get("status") != "ok":
        return None
    fits = [f for f in r.get("fits", []) if f["kind"] == kind]
    if not fits:
        return None
    return min(fits, key=lambda f: f["wall_s"])  # warm: best of the warm repeats


def _s(x):
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _mb(x):
    if x is None:
        return "–"
    x = x / 2**20
    return f"{x:.2f}" if x < 1 else f"{x:.1f}" if x < 10 else f"{x:,.0f}"


def _peak(r):
    if not r or r.get("status") != "ok":
        return None
    if r["engine"] == "lme4":
        return r.get("hwm_end") or r.get("time_v_maxrss")
    return r.get("hwm_end")


def _base(r):
    if not r or r.get("status") != "ok":
        return None
    return r.get("hwm_after_imports") or r.get("hwm_after_library")


def point_table(records) -> str:
    lines = [
        "| data | rows | multilevel REML cold / warm s | mixedlm cold / warm s "
        "| lme4 cold / warm s | lme4 ÷ ml (cold) | mixedlm ÷ ml (cold) "
        "| ml peak MiB (− imports) | mixedlm peak MiB | lme4 peak MiB "
        "| data MiB | max rel diff ml vs lme4 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ds in POINT_DATA:
        m = _find(records, "point", "reml", ds)
        x = _find(records, "point", "mixedlm", ds)
        r = _find(records, "point", "lme4", ds)
        if not (m or x or r):
            continue

        def cw(rec):
            if rec and rec.get("status") == "extrapolated":
                return f"≈{_s(rec['predicted_s'])} (extrapolated)"
            if not rec or rec.get("status") != "ok":
                return "–" if not rec else rec["status"]
            c, w = _fit(rec, "cold"), _fit(rec, "warm")
            return f"{_s(c['wall_s'])} / {_s(w['wall_s']) if w else '–'}"

        def cold(rec):
            if rec and rec.get("status") == "extrapolated":
                return rec["predicted_s"]
            f = _fit(rec, "cold")
            return f["wall_s"] if f else None

        mw, xw, rw = cold(m), cold(x), cold(r)
        ratio = lambda a, b: f"{a / b:.1f}×" if a and b else "–"  # noqa: E731
        rows = (m or x or r).get("rows")
        data = (m or x or r).get("data_bytes")
        cmp_ = (m or {}).get("vs_lme4") or {}
        mpk = _peak(m)
        mb = _base(m)
        ml_mem = f"{_mb(mpk)} ({_mb(mpk - mb)})" if mpk and mb else "–"
        lines.append(
            f"| {ds} | {rows:,} | {cw(m)} | {cw(x)} | {cw(r)} | {ratio(rw, mw)} | {ratio(xw, mw)} "
            f"| {ml_mem} | {_mb(_peak(x))} | {_mb(_peak(r))} | {_mb(data)} "
            f"| {cmp_.get('max', float('nan')):.1e} |"
        )
    return "\n".join(lines)


def bayes_table(records) -> str:
    lines = [
        "| data | engine | cold s | cold min ESS | cold ESS/s | warm s | warm min ESS | warm ESS/s "
        "| peak MiB | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        if r.get("section") != "bayes":
            continue
        c, w = _fit(r, "cold"), _fit(r, "warm")
        g = lambda f, k, fmt="{:.0f}": (  # noqa: E731
            fmt.format(f[k]) if f and f.get(k) is not None else "–"
        )
        peak = _mb(_peak(r)) if r["engine"] != "bambi_nutpie" else "–"
        lines.append(
            f"| {r['dataset']} | {r['engine']} | {g(c, 'wall_s', '{:.2f}')} | {g(c, 'min_ess')} "
            f"| {g(c, 'ess_per_s', '{:.1f}')} | {g(w, 'wall_s', '{:.2f}')} | {g(w, 'min_ess')} "
            f"| {g(w, 'ess_per_s', '{:.1f}')} | {peak} | {r['status']} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def machine() -> dict:
    out = {
        "platform": platform.platform(),
        "nproc": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()),
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor"):
                out[k.strip()] = v.strip()
        with open("/proc/meminfo") as f:
            for line in f:
                if line.split(":")[0] in ("MemTotal", "MemAvailable", "SwapTotal"):
                    out[line.split(":")[0]] = line.split(":")[1].strip()
    except OSError:
        pass
    return out


def git_info() -> dict:
    def run(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {
        "commit": run("rev-parse", "HEAD"),
        "subject": run("log", "-1", "--format=%s"),
        "dirty_src": bool(run("status", "--porcelain", "src")),
    }


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sections", nargs="+", default=["point", "bayes"], choices=["point", "bayes"])
    p.add_argument(
        "--data",
        nargs="+",
        default=None,
        help="data sets (default: all of the section's); synth_1e4 … synth_1e7",
    )
    p.add_argument(
        "--engines", nargs="+", default=["reml", "mixedlm", "lme4", "exact", "nuts", "bambi_nutpie"]
    )
    p.add_argument("--fits", type=int, default=2, help="fits per process (1 cold + warm ones)")
    p.add_argument(
        "--small-fits",
        type=int,
        default=4,
        help="fits per process for REML fits of sleepstudy and synth_1e4",
    )
    p.add_argument("--fits-lme4", type=int, default=1, help="lme4 fits above 10^5 rows")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    p.add_argument("--mem-limit-gb", type=float, default=16.0)
    p.add_argument(
        "--lme4-max-s",
        type=float,
        default=600.0,
        help="skip lme4 where the extrapolated time exceeds this",
    )
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/gaussian_vs_peers_data"))
    p.add_argument(
        "--src",
        type=Path,
        default=None,
        help="put this multilevel source folder first on PYTHONPATH",
    )
    p.add_argument(
        "--venv",
        type=Path,
        default=Path("/work/bench-venv"),
        help="benchmark venv with bambi + nutpie (benchmarks/nuts_vs_peers.py)",
    )
    p.add_argument("--out", type=Path, default=HERE / "results" / "gaussian_vs_peers.json")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the JSON file's results and skip the cases it has as ok",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the JSON file's results, replacing the cases run now",
    )
    p.add_argument(
        "--neighbours",
        type=int,
        default=0,
        help="CPU-bound processes kept running beside every case (a busy machine)",
    )
    p.add_argument("--report", action="store_true", help="print the tables from --out")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    if args.worker:
        args.engine = args.worker
        print(json.dumps(worker(args)))
        return
    if args.report:
        payload = json.loads(args.out.read_text())
        print(point_table(payload["cases"]))
        print()
        print(bayes_table(payload["cases"]))
        return

    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(args.src), env.get("PYTHONPATH")] if p)
    py = sys.executable
    src_dir = (
        args.src
        or Path(
            subprocess.run(
                [py, "-c", "import multilevel, os; print(os.path.dirname(multilevel.__file__))"],
                capture_output=True,
                text=True,
                env=env,
            ).stdout.strip()
        ).parent
    )

    plan = []  # (section, engine, dataset)
    if "point" in args.sections:
        data = [d for d in (args.data or POINT_DATA) if d in POINT_DATA]
        engines = [e for e in ("reml", "mixedlm", "lme4") if e in args.engines]
        for i, ds in enumerate(data):
            k = i % len(engines) if engines else 0
            for e in engines[k:] + engines[:k]:  # rotate the order per data set
                plan.append(("point", e, ds))
    if "bayes" in args.sections:
        data = [d for d in (args.data or BAYES_DATA) if d in BAYES_DATA + NUTS_DATA]
        for ds in data:
            for e in ("exact", "nuts", "bambi_nutpie"):
                if e not in args.engines:
                    continue
                if (
                    e == "exact"
                    and ds in BAYES_DATA
                    or e == "nuts"
                    and ds in NUTS_DATA
                    or e == "bambi_nutpie"
                    and ds in NUTPIE_DATA
                ):
                    plan.append(("bayes", e, ds))

    previous = []
    if (args.resume or args.merge) and args.out.exists():
        previous = json.loads(args.out.read_text()).get("cases", [])
    key = lambda r: (r.get("section"), r["engine"], r["dataset"])  # noqa: E731
    done = {key(r) for r in previous if r.get("status") == "ok"} if args.resume else set()

    if any(e == "lme4" for _, e, _ in plan):
        ensure_r()
    needed = sorted(
        {ds for s, e, ds in plan if e != "bambi_nutpie"},
        key=lambda d: synth_rows(d) if is_synth(d) else 0,
    )
    print(f"preparing data in {args.data_dir}", file=sys.stderr)
    data_info = prepare_data(args.data_dir, needed)

    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "git": git_info(),
        "src": str(src_dir),
        "src_commit": (Path(src_dir).parent / "COMMIT").read_text().strip()
        if (Path(src_dir).parent / "COMMIT").exists()
        else None,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "truth_synthetic": TRUTH,
        "seed_synthetic": SEED,
    }
    records = []

    def save(final=False):
        new = {key(r) for r in records}
        merged = [r for r in previous if key(r) not in new] + records
        order = {k: i for i, k in enumerate(plan)}
        merged.sort(key=lambda r: order.get(key(r), -1))
        # comparisons with lme4 (same run) and with the tight references
        for r in merged:
            if r.get("section") == "point" and r["engine"] in ("reml", "mixedlm"):
                r["vs_lme4"] = compare(r, _find(merged, "point", "lme4", r["dataset"]))
                r["vs_lme4_tight_reference"] = compare(r, reference_numbers(r["dataset"]))
        if final:
            meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "cases": merged}, indent=1))
        return merged

    with busy_neighbours(args.neighbours):
        _run_plan(args, plan, done, records, previous, data_info, py, env, save)


@contextlib.contextmanager
def busy_neighbours(count: int):
    """``count`` processes spinning on one core each while the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _run_plan(args, plan, done, records, previous, data_info, py, env, save):
    for section, engine, ds in plan:
        if (section, engine, ds) in done:
            continue
        print(
            f"[{datetime.now(UTC):%H:%M:%S}] {section} {engine} {ds} "
            f"(load {os.getloadavg()[0]:.1f})",
            file=sys.stderr,
            flush=True,
        )
        if engine == "lme4":
            ran = sorted(
                [
                    r
                    for r in records + previous
                    if r["engine"] == "lme4"
                    and is_synth(r["dataset"])
                    and r.get("status") == "ok"
                    and is_synth(ds)
                ],
                key=lambda r: synth_rows(r["dataset"]),
            )
            failed = [
                r
                for r in records
                if r["engine"] == "lme4"
                and is_synth(r["dataset"])
                and r.get("status") not in ("ok", "extrapolated")
                and is_synth(ds)
            ]
            predicted = None
            if len(ran) >= 2:
                (n1, t1), (n2, t2) = [
                    (synth_rows(r["dataset"]), _fit(r, "cold")["wall_s"]) for r in ran[-2:]
                ]
                slope = math.log(t2 / t1) / math.log(n2 / n1)
                predicted = t2 * (synth_rows(ds) / n2) ** slope
            if failed or (predicted is not None and predicted > args.lme4_max_s):
                rec = {
                    "engine": "lme4",
                    "dataset": ds,
                    "status": "extrapolated",
                    "predicted_s": predicted,
                    "note": f"not run: log-log extrapolation from {ran[-2]['dataset']} and "
                    f"{ran[-1]['dataset']} predicts {predicted:.0f} s > "
                    f"--lme4-max-s {args.lme4_max_s:g}"
                    if predicted
                    else "not run: a smaller size failed",
                }
            else:
                rec = lme4_case(ds, data_info[ds], args)
        elif engine == "bambi_nutpie":
            rec = nutpie_case(ds, args)
        else:
            rec = python_case(py, engine, ds, args, env)
        rec["section"] = section
        records.append(rec)
        merged = save()
        if rec.get("status") == "ok":
            c, w = _fit(rec, "cold"), _fit(rec, "warm")
            msg = f"cold {c['wall_s']:.3f} s (cpu {c.get('cpu_s') or 0:.2f})"
            if w:
                msg += f", warm {w['wall_s']:.3f} s (cpu {w.get('cpu_s') or 0:.2f})"
            if c.get("ess_per_s") is not None:
                msg += f"; min ESS {c['min_ess']:.0f} -> {c['ess_per_s']:.1f}/s cold"
                if w:
                    msg += f", {w['min_ess']:.0f} -> {w['ess_per_s']:.1f}/s warm"
            pk = _peak(rec)
            if pk:
                msg += f"; peak {_mb(pk)} MB"
            cmp_ = (
                (_find(merged, "point", engine, ds) or {}).get("vs_lme4")
                if section == "point"
                else None
            )
            if cmp_:
                msg += f"; max rel diff vs lme4 {cmp_['max']:.1e} ({cmp_['argmax_named']})"
            print("    " + msg, file=sys.stderr, flush=True)
        else:
            print(f"    {rec['status']} {rec.get('note', '')}", file=sys.stderr, flush=True)
    merged = save(final=True)
    for r in merged:
        if r.get("section") == "point" and r["engine"] == "lme4" and r.get("status") == "ok":
            for e in ("reml", "mixedlm"):
                c = (_find(merged, "point", e, r["dataset"]) or {}).get("vs_lme4")
                if c:
                    print(
                        f"max relative difference {e} vs lme4 on {r['dataset']}: "
                        f"{c['max']:.2e} (named: {c['max_named']:.2e} at {c['argmax_named']}, "
                        f"logLik {c['loglik']:.2e}, ml - lme4 logLik {c['loglik_minus_lme4']:+.3g})"
                    )
    print(point_table(merged))
    print()
    print(bayes_table(merged))


if __name__ == "__main__":
    main()
