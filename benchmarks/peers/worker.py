"""One engine on one model in a fresh process: ``--fits`` fits in a row (the first is cold,
the later ones warm), each scored by ``common.ess_summary``; JSON on stdout (last line).

Run by ``benchmarks/nuts_vs_peers.py`` with the benchmark venv's python; usable alone::

    /work/bench-venv/bin/python benchmarks/peers/worker.py --engine multilevel --model sleepstudy
    ... --engine numpyro --model radon --options '{"param": "centred", "chain_method": "parallel"}'

Engines:

- ``multilevel``: ``multilevel.fit(formula, data, priors=<defaults made explicit>)``; options
  ``host_devices`` (``XLA_FLAGS=--xla_force_host_platform_device_count``, set before JAX
  starts: with at least ``chains`` devices the engine runs chains in parallel) and
  ``target_accept``;
- ``numpyro``: the hand-written model of ``numpyro_models.py``; options ``chain_method``,
  ``host_devices``, ``dense_mass``, ``dtype`` (``float64`` turns on ``jax_enable_x64``) and the
  model variant (``param``, ``priors``, ``deterministic``);
- ``bambi_pymc`` / ``bambi_nutpie``: ``bambi.Model(formula, data, priors=...)`` fitted with
  ``inference_method="pymc"`` (PyMC's NUTS, ``cores`` = CPU count) or ``"nutpie"``. bambi's
  ``(x | g)`` is uncorrelated, i.e. the ``_uncor`` model.

Wall time is the fit call itself (for multilevel: ``ml.fit`` end to end, i.e. data checks,
design, sampling, the pointwise log-likelihood, building the Fit; for bambi:
``bmb.Model(...)`` + ``.fit()``; for NumPyro: ``mcmc.run`` + fetching the draws); imports are
timed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _args():
    p = argparse.ArgumentParser()
    p.add_argument(
        "--engine",
        required=True,
        choices=["multilevel", "numpyro", "numpyro_scan", "bambi_pymc", "bambi_nutpie"],
    )
    p.add_argument("--model", required=True)
    p.add_argument("--fits", type=int, default=2)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--options", default="{}", help="JSON dict of engine options")
    return p.parse_args()


ARGS = _args()
OPTS = json.loads(ARGS.options)
if ARGS.engine in ("multilevel", "numpyro", "numpyro_scan"):
    n_dev = OPTS.get("host_devices")
    if (
        n_dev is None
        and ARGS.engine.startswith("numpyro")
        and OPTS.get("chain_method", "parallel") == "parallel"
    ):
        n_dev = ARGS.chains
    if n_dev:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n_dev}"
        ).strip()
    if OPTS.get("dtype") == "float64":
        os.environ["JAX_ENABLE_X64"] = "1"

import common  # noqa: E402
import numpy as np  # noqa: E402


def _cpu():
    """CPU seconds of this process and its finished children (PyMC's chain processes)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in (
        "multilevel",
        "numpy",
        "jax",
        "jaxlib",
        "numpyro",
        "arviz",
        "bambi",
        "pymc",
        "pytensor",
        "nutpie",
        "numba",
        "formulae",
    ):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def run_multilevel(model, y, x, g, levels, df, pri):
    import multilevel as ml

    priors = common.explicit_priors_for_multilevel(model)
    form = common.formula(model)
    kw = {k: OPTS[k] for k in ("target_accept", "max_tree_depth") if k in OPTS}

    def one(seed):
        start = time.perf_counter()
        fit = ml.fit(
            form,
            df,
            priors=priors,
            family=common.family(model),
            method="nuts",
            chains=ARGS.chains,
            draws=ARGS.draws,
            warmup=ARGS.warmup,
            seed=seed,
            progress=False,
            **kw,
        )
        wall = time.perf_counter() - start
        post = fit.posterior
        d = post.draws
        m = common.MODELS[common.base_model(model)]
        gname, xname = m["g"], m["x"]
        scalars = {
            "b_Intercept": d["b_Intercept"],
            "b_x": d[f"b_{xname}"],
            "sd_Intercept": d[f"sd_{gname}__Intercept"],
            "sd_x": d[f"sd_{gname}__{xname}"],
        }
        if "sigma" in d:
            scalars["sigma"] = d["sigma"]
        if common.correlated(model):
            scalars["cor"] = d[f"cor_{gname}__Intercept__{xname}"]
        groups = _multilevel_groups(post, fit, levels)
        st = post.sample_stats
        stats = {
            "divergences": int(np.asarray(st["diverging"]).sum()),
            "leapfrog_steps": int(np.asarray(st["n_steps"]).sum()),
            "mean_tree_size": float(np.asarray(st["n_steps"]).mean()),
            "engine_timings": {k: float(v) for k, v in dict(post.timings).items()},
            "settings": {
                k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                for k, v in dict(getattr(post, "settings", {}) or {}).items()
            },
        }
        return wall, scalars, groups, stats

    return one


