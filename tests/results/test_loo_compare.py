"""``ml.loo_compare``: the table of brms's ``loo_compare`` / ArviZ's ``compare``, checked
against ``arviz.compare`` on the same fits (both ArviZ lines), with warnings for high
Pareto k and clear errors for fits that cannot be compared."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from _fitted import fake_fit
from multilevel.posterior import Posterior
from multilevel.results.arviz_bridge import _arviz, is_arviz_1
from multilevel.results.compare import COMPARE_COLUMNS, pareto_k_table
from multilevel.results.fit import Fit

N = 30


def _normal_fit(y: np.ndarray, *, known_mean: float | None = None, seed: int = 0) -> Fit:
    """``y ~ 1`` with exact posterior draws (Jeffreys prior); ``known_mean`` fixes mu (a
    worse model when it is off)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if known_mean is None:
        ss = np.sum((y - y.mean()) ** 2)
        sigma2 = ss / 2 / rng.gamma((n - 1) / 2, size=(4, 1000))
        mu = rng.normal(y.mean(), np.sqrt(sigma2 / n))
    else:
        ss = np.sum((y - known_mean) ** 2)
        sigma2 = ss / 2 / rng.gamma(n / 2, size=(4, 1000))
        mu = np.full(sigma2.shape, known_mean)
    log_lik = stats.norm.logpdf(y, mu[..., None], np.sqrt(sigma2)[..., None])
    spec = fake_fit("y ~ 1", pd.DataFrame({"y": y})).spec
    posterior = Posterior(
        draws={"b_Intercept": mu, "sigma": np.sqrt(sigma2)},
        sample_stats={"lp": np.zeros(mu.shape)},
        engine="exact",
        log_likelihood=log_lik,
    )
    return Fit(spec, posterior)


@pytest.fixture(scope="module")
def fits():
    y = np.random.default_rng(2).normal(1.0, 1.0, N)
    return {
        "free": _normal_fit(y, seed=1),
        "zero": _normal_fit(y, known_mean=0.0, seed=2),
        "near": _normal_fit(y, known_mean=0.9, seed=3),
    }


def test_loo_compare_matches_arviz_compare(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)  # no high k here
        table = ml.loo_compare(
            fits["zero"], fits["free"], fits["near"], names=["zero", "free", "near"]
        )
    assert list(table.columns) == list(COMPARE_COLUMNS)
    az = _arviz()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unrounded = {"round_to": "none"} if is_arviz_1() else {}  # 1.x rounds by default
        reference = az.compare({name: fit._idata for name, fit in fits.items()}, **unrounded)
    elpd, p = ("elpd", "p") if is_arviz_1() else ("elpd_loo", "p_loo")
    assert list(table.index) == list(reference.index)  # the same order, best first
    ref = reference.loc[table.index]
    np.testing.assert_allclose(table["elpd_loo"], ref[elpd].astype(float), rtol=1e-10)
    np.testing.assert_allclose(table["se"], ref["se"].astype(float), rtol=1e-10)
    np.testing.assert_allclose(table["p_loo"], ref[p].astype(float), rtol=1e-10)
    # ArviZ 0.2x gives the differences as positive numbers, 1.x (and brms) as negative ones
    np.testing.assert_allclose(
        table["elpd_diff"], -np.abs(ref["elpd_diff"].astype(float)), atol=1e-10
    )
    np.testing.assert_allclose(table["se_diff"], ref["dse"].astype(float), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(table["looic"], -2 * table["elpd_loo"])
    assert table["elpd_diff"].iloc[0] == 0 and (table["elpd_diff"].iloc[1:] < 0).all()
    assert table.index[-1] == "zero"  # the mean is about 1, so mu = 0 is the worst
    assert (table["n_high_k"] == 0).all()


def test_default_names_and_a_mapping(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_position = ml.loo_compare(fits["free"], fits["zero"])
        by_mapping = ml.loo_compare({"free": fits["free"], "zero": fits["zero"]})
    assert list(by_position.index) == ["fit1", "fit2"]
    np.testing.assert_allclose(by_position.to_numpy(), by_mapping.to_numpy())


def test_high_pareto_k_warns_with_the_models_name():
    y = np.random.default_rng(3).normal(1.0, 1.0, 20)
    y[0] = 8.0
    with pytest.warns(ml.ConvergenceWarning, match=r"^outlier: PSIS-LOO is unreliable"):
        table = ml.loo_compare(
            {"outlier": _normal_fit(y, seed=4), "fixed": _normal_fit(y, known_mean=1.0)}
        )
    assert table.loc["outlier", "n_high_k"] >= 1


def test_fits_that_cannot_be_compared(fits):
    reml = ml.fit("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), method="reml")
    with pytest.raises(ml.DataError, match="LOO needs posterior draws"):
        ml.loo_compare(fits["free"], reml)
    other = _normal_fit(np.arange(5.0))
    with pytest.raises(ml.DataError, match="same rows"):
        ml.loo_compare(fits["free"], other)
    with pytest.raises(ValueError, match="at least two"):
        ml.loo_compare(fits["free"])


def test_pareto_k_table_counts():
    table = pareto_k_table([0.1, 0.69, 0.71, 1.0, 1.01], good_k=0.7)
    assert table["rows"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(table["share"].sum(), 1.0)
