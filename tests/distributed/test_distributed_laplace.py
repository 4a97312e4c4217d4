"""lme4's glmer estimates (the laplace engine) of a Dask frame against the same fit in memory:
PIRLS passes over the partitions find the same modes, so the Laplace deviance agrees to
rounding and the estimates to the optimizer's resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import DataError, EngineError

dd = pytest.importorskip("dask.dataframe")


def simulate(family: str, n=2500, groups=30, seed=3):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    eta = -0.3 + 0.7 * x + 0.8 * rng.normal(size=groups)[g]
    if family == "poisson":
        y = rng.poisson(np.exp(eta))
        return pd.DataFrame({"y": y, "x": x, "g": [f"s{k}" for k in g]})
    trials = rng.integers(1, 6, n)
    y = rng.binomial(trials, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "t": trials, "x": x, "g": [f"s{k}" for k in g]})


@pytest.mark.parametrize(
    ("family", "formula"),
    [("poisson", "y ~ x + (1 | g)"), ("binomial", "y | trials(t) ~ x + (1 + x | g)")],
)
def test_laplace_on_dask_equals_memory(family, formula):
    frame = simulate(family)
    local = ml.fit(formula, frame, family=family, method="laplace").estimate
    remote = ml.fit(
        formula, dd.from_pandas(frame, npartitions=4), family=family, method="laplace"
    ).estimate
    assert "PIRLS passes over the partitions" in remote.reason
    assert remote.loglik == pytest.approx(local.loglik, rel=1e-10)
    for name, value in local.estimates.items():
        assert remote.estimates[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    for name in local.std_errors:
        if np.isfinite(local.std_errors[name]):
            assert remote.std_errors[name] == pytest.approx(local.std_errors[name], rel=1e-3)
    np.testing.assert_allclose(
        remote.group_effects[0], local.group_effects[0], rtol=1e-4, atol=1e-5
    )


def test_laplace_on_dask_refusals():
    frame = simulate("poisson", n=400)
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(EngineError, match="method='laplace'"):
        ml.fit("y ~ x + (1 | g)", ddf, family="poisson")  # a posterior needs the rows
    with pytest.raises(EngineError, match="nagq=1"):
        ml.fit("y ~ x + (1 | g)", ddf, family="poisson", method="laplace", nagq=5)
    bad = frame.copy()
    bad.loc[390, "y"] = -1
    with pytest.raises(DataError, match="partition 1 of 2"):
        ml.fit(
            "y ~ x + (1 | g)",
            dd.from_pandas(bad, npartitions=2),
            family="poisson",
            method="laplace",
        )
