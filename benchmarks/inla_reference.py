"""Reference posteriors for the nested-Laplace engine (``method="inla"``): long NUTS runs of
the same models with the same (default brms) priors, stored as JSON in
``tests/reference/inla/<model>.json`` (the data of the simulated models included).

R-INLA is not available here (not on CRAN or Debian; the ``pyinla`` wheel needs an
activation code), so our NUTS engine is the reference: 4 chains x 5,000 draws after 1,000
warmup, fixed seed. Each file holds per parameter the mean, sd, 5% and 95% quantiles and
their Monte Carlo standard errors (ArviZ's ``mcse``), the run's R-hat / ESS / divergences,
the settings, versions and the command.

Run from the repository root::

    python benchmarks/inla_reference.py                 # every model
    python benchmarks/inla_reference.py --models cbpp   # one
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml

OUT = Path(__file__).resolve().parents[1] / "tests" / "reference" / "inla"
SETTINGS = {"chains": 4, "draws": 5000, "warmup": 1000, "seed": 20240518}


def _poisson_slope():
    rng = np.random.default_rng(11)
    groups, per = 40, 15
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    sd = np.array([0.5, 0.3])
    cor = np.array([[1.0, 0.3], [0.3, 1.0]])
    r = rng.multivariate_normal(np.zeros(2), sd[:, None] * cor * sd[None, :], size=groups)
    eta = 0.5 + 0.3 * x + r[g, 0] + r[g, 1] * x
    y = rng.poisson(np.exp(eta))
    return pd.DataFrame({"y": y, "x": np.round(x, 6), "g": [f"g{k:02d}" for k in g]})


def _bernoulli():
    rng = np.random.default_rng(12)
    groups, per = 50, 12
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    r = rng.normal(0.0, 0.8, size=groups)
    eta = -0.3 + 0.7 * x + r[g]
    y = (rng.uniform(size=groups * per) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": np.round(x, 6), "g": [f"g{k:02d}" for k in g]})


def _poisson_many_rows():
    rng = np.random.default_rng(13)
    groups, per = 12, 150
    g = np.repeat(np.arange(groups), per)
    r = rng.normal(0.0, 0.4, size=groups)
    y = rng.poisson(np.exp(1.0 + r[g]))
    return pd.DataFrame({"y": y, "g": [f"g{k:02d}" for k in g]})


#: name -> (formula, family, data maker (None: a bundled data set), data set name)
MODELS = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", None, "cbpp"),
    "poisson_slope": ("y ~ x + (1 + x | g)", "poisson", _poisson_slope, None),
    "bernoulli": ("y ~ x + (1 | g)", "bernoulli", _bernoulli, None),
    "poisson_many_rows": ("y ~ 1 + (1 | g)", "poisson", _poisson_many_rows, None),
}


def reference(name: str) -> dict:
    import arviz as az

    formula, family, make, dataset = MODELS[name]
    data = ml.datasets.load(dataset) if make is None else make()
    start = time.perf_counter()
    fit = ml.fit(formula, data, family=family, method="nuts", progress=False, **SETTINGS)
    seconds = time.perf_counter() - start
    draws = fit.posterior.draws
    names = [k for k in draws if not k.startswith("r_") and np.ndim(draws[k]) == 2]
    parameters = {}
    for key in names:
        x = np.asarray(draws[key], dtype=float)
        q05, q95 = np.quantile(x, [0.05, 0.95])
        parameters[key] = {
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)),
            "q05": float(q05),
            "q95": float(q95),
            "mcse_mean": float(az.mcse(x, method="mean")),
            "mcse_sd": float(az.mcse(x, method="sd")),
            "mcse_q05": float(az.mcse(x, method="quantile", prob=0.05)),
            "mcse_q95": float(az.mcse(x, method="quantile", prob=0.95)),
            "ess_bulk": float(az.ess(x, method="bulk")),
            "rhat": float(az.rhat(x)),
        }
    diverging = int(np.asarray(fit.posterior.sample_stats.get("diverging", 0)).sum())
    import jax
    import numpyro

    return {
        "model": name,
        "formula": formula,
        "family": family,
        "dataset": dataset,
        "priors": {k: p.to_stan() for k, p in fit.spec.priors.items()},
        "data": None if make is None else data.to_dict(orient="list"),
        "parameters": parameters,
        "divergences": diverging,
        "settings": {**SETTINGS, "method": "nuts"},
        "seconds": seconds,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "jax": jax.__version__,
            "numpyro": numpyro.__version__,
            "arviz": az.__version__,
        },
        "command": "python " + " ".join(sys.argv),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        result = reference(name)
        (OUT / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        worst = max(p["rhat"] for p in result["parameters"].values())
        print(f"{name}: {result['seconds']:.1f} s, max R-hat {worst:.4f}, "
              f"{result['divergences']} divergences")  # fmt: skip


if __name__ == "__main__":
    main()
