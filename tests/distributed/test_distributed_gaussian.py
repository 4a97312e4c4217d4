"""Gaussian fits of a Dask frame against the same fits in memory: the cross products, the
default priors, REML/ML estimates, the exact engine's seeded draws, lazy predictions and log
densities; bad data named by partition; unsupported models refused."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import DataError, DataWarning, EngineError
from multilevel.linalg.crossprod import cross_products

dd = pytest.importorskip("dask.dataframe")

FORMULA = "y ~ x + cat + (1 + x | g) + (1 | h)"


def simulate(n=4000, seed=1):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 60, n)
    h = rng.integers(0, 12, n)
    x = rng.normal(size=n)
    cat = rng.choice(["lo", "mid", "hi"], n)
    y = (
        2.0
        + 0.5 * x
        + np.where(cat == "hi", 1.0, 0.0)
        + rng.normal(size=60)[g]
        + 0.3 * rng.normal(size=60)[g] * x
        + 0.5 * rng.normal(size=12)[h]
        + rng.normal(size=n)
    )
    frame = pd.DataFrame({"y": y, "x": x, "cat": cat, "g": [f"g{k}" for k in g], "h": h})
    return frame.sort_values("g", kind="stable").reset_index(drop=True)  # levels by partition


@pytest.fixture(scope="module")
def data():
    frame = simulate()
    return frame, dd.from_pandas(frame, npartitions=6)


def test_statistics_and_priors_equal_in_memory(data):
    frame, ddf = data
    spec = ml.build_spec(ml.design(FORMULA, frame), "gaussian")
    from multilevel.fit import _spec

    remote = _spec(FORMULA, ddf, "gaussian", None)
    assert remote.design.n == 0 and remote.n_rows == len(frame)
    a, b = cross_products(spec.design), remote.statistics.cross_products
    # levels sorted as in memory although each partition holds only some of them
    assert list(remote.design.blocks[0].levels) == list(spec.design.blocks[0].levels)
    for name in ("XtX", "Xty", "ZtX", "Zty"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose((b.ZtZ - a.ZtZ).toarray(), 0.0, atol=1e-9)
    for k in a.diag:
        np.testing.assert_allclose(b.diag[k], a.diag[k], rtol=1e-12)
    assert list(remote.priors) == list(spec.priors)
    for name, prior in spec.priors.items():  # SDs merged over partitions: equal to rounding
        assert remote.priors[name].dist == prior.dist
        np.testing.assert_allclose(remote.priors[name].params, prior.params, rtol=1e-12)


def test_reml_and_ml_agree_with_memory(data):
    frame, ddf = data
    for method in ("reml", "ml"):
        local = ml.fit(FORMULA, frame, method=method).estimate
        remote = ml.fit(FORMULA, ddf, method=method).estimate
        assert "data on Dask: 4,000 rows in 6 partitions" in remote.reason
        for name, value in local.estimates.items():
            # the profiled deviance is flat to rounding at the optimum: agreement to the
            # optimizer's resolution, with sums taken in another order
            assert remote.estimates[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
        assert remote.loglik == pytest.approx(local.loglik, rel=1e-12)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::multilevel.errors.ConvergenceWarning")  # short chains
def test_exact_engine_same_seeded_draws(data):
    frame, ddf = data
    options = {"chains": 2, "draws": 200, "warmup": 200, "seed": 7, "progress": False}
    local, remote = ml.fit(FORMULA, frame, **options), ml.fit(FORMULA, ddf, **options)
    assert remote.posterior.engine == "exact"
    for name in local.spec.parameter_names:
        np.testing.assert_allclose(
            remote.posterior.draws[name], local.posterior.draws[name], rtol=1e-7, atol=1e-9
        )
    table = remote.predict(ddf, kind="response", seed=3)
    assert type(table).__module__.startswith("dask")
    np.testing.assert_allclose(
        table.compute()["mean"].to_numpy(), local.predict(frame)["mean"].to_numpy(), atol=0.2
    )
    density = ml.distributed.log_density(remote, ddf).sum().compute()
    assert density == pytest.approx(
        ml.distributed.log_density(local, dd.from_pandas(frame, npartitions=1)).sum().compute(),
        rel=1e-6,
    )


def test_lazy_prediction_and_refusals(data):
    frame, ddf = data
    remote = ml.fit(FORMULA, ddf, method="reml")
    local = ml.fit(FORMULA, frame, method="reml")
    predicted = remote.predict(ddf)
    assert type(predicted).__module__.startswith("dask")
    np.testing.assert_allclose(
        predicted.compute()["estimate"].to_numpy(), local.predict(frame).to_numpy(), atol=1e-5
    )
    with pytest.raises(DataError, match="stayed on Dask"):
        remote.predict()
    with pytest.raises(EngineError, match="reads every row"):
        ml.fit(FORMULA, ddf, method="nuts")
    binary = ddf.assign(y=(ddf.y > 2).astype(int))
    with pytest.raises(EngineError, match="bernoulli"):
        ml.fit(FORMULA, binary, family="bernoulli")
    with pytest.raises(DataError, match="scale"):
        ml.fit("y ~ scale(x) + (1 | g)", ddf, method="reml")
    one_each = frame.assign(row=[f"r{k}" for k in range(len(frame))])  # lme4 refuses it too
    with pytest.raises(DataError, match="one row per level"):
        ml.fit("y ~ x + (1 | row)", dd.from_pandas(one_each, npartitions=3), method="reml")


def test_bad_partition_is_named_and_missing_rows_counted():
    frame = simulate(n=1200, seed=2)
    bad = frame.copy()
    bad.loc[1000, "x"] = np.inf
    with pytest.raises(DataError, match=r"partition 4 of 5.*infinite|partition 4 of 5.*inf"):
        ml.fit(FORMULA, dd.from_pandas(bad, npartitions=5), method="reml")
    holes = frame.copy()
    holes.loc[[3, 700], "x"] = np.nan
    with pytest.warns(DataWarning, match="2 of 1,200 rows are left out"):
        remote = ml.fit(FORMULA, dd.from_pandas(holes, npartitions=5), method="reml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        local = ml.fit(FORMULA, holes, method="reml")
    assert remote.estimate.loglik == pytest.approx(local.estimate.loglik, rel=1e-12)
    with pytest.raises(DataError, match=r"partition [0-4] of 5.*na_action='error'"):
        ml.fit(FORMULA, dd.from_pandas(holes, npartitions=5), method="reml", na_action="error")


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ x + offset(o) + (1 | a/b)",  # nested: the a:b combinations that occur
        "y | se(s) ~ x + (1 | a)",  # known SEs: precision weights
        "y ~ x + (1 | mm(m1, m2))",  # multiple membership: the union of two columns' levels
        "y ~ x + (1 | a) + (1 | b)",  # crossed, integer labels sorted numerically
    ],
)
def test_other_structures_equal_memory(formula):
    rng = np.random.default_rng(11)
    n = 1500
    a = rng.integers(0, 8, n)
    b = rng.integers(0, 5, n)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "o": rng.normal(size=n) * 0.1,
            "s": rng.uniform(0.5, 2.0, n),
            "a": a,
            "b": b,
            "m1": [f"m{k}" for k in rng.integers(0, 20, n)],
            "m2": [f"m{k}" for k in rng.integers(5, 25, n)],
        }
    )
    frame["y"] = frame.x + rng.normal(size=8)[a] + 0.5 * rng.normal(size=(8, 5))[a, b]
    frame["y"] += rng.normal(size=n) * frame.s
    frame = frame.sort_values(["a", "b"], kind="stable").reset_index(drop=True)
    local = ml.fit(formula, frame, method="reml").estimate
    remote = ml.fit(formula, dd.from_pandas(frame, npartitions=5), method="reml").estimate
    assert remote.loglik == pytest.approx(local.loglik, rel=1e-12)
    for name, value in local.estimates.items():
        assert remote.estimates[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    for mine, theirs in zip(remote.group_effects, local.group_effects, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
