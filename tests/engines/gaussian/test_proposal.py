"""The exact engine's independence proposal: a normalized density, draws that follow it, and
tails at least as heavy as a collapsed posterior's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from multilevel.engines._proposal import CORRELATION, OTHER, SCALE, Proposal

KINDS = [OTHER, SCALE, CORRELATION]


@pytest.mark.parametrize("kind", KINDS)
def test_one_coordinate_density_integrates_to_one_and_matches_its_draws(kind):
    q = Proposal(np.array([0.4]), np.array([[0.3]]), np.array([kind]))

    def density(v):
        return float(np.exp(q.log_density(np.array([[v]])))[0])

    total = sum(integrate.quad(density, a, b, limit=200)[0] for a, b in _pieces())
    assert abs(total - 1.0) < 1e-6
    draws = q.sample(np.random.default_rng(1), 4000)[:, 0]
    grid = np.linspace(-60.0, 60.0, 60_001)
    cdf = integrate.cumulative_trapezoid(np.exp(q.log_density(grid[:, None])), grid, initial=0)
    # Kolmogorov–Smirnov at the 0.1% level: a wrong sampler fails by far more
    assert stats.kstest(draws, lambda v: np.interp(v, grid, cdf)).pvalue > 1e-3


def _pieces():
    edges = [-np.inf, -20.0, -2.0, 0.0, 2.0, 20.0, np.inf]
    return list(zip(edges[:-1], edges[1:], strict=True))


def test_two_coordinate_density_integrates_to_one():
    factor = np.array([[0.5, 0.0], [0.2, 0.1]])
    q = Proposal(np.array([1.0, -1.5]), factor, np.array([OTHER, SCALE]))
    a = np.linspace(-40.0, 40.0, 1601)
    b = np.linspace(-60.0, 40.0, 2001)
    grid = np.stack(np.meshgrid(a, b, indexing="ij"), axis=-1).reshape(-1, 2)
    values = np.exp(q.log_density(grid)).reshape(len(a), len(b))
    total = integrate.trapezoid(integrate.trapezoid(values, b, axis=1), a)
    assert abs(total - 1.0) < 2e-3


def test_log_sd_tail_falls_no_faster_than_the_sd_density_at_zero():
    """A posterior whose SD density stays positive at zero falls like exp(log sd) in log sd;
    the proposal must keep up, or the importance weights grow without bound."""
    q = Proposal(np.array([-1.0]), np.array([[0.1]]), np.array([SCALE]))
    x = np.array([[-10.0], [-20.0], [-40.0]])
    gap = q.log_density(x) - x[:, 0]  # log q - log(target tail), up to a constant
    assert np.all(np.diff(gap) > -1e-6)  # the ratio target / proposal does not grow


def test_refit_takes_the_weighted_moments():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 2)) * [1.0, 2.0] + [3.0, -1.0]
    w = np.full(len(x), 1.0 / len(x))
    q = Proposal(np.zeros(2), np.eye(2), np.array([OTHER, SCALE])).refit(x, w)
    np.testing.assert_allclose(q.centre, x.mean(axis=0))
    np.testing.assert_allclose(q.factor @ q.factor.T, np.cov(x.T, bias=True), atol=1e-8)


def test_the_defensive_weight_follows_the_fit_of_the_t_part():
    """A target that is the t part itself keeps the least defensive weight; one with a long
    exponential tail in a log SD keeps more."""
    from multilevel.engines._proposal import _WEIGHTS

    rng = np.random.default_rng(3)
    q = Proposal(np.array([0.0, -1.0]), np.diag([1.0, 0.3]), np.array([OTHER, SCALE]))
    x = q.sample(rng, 4000)
    log_q = q.log_density(x)
    t_only = Proposal(q.centre, q.factor, q.kinds, defensive=1e-300)
    assert q.choose_weight(x, t_only.log_density(x), log_q).defensive == min(_WEIGHTS)
    # log sd with density proportional to sd on (-inf, -1] and a narrow right side
    v = x[:, 1] + 1.0
    heavy = stats.norm.logpdf(x[:, 0]) + np.where(v < 0, v, -0.5 * (v / 0.3) ** 2)
    assert q.choose_weight(x, heavy, log_q).defensive > min(_WEIGHTS)
