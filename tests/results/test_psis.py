"""``psis_loo``: the vectorized PSIS-LOO against the installed ArviZ's ``loo``, number for
number (radon, heavy tails, one chain, ties, a constant row), and its blocks of rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.errors import DataError
from multilevel.results import arviz_bridge, psis
from multilevel.results.arviz_bridge import is_arviz_1
from multilevel.results.psis import psis_loo, relative_efficiency

RTOL = 1e-10
INSTALLED = "arviz1" if is_arviz_1() else "arviz0"
OTHER = "arviz0" if is_arviz_1() else "arviz1"


def _ar1(rng, shape, phi):
    """Chains of an AR(1) process with unit marginal variance, along axis 1."""
    e = rng.normal(size=shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0]
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi**2) * e[:, t]
    return x


def _synthetic(chains=4, draws=1000, n=200, seed=5):
    """A posterior with autocorrelated chains (r_eff < 1) and a Gaussian log-likelihood
    ``-(y_i - tau_i z)^2 / 2``, whose importance ratios have Pareto tails with k ~ tau_i^2:
    from 0.1 to 1.7."""
    rng = np.random.default_rng(seed)
    posterior = {
        "mu": _ar1(rng, (chains, draws), 0.6),
        "r": _ar1(rng, (chains, draws * 3), 0.3).reshape(chains, draws, 3),
    }
    z = _ar1(rng, (chains, draws), 0.5)
    tau, y = np.linspace(0.3, 1.3, n), rng.normal(size=n)
    return -0.5 * (y - tau * z[..., None]) ** 2, posterior


def _arviz_loo(log_lik, posterior):
    data = arviz_bridge.from_groups({"posterior": posterior, "log_likelihood": {"y": log_lik}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arviz_bridge.loo(data)


def _assert_same(mine, theirs):
    assert mine.elpd_loo == pytest.approx(arviz_bridge.elpd(theirs), rel=RTOL)
    assert mine.se == pytest.approx(float(theirs["se"]), rel=RTOL)
    assert mine.p_loo == pytest.approx(
        arviz_bridge.effective_parameters(theirs), rel=RTOL, abs=1e-10
    )
    assert mine.looic == -2 * mine.elpd_loo
    np.testing.assert_allclose(mine.elpd_i, arviz_bridge.elpd_pointwise(theirs), rtol=RTOL)
    # NaN and inf (no tail fitted) in the same places
    np.testing.assert_allclose(mine.pareto_k, np.asarray(theirs["pareto_k"]), rtol=RTOL, atol=1e-14)
    assert mine.good_k == theirs["good_k"]
    assert mine.warning == bool(theirs["warning"])
    assert (mine.n_samples, mine.n_data_points) == (theirs["n_samples"], theirs["n_data_points"])


def test_radon_matches_fit_loo():
    frame = ml.datasets.load("radon")
    fit = ml.fit(
        "log_radon ~ floor + log_uppm + (1 | county)",
        frame,
        family="gaussian",
        seed=1,
        progress=False,
    )
    posterior = fit._idata.posterior  # the data fit.loo() hands ArviZ
    r_eff = relative_efficiency(v.values for v in posterior.data_vars.values())
    mine = psis_loo(fit.posterior.log_likelihood, r_eff=r_eff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_same(mine, fit.loo())
    assert 0.9 < r_eff < 1.0 and not mine.warning


def test_heavy_tails_match_arviz_with_k_above_1():
    log_lik, posterior = _synthetic()
    r_eff = relative_efficiency(posterior.values())
    assert r_eff < 0.9  # autocorrelated chains: a longer tail than r_eff = 1 gives
    mine = psis_loo(log_lik, r_eff=r_eff)
    _assert_same(mine, _arviz_loo(log_lik, posterior))
    assert np.sum(mine.pareto_k > 0.7) > 50 and np.sum(mine.pareto_k > 1) > 20
    assert mine.warning


def test_one_chain_matches_arviz():
    log_lik, posterior = _synthetic(chains=1, draws=1500, n=50)
    assert relative_efficiency(posterior.values()) == 1.0  # ArviZ's rule with one chain
    mine = psis_loo(log_lik)
    _assert_same(mine, _arviz_loo(log_lik, posterior))
    assert mine.good_k == pytest.approx(1 - 1 / np.log10(1500))


def test_tied_log_likelihoods_match_arviz():
    # few distinct values: ties at the cutoff (ArviZ 0.2x shortens the tail) and a tail whose
    # first quartile is its minimum (ArviZ 1.x fits nothing: k = NaN)
    rng = np.random.default_rng(2)
    _, posterior = _synthetic(n=1)
    log_lik = -rng.poisson(3.0, size=(4, 1000, 20)).astype(float)
    log_lik[..., :5] = np.round(_synthetic(n=5)[0], 1)
    r_eff = relative_efficiency(posterior.values())
    _assert_same(psis_loo(log_lik, r_eff=r_eff), _arviz_loo(log_lik, posterior))
    assert np.isnan(psis_loo(log_lik, r_eff=r_eff, rules="arviz1").pareto_k).sum() > 10


def test_a_constant_row_as_arviz():
    log_lik, posterior = _synthetic(n=20)
    log_lik[..., 3] = -1.25
    r_eff = relative_efficiency(posterior.values())
    if INSTALLED == "arviz1":  # ArviZ 1.x cannot fit the tail and raises
        with pytest.raises(ValueError):
            _arviz_loo(log_lik, posterior)
        with pytest.raises(DataError, match=r"row\(s\) 3: their largest importance ratios"):
            psis_loo(log_lik, r_eff=r_eff)
    else:  # ArviZ 0.2x fits no tail (k = inf) and keeps the raw weights
        mine = psis_loo(log_lik, r_eff=r_eff)
        _assert_same(mine, _arviz_loo(log_lik, posterior))
    legacy = psis_loo(log_lik, r_eff=r_eff, rules="arviz0")
    assert legacy.pareto_k[3] == np.inf and legacy.elpd_i[3] == pytest.approx(-1.25, abs=1e-12)


def test_too_few_draws():
    log_lik, _ = _synthetic(chains=1, draws=20, n=3)
    with pytest.raises(DataError, match="at least 5 draws, but 20 draws give 4"):
        psis_loo(log_lik, rules="arviz1")
    assert np.all(psis_loo(log_lik, rules="arviz0").pareto_k == np.inf)  # tail of 4 draws
    with pytest.raises(DataError, match="at least 2 draws"):
        psis_loo(log_lik[:, :1])


def test_the_other_arviz_line_is_close():
    # 4000 draws, r_eff = 1: ArviZ 1.x smooths floor(3 sqrt(4000)) = 189 draws, 0.2x 190
    log_lik, _ = _synthetic(n=50)
    one, other = psis_loo(log_lik, rules=INSTALLED), psis_loo(log_lik, rules=OTHER)
    assert other.elpd_loo == pytest.approx(one.elpd_loo, rel=1e-3)
    np.testing.assert_allclose(other.pareto_k, one.pareto_k, atol=0.1)
    assert other.se != one.se  # ddof 0 in ArviZ 0.2x, 1 in 1.x


def test_blocks_of_rows_give_the_same_numbers(monkeypatch):
    log_lik, _ = _synthetic(n=60)
    whole = {rules: psis_loo(log_lik, r_eff=0.8, rules=rules) for rules in ("arviz1", "arviz0")}
    monkeypatch.setattr(psis, "_CHUNK_VALUES", 50_000)  # 6 rows a block, on several threads
    for rules, one_block in whole.items():
        blocks = psis_loo(log_lik, r_eff=0.8, rules=rules)
        np.testing.assert_array_equal(blocks.elpd_i, one_block.elpd_i)
        np.testing.assert_array_equal(blocks.pareto_k, one_block.pareto_k)
        assert blocks.se == one_block.se


def test_bad_input():
    with pytest.raises(ValueError, match="chains, draws, observations"):
        psis_loo(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="rules must be"):
        psis_loo(np.zeros((1, 100, 3)), rules="loo")