def _multilevel_groups(post, fit, levels):
    d = post.draws
    keys = sorted(k for k in d if k.startswith("r_block"))
    if len(keys) == 1:  # (x | g): one block, (chains, draws, levels, 2)
        r = np.asarray(d[keys[0]])
        return {"r_Intercept": r[..., 0], "r_x": r[..., 1]}
    # (x || g): two blocks of one coefficient each
    return {"r_Intercept": np.asarray(d[keys[0]])[..., 0], "r_x": np.asarray(d[keys[1]])[..., 0]}


def run_numpyro(model, y, x, g, levels, df, pri):
    from numpyro_models import HandWritten

    variant = {k: OPTS[k] for k in ("param", "priors", "deterministic") if k in OPTS}
    hw = HandWritten(
        pri,
        y,
        x,
        g,
        len(levels),
        chains=ARGS.chains,
        draws=ARGS.draws,
        warmup=ARGS.warmup,
        chain_method=OPTS.get("chain_method", "parallel"),
        dense_mass=OPTS.get("dense_mass", False),
        target_accept=OPTS.get("target_accept", 0.8),
        dtype=OPTS.get("dtype", "float32"),
        correlated=common.correlated(model),
        **variant,
    )
    return hw.run


def run_numpyro_scan(model, y, x, g, levels, df, pri):
    import jax.numpy as jnp
    from numpyro_driver import NutsDriver
    from numpyro_models import make_model, to_common

    variant = {k: OPTS[k] for k in ("param", "priors", "deterministic") if k in OPTS}
    corr = common.correlated(model)
    mod = make_model(pri, len(levels), correlated=corr, **variant)
    dt = jnp.float64 if OPTS.get("dtype") == "float64" else jnp.float32
    xbar = float(np.mean(x))
    args = (jnp.asarray(x, dt), jnp.asarray(xbar, dt), jnp.asarray(g))
    kwargs = {"y": jnp.asarray(y, dt)}
    state = {}

    def one(seed):
        start = time.perf_counter()
        if "driver" not in state:  # built (traced, compiled) inside the first fit: cold
            state["driver"] = NutsDriver(
                mod,
                args,
                kwargs,
                chains=ARGS.chains,
                draws=ARGS.draws,
                warmup=ARGS.warmup,
                chain_method=OPTS.get("chain_method", "parallel"),
                target_accept=OPTS.get("target_accept", 0.8),
                dense_mass=OPTS.get("dense_mass", False),
                init_values={"Intercept_c": pri["intercept"][1]}
                if OPTS.get("init_intercept")
                else None,
            )
        _, s, stats = state["driver"].run(seed)
        wall = time.perf_counter() - start
        scalars, groups = to_common(s, xbar, corr, variant.get("param", "noncentred"))
        return wall, scalars, groups, stats

    return one


