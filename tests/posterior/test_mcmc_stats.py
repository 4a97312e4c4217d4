"""Our vectorized summary statistics equal ArviZ's, parameter by parameter."""

from __future__ import annotations

import contextlib

import arviz as az
import numpy as np
import pytest

from multilevel.posterior.mcmc_stats import summary_statistics
from multilevel.results.arviz_bridge import from_groups, is_arviz_1

COLUMNS = ["mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]


def _arviz(draws: np.ndarray) -> dict[str, np.ndarray]:
    idata = from_groups({"posterior": {"x": draws}})
    # the tail ESS of Vehtari et al. (2021), Stan and ArviZ 0.x is that of the 5% and 95%
    # quantiles; ArviZ 1.x takes its tails from the credible-interval mass (89% by default)
    tails = az.rc_context({"stats.ci_prob": 0.95}) if is_arviz_1() else contextlib.nullcontext()
    with tails:
        table = az.summary(idata, kind="all", round_to="none")
    return {c: table[c].to_numpy() for c in COLUMNS}


def _ar1(rng, chains, n, p, phi):
    """AR(1) chains with autocorrelation ``phi`` per parameter, offsets per chain."""
    x = np.empty((chains, n, p))
    x[:, 0] = rng.normal(size=(chains, p))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=(chains, p))
    return x


CASES = {
    "independent": lambda rng: rng.normal(size=(4, 400, 6)),
    "autocorrelated": lambda rng: _ar1(rng, 4, 500, 5, np.array([0.0, 0.5, 0.9, 0.97, -0.3])),
    "odd draws, 3 chains": lambda rng: _ar1(rng, 3, 301, 4, 0.8) + np.arange(4),
    "unmixed chains": lambda rng: rng.normal(size=(4, 200, 3)) + np.arange(4)[:, None, None],
    "skewed and heavy": lambda rng: np.exp(rng.standard_t(3, size=(2, 250, 4))),
    "discrete with ties": lambda rng: rng.poisson(1.5, size=(4, 100, 3)).astype(float),
    "one chain": lambda rng: _ar1(rng, 1, 300, 3, 0.6),
    "tiny": lambda rng: rng.normal(size=(2, 6, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_equals_arviz(case):
    draws = CASES[case](np.random.default_rng(len(case)))
    ours, theirs = summary_statistics(draws), _arviz(draws)
    for c in COLUMNS:
        # Stan, posterior and ArviZ 0.x's summary fold the draws around the median of all of
        # them; ArviZ 1.x around the median of the split chains, which leave out the middle
        # draw of an odd number: the folded R-hat then differs in the fifth digit
        odd = c == "r_hat" and is_arviz_1() and draws.shape[1] % 2
        rtol = 1e-4 if odd else 1e-9
        np.testing.assert_allclose(ours[c], theirs[c], rtol=rtol, atol=1e-12, err_msg=c)
    quantiles = np.quantile(draws.reshape(-1, draws.shape[2]), [0.05, 0.5, 0.95], axis=0)
    for c, q in zip(["q5", "q50", "q95"], quantiles, strict=True):
        np.testing.assert_array_equal(ours[c], q, err_msg=c)


def test_constant_parameter_and_nan_draws_as_arviz():
    rng = np.random.default_rng(5)
    draws = rng.normal(size=(4, 100, 3))
    draws[:, :, 1] = 2.5  # constant: ESS = all draws, R-hat undefined
    draws[1, 7, 2] = np.nan
    ours = summary_statistics(draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        theirs = _arviz(draws)
    for c in COLUMNS:
        np.testing.assert_allclose(ours[c], theirs[c], rtol=1e-9, err_msg=c)


def test_too_few_draws_give_nan_and_bad_shapes_are_refused():
    out = summary_statistics(np.ones((2, 3, 1)))
    assert np.isnan(out["ess_bulk"]).all() and out["mean"][0] == 1.0
    with pytest.raises(ValueError, match="chains, draws, parameters"):
        summary_statistics(np.ones((2, 3)))


def test_many_parameters_in_chunks(monkeypatch):
    import multilevel.posterior.mcmc_stats as m

    draws = _ar1(np.random.default_rng(9), 4, 200, 50, 0.7)
    whole = summary_statistics(draws)
    monkeypatch.setattr(m, "_CHUNK_VALUES", 800 * 7)  # 7 parameters per chunk
    chunked = summary_statistics(draws)
    for c in COLUMNS:
        np.testing.assert_allclose(whole[c], chunked[c], rtol=1e-12)
