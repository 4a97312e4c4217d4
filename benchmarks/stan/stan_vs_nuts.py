"""The Stan engine (the library's generated Stan program, compiled and sampled by Stan) next
to the NUTS engine on the reference models, in one run: compile time, sampling time, the
smallest bulk ESS per second of sampling, and how far apart the two posteriors' means are
in units of their Monte Carlo error.

Run (a Python with a Stan backend: PyStan on 3.11/3.12, or CmdStanPy with CmdStan):

    PYTHONPATH=src python benchmarks/stan/stan_vs_nuts.py [--out results.json]

The first Stan fit of a program compiles it (httpstan / CmdStan cache it by the program's
hash); the second fit of the same program, timed separately, does not. ``--cold`` starts
from empty caches (a temporary ``XDG_CACHE_HOME`` and ``MULTILEVEL_CACHE``), so the first
fit's compile time is measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import arviz as az
import numpy as np

import multilevel as ml

MODELS = {
    "eight_schools": (
        "y | se(sigma) ~ 1 + (1 | school)",
        "eight_schools",
        {"Intercept": "normal(0, 5)", "sd": "cauchy(0, 5)"},
        0.95,
    ),
    "sleepstudy": (
        "Reaction ~ 1 + Days + (1 + Days | Subject)",
        "sleepstudy",
        {
            "Intercept": "normal(0, 100)",
            "b": "normal(0, 100)",
            "sd": "normal(0, 50)",
            "sigma": "normal(0, 50)",
            "cor": "lkj(2)",
        },
        0.9,
    ),
    "radon": (
        "log_radon ~ 1 + floor + (1 + floor || county)",
        "radon",
        {
            "Intercept": "normal(0, 10)",
            "b": "normal(0, 10)",
            "sd": "normal(0, 1)",
            "sigma": "normal(0, 1)",
        },
        0.9,
    ),
}


def _fit(name, method, seed):
    formula, dataset, priors, target = MODELS[name]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = ml.fit(
            formula,
            ml.datasets.load(dataset),
            priors=priors,
            method=method,
            seed=seed,
            progress=False,
            target_accept=target,
        )
    return f, time.perf_counter() - start


def _row(f, wall):
    names = f.spec.parameter_names
    ess = min(float(az.ess(f.posterior.draws[n], method="bulk")) for n in names)
    timings = dict(f.posterior.timings)
    sampling = timings.get("warmup_and_sampling", wall)
    divergent = int(np.asarray(f.posterior.sample_stats["diverging"]).sum())
    return {
        "wall_s": round(wall, 2),
        "compile_s": round(timings.get("compile", 0.0), 2),
        "sampling_s": round(sampling, 2),
        "min_ess_bulk": round(ess),
        "min_ess_per_s": round(ess / sampling, 1),
        "divergent": divergent,
    }


def _z(a, b):
    """Largest |mean difference| / hypot(MCSE) over the named parameters."""
    worst = 0.0
    for n in a.spec.parameter_names:
        x, y = a.posterior.draws[n], b.posterior.draws[n]
        se = np.hypot(float(az.mcse(x)), float(az.mcse(y)))
        worst = max(worst, abs(x.mean() - y.mean()) / se)
    return round(worst, 2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    if args.cold:  # before httpstan reads its cache folder
        import os
        import tempfile

        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()
        os.environ["MULTILEVEL_CACHE"] = tempfile.mkdtemp()
    from multilevel.engines.stan import stan_backend

    backend, why = stan_backend()
    if backend is None:
        raise SystemExit(f"no Stan backend: {why}")
    results = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "backend": backend,
        "multilevel": ml.__version__,
        "cold_caches": bool(args.cold),
        "models": {},
    }
    for name in MODELS:
        stan_first, wall_first = _fit(name, "stan", 1)
        stan_again, wall_again = _fit(name, "stan", 2)
        nuts, wall_nuts = _fit(name, "nuts", 1)
        results["models"][name] = {
            "stan_first": _row(stan_first, wall_first),
            "stan_cached": _row(stan_again, wall_again),
            "nuts": _row(nuts, wall_nuts),
            "max_abs_z_stan_vs_nuts": _z(stan_again, nuts),
        }
        print(name, json.dumps(results["models"][name]), flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
