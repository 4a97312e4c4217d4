"""Stan-syntax priors: parsing, truncation at zero, densities, errors."""

import numpy as np
import pytest
from scipy import stats

from multilevel import Prior, PriorError, parse_prior


@pytest.mark.parametrize(
    ("text", "dist"),
    [
        ("normal(0, 10)", stats.norm(0, 10)),
        ("student_t(3, 0, 2.5)", stats.t(3, 0, 2.5)),
        ("cauchy(0, 5)", stats.cauchy(0, 5)),
        ("exponential(1)", stats.expon(scale=1)),
        ("gamma(2, 0.1)", stats.gamma(2, scale=10)),
        ("uniform(0, 100)", stats.uniform(0, 100)),
        ("lognormal(1, 0.5)", stats.lognorm(0.5, scale=np.e)),
        ("beta(2, 3)", stats.beta(2, 3)),
    ],
)
def test_densities_match_scipy(text, dist):
    prior = parse_prior(text)
    x = np.array([0.3, 1.7, 4.0])
    np.testing.assert_allclose(prior.logpdf(x), dist.logpdf(x))
    assert parse_prior(prior.to_stan()) == prior


def test_truncation_at_zero_is_half_distribution():
    half = parse_prior("normal(0, 2)").truncated(0.0)
    x = np.array([0.1, 1.0, 3.0])
    np.testing.assert_allclose(half.logpdf(x), stats.halfnorm(scale=2).logpdf(x))
    assert half.logpdf(-0.5) == -np.inf
    shifted = parse_prior("normal(1, 1)").truncated(0.0)
    np.testing.assert_allclose(
        shifted.logpdf(x), stats.norm(1, 1).logpdf(x) - np.log(stats.norm(1, 1).sf(0))
    )
    draws = half.rvs(20_000, np.random.default_rng(0))
    assert draws.min() >= 0 and abs(draws.mean() - 2 * np.sqrt(2 / np.pi)) < 0.05


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("normol(0, 1)", "unknown prior distribution 'normol'.*valid names:.*normal"),
        ("normal(0)", "takes 2 parameter"),
        ("normal(0, -1)", "sigma must be positive"),
        ("normal(0, x)", "argument 'x' is not a number"),
        ("normal 0 1", "cannot read prior"),
        ("uniform(2, 1)", "lower bound must be below upper bound"),
    ],
)
def test_bad_prior_strings(text, match):
    with pytest.raises(PriorError, match=match):
        parse_prior(text)


def test_prior_objects_and_aliases():
    assert parse_prior("lkj_corr_cholesky(2)") == Prior("lkj", (2.0,))
    assert repr(parse_prior(" cauchy( 0 , 5 ) ")) == "Prior('cauchy(0, 5)')"
    with pytest.raises(PriorError, match="no mass above 0"):
        parse_prior("uniform(-3, -1)").truncated(0.0)


def test_truncated_priors_read_back_as_they_are_printed():
    """``default_priors`` shows ``normal(0, 1) T[0, ]``: pasted back as a prior it is the same
    prior, truncation included."""
    import multilevel as ml

    table = ml.default_priors("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    for name, text in table["prior"].items():
        if name.startswith("cor_"):
            continue
        prior = parse_prior(text)
        assert prior.to_stan() == text
    sd = parse_prior("student_t(3, 0, 2.5) T[0, ]")
    half_t = stats.t(3, 0, 2.5).logpdf(1.0) + np.log(2)
    assert sd.lower == 0.0 and np.isclose(sd.logpdf(1.0), half_t)
    assert parse_prior("gamma(2,0.1)T[1,]") == Prior("gamma", (2.0, 0.1)).truncated(1.0)
    with pytest.raises(PriorError, match="only a lower truncation"):
        parse_prior("normal(0, 1) T[0, 5]")


@pytest.mark.parametrize(
    "text",
    [
        "normal(1, 2)",
        "student_t(3, 0, 2.5)",
        "cauchy(0, 2)",
        "logistic(1, 0.5)",
        "exponential(2)",
        "gamma(2, 0.5)",
        "gamma(1, 3)",
        "gamma(0.5, 1)",
        "inv_gamma(3, 2)",
        "lognormal(0.5, 0.8)",
        "uniform(-1, 3)",
        "beta(2, 3)",
        "beta(0.5, 1)",
    ],
)
def test_densities_in_closed_form_are_scipy_stats(text):
    """The priors' log densities and truncation constants, written with scipy.special, are
    scipy.stats's, inside the support, at its edges and outside it."""
    from multilevel.spec.priors import _frozen

    prior = parse_prior(text)
    frozen = _frozen(prior.dist, prior.params)
    x = np.r_[np.linspace(-4.0, 6.0, 41), 0.0, 1.0, -1.0, 3.0, 1e-300, 1e6]
    with np.errstate(divide="ignore"):
        expected = frozen.logpdf(x)
    got = prior.logpdf(x)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for lower in (-2.0, 0.0, 0.3, 2.5):
        truncated = Prior(prior.dist, prior.params, lower)
        if not np.isfinite(frozen.logsf(lower)):
            continue
        inside = x[x >= lower]
        np.testing.assert_allclose(
            truncated.logpdf(inside),
            frozen.logpdf(inside) - frozen.logsf(lower),
            rtol=1e-12,
            atol=1e-12,
        )
