"""The one cache of fitted reference models shared by the tests: each fit is made once per
test process (``functools.cache``) by whichever test asks first.

- :func:`small_fit`: ``y ~ 1 + x + (1 | g)`` on :func:`simulated` data (the exact gaussian
  engine, 2 chains x 200 draws): the results tests' fit (predict, loo, ArviZ, seeds);
- :func:`engine_fit`: a small fit by each engine (conjugate, exact, NUTS, REML, ML), for the
  tests that must see every engine (saved fits);
- :func:`fake_fit`: fits with hand-made draws, whose predictions can be computed by hand.

The command-line tests' run folders (written by ``multilevel fit``) are in ``_cli_runs.py``;
the NUTS fit here repeats their NUTS run, so the compiled sampler is shared when both run in
one process."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

import multilevel as ml
from multilevel.design import design
from multilevel.formula import parse
from multilevel.posterior import Posterior
from multilevel.results.fit import Fit
from multilevel.spec.model import build_spec

#: The shared NUTS fit's formula: small, since compiling the sampler dominates its cost.
FORMULA = "y ~ 1 + x + (1 | g)"


def simulated(n: int = 80, seed: int = 5) -> pd.DataFrame:
    """Gaussian data with a correlated (intercept, slope) block on g and an intercept on h."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 6, n)
    h = rng.integers(0, 4, n)
    x = rng.normal(size=n)
    u = rng.normal(0, [0.8, 0.3], size=(6, 2))
    v = rng.normal(0, 0.5, size=4)
    y = 1.0 + 0.5 * x + u[g, 0] + u[g, 1] * x + v[h] + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {"y": y, "x": x, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]},
        index=pd.RangeIndex(100, 100 + n),
    )


@functools.cache
def small_fit() -> Fit:
    """The shared NUTS fit of :data:`FORMULA` (2 chains x 200 draws)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        return ml.fit(
            FORMULA,
            simulated(),
            chains=2,
            draws=200,
            warmup=200,
            seed=7,
            progress=False,
        )


def fake_fit(
    formula: str,
    data: pd.DataFrame,
    family: str = "gaussian",
    *,
    dpars=None,
    fixed: dict | None = None,
    chains: int = 2,
    draws: int = 500,
    seed: int = 0,
    log_likelihood: np.ndarray | None = None,
) -> Fit:
    """A Fit whose draws are random numbers of the right shapes and supports.

    ``fixed`` sets some parameters to a constant in every draw.
    """
    rng = np.random.default_rng(seed)
    spec = build_spec(design(parse(formula, dpars=dpars), data, family=family), family)
    shape = (chains, draws)
    out = {}
    for name in spec.parameter_names:
        if name.startswith("cor_"):
            out[name] = rng.uniform(-0.9, 0.9, shape)
        elif name.startswith("sd_") or name in ("sigma", "shape", "phi"):
            out[name] = rng.uniform(0.3, 1.5, shape)
        elif name == "nu":
            out[name] = rng.uniform(2.0, 10.0, shape)
        else:
            out[name] = rng.normal(0.0, 0.5, shape)
    for block, cov in zip(spec.design.blocks, spec.covariance, strict=True):
        out[cov.key] = rng.normal(0.0, 0.7, shape + (block.n_levels, block.q))
    for name, part in spec.design.dpars.items():
        for block, cov in zip(part.blocks, spec.dpars[name].covariance, strict=True):
            out[cov.key] = rng.normal(0.0, 0.3, shape + (block.n_levels, block.q))
    for name, value in (fixed or {}).items():
        out[name] = np.full(shape, float(value))
    stats = {"lp": rng.normal(size=shape), "diverging": np.zeros(shape, dtype=bool)}
    posterior = Posterior(
        draws=out,
        sample_stats=stats,
        engine="hand-made",
        reason="test draws",
        log_likelihood=log_likelihood,
    )
    return Fit(spec, posterior)


def flat(array) -> np.ndarray:
    """``(chains, draws, ...)`` -> ``(chains * draws, ...)`` in float64."""
    array = np.asarray(array, dtype=float)
    return array.reshape((-1,) + array.shape[2:])


#: The engines :func:`engine_fit` covers: the four of ``multilevel.fit`` and both point methods.
ENGINES = ("conjugate", "exact", "nuts", "reml", "ml")


def _quiet(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        warnings.simplefilter("ignore", ml.DataWarning)  # the conjugate engine's grid on g
        return make()


@functools.cache
def engine_fit(engine: str):
    """A small fit by ``engine`` (a Fit, or a PointFit for reml / ml)."""
    from _cli_runs import FORMULA as CLI_FORMULA
    from _cli_runs import simulated as cli_data

    if engine == "exact":
        fit = small_fit()  # y ~ 1 + x + (1 | g): the exact gaussian engine
    elif engine == "conjugate":
        fit = _quiet(
            lambda: ml.fit(
                "y ~ 1 + (1 | g)", cli_data(), chains=2, draws=200, seed=3, progress=False
            )
        )
    elif engine == "nuts":
        fit = _quiet(
            lambda: ml.fit(
                CLI_FORMULA,
                cli_data(),
                method="nuts",
                chains=2,
                draws=200,
                warmup=200,
                seed=7,
                priors={"sd": "normal(0, 1)"},
                progress=False,
            )
        )
    else:
        fit = ml.fit(
            "Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), method=engine
        )
    expected = {"reml": None, "ml": None}.get(engine, engine)
    if expected is not None:
        assert fit.posterior.engine == expected, fit.posterior.engine
    return fit