def run_bambi(model, y, x, g, levels, df, pri, method):
    import bambi as bmb

    if common.correlated(model):
        raise SystemExit("bambi has no correlated group effects: use the _uncor model")
    m = common.MODELS[common.base_model(model)]
    xname, gname = m["x"], m["g"]
    nu_i, loc_i, sc_i = pri["intercept"]
    (nu0, s0), (nu1, s1) = pri["sd"]
    priors = {
        "Intercept": bmb.Prior("StudentT", nu=nu_i, mu=loc_i, sigma=sc_i),
        xname: bmb.Prior("Normal", mu=0.0, sigma=pri["b"]),
        f"1|{gname}": bmb.Prior(
            "Normal", mu=0.0, sigma=bmb.Prior("HalfStudentT", nu=nu0, sigma=s0)
        ),
        f"{xname}|{gname}": bmb.Prior(
            "Normal", mu=0.0, sigma=bmb.Prior("HalfStudentT", nu=nu1, sigma=s1)
        ),
    }
    if pri["sigma"] is not None:
        nu_s, sc_s = pri["sigma"]
        priors["sigma"] = bmb.Prior("HalfStudentT", nu=nu_s, sigma=sc_s)
    form = f"{m['y']} ~ {xname} + ({xname} | {gname})"
    data = df.copy()
    data[gname] = data[gname].astype(str)
    kw = {}
    if method == "pymc":
        kw["cores"] = OPTS.get("cores", os.cpu_count())
    if "target_accept" in OPTS:
        kw["target_accept"] = OPTS["target_accept"]

    def one(seed):
        start = time.perf_counter()
        bm = bmb.Model(
            form, data, priors=priors, center_predictors=True, family=common.family(model)
        )
        idata = bm.fit(
            draws=ARGS.draws,
            tune=ARGS.warmup,
            chains=ARGS.chains,
            inference_method=method,
            random_seed=seed,
            progressbar=False,
            **kw,
        )
        wall = time.perf_counter() - start
        p = idata.posterior
        scalars = {
            "b_Intercept": p["Intercept"].values,
            "b_x": p[xname].values,
            "sd_Intercept": p[f"1|{gname}_sigma"].values,
            "sd_x": p[f"{xname}|{gname}_sigma"].values,
        }
        if "sigma" in p:
            scalars["sigma"] = p["sigma"].values
        groups = {"r_Intercept": p[f"1|{gname}"].values, "r_x": p[f"{xname}|{gname}"].values}
        stats = {}
        ss = idata.sample_stats
        if "diverging" in ss:
            stats["divergences"] = int(ss["diverging"].values.sum())
        for key in ("n_steps", "tree_size"):
            if key in ss:
                stats["leapfrog_steps"] = int(ss[key].values.sum())
                stats["mean_tree_size"] = float(ss[key].values.mean())
        return wall, scalars, groups, stats

    return one


def main():
    t_imp = time.perf_counter()
    y_x_g = common.load(ARGS.model)
    df, y, x, g, levels = y_x_g
    pri = common.priors(ARGS.model)
    if ARGS.engine == "multilevel":
        one = run_multilevel(ARGS.model, y, x, g, levels, df, pri)
    elif ARGS.engine == "numpyro":
        one = run_numpyro(ARGS.model, y, x, g, levels, df, pri)
    elif ARGS.engine == "numpyro_scan":
        one = run_numpyro_scan(ARGS.model, y, x, g, levels, df, pri)
    else:
        one = run_bambi(ARGS.model, y, x, g, levels, df, pri, ARGS.engine.split("_")[1])
    import_s = time.perf_counter() - t_imp + (t_imp - T0)
    fits = []
    for i in range(ARGS.fits):
        c0 = _cpu()
        wall, scalars, groups, stats = one(ARGS.seed + i)
        cpu = _cpu() - c0
        ess = common.ess_summary(scalars, groups)
        fits.append(
            dict(
                kind="cold" if i == 0 else "warm",
                seed=ARGS.seed + i,
                wall_s=wall,
                cpu_s=cpu,
                loadavg_1min_after=_loadavg(),
                ess_per_cpu_s_bulk_all=ess["min_ess_bulk_all"] / cpu,
                ess_per_s_bulk_all=ess["min_ess_bulk_all"] / wall,
                ess_per_s_tail_all=ess["min_ess_tail_all"] / wall,
                ess_per_s_bulk_params=ess["min_ess_bulk_params"] / wall,
                **ess,
                **stats,
            )
        )
        print(
            f"# {ARGS.engine} {ARGS.model} fit {i} ({fits[-1]['kind']}): {wall:.2f} s, "
            f"min ESS bulk {ess['min_ess_bulk_all']:.0f} ({ess['argmin_ess_bulk_all']}), "
            f"tail {ess['min_ess_tail_all']:.0f} -> {fits[-1]['ess_per_s_bulk_all']:.1f} ESS/s "
            f"bulk, steps {stats.get('leapfrog_steps')}",
            file=sys.stderr,
            flush=True,
        )
    out = dict(
        engine=ARGS.engine,
        model=ARGS.model,
        options=OPTS,
        chains=ARGS.chains,
        draws=ARGS.draws,
        warmup=ARGS.warmup,
        import_and_setup_s=import_s,
        process_wall_s=time.perf_counter() - T0,
        versions=_versions(),
        priors=pri["stan"],
        fits=fits,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
