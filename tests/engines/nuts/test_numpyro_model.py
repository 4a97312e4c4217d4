"""The NumPyro model, checked exactly (no sampling): its pointwise log-likelihood equals the
numpy family densities at the linear predictor rebuilt here by dense algebra; weights,
offsets, known SEs and multiple membership; priors and names of the spec."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from numpyro.infer import init_to_uniform
from numpyro.infer.util import initialize_model, log_density, log_likelihood

import multilevel as ml
from multilevel.design import design
from multilevel.engines import Support, select_engine
from multilevel.engines._numpyro_model import make_model, prior_distribution
from multilevel.errors import DataError, EngineError, PriorError
from multilevel.posterior import Posterior
from multilevel.results.diagnostics import convergence_messages, ebfmi
from multilevel.spec.model import build_spec
from multilevel.spec.priors import parse_prior

RESPONSES = {
    "gaussian": lambda rng, n: rng.normal(size=n),
    "student_t": lambda rng, n: rng.standard_t(4, size=n),
    "bernoulli": lambda rng, n: rng.integers(0, 2, size=n),
    "binomial": lambda rng, n: rng.integers(0, 6, size=n),
    "poisson": lambda rng, n: rng.poisson(3.0, size=n),
    "negbinomial": lambda rng, n: rng.poisson(3.0, size=n),
    "gamma": lambda rng, n: rng.gamma(2.0, 1.0, size=n),
    "lognormal": lambda rng, n: rng.lognormal(size=n),
    "beta": lambda rng, n: rng.beta(2.0, 3.0, size=n),
}


def _data(family: str, n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": RESPONSES[family](rng, n),
            "x": rng.normal(size=n),
            "g": rng.choice(list("abcde"), size=n),
            "h": rng.choice(list("pqr"), size=n),
            "n": np.full(n, 5),
            "w": rng.uniform(0.5, 2.0, size=n),
            "o": rng.normal(size=n) * 0.1,
        }
    )


def _params(spec, seed=0):
    built = make_model(spec)
    info = initialize_model(
        jax.random.PRNGKey(seed),
        built.model,
        model_kwargs=built.kwargs,
        init_strategy=init_to_uniform(radius=0.5),  # moderate values: no saturated means
    )
    params = info.postprocess_fn(info.param_info.z)
    return built, {k: np.asarray(v) for k, v in params.items()}


def _eta(spec, params) -> np.ndarray:
    """Linear predictor by dense algebra (one-hot matrices), independent of the model code."""
    d = spec.design
    b = np.array([params[name] for name in spec.b_names])
    eta = d.X @ b + d.offset
    for i, block in enumerate(d.blocks):
        r = params[f"r_block{i}"]
        for k in range(block.index.shape[1]):
            onehot = np.eye(block.n_levels)[block.index[:, k]]
            eta = eta + block.weights[:, k] * np.sum(block.Z * (onehot @ r), axis=1)
    return eta


FORMULAS = {
    "binomial": "y | trials(n) ~ 1 + x + (1 + x | g) + (1 | h)",
}


CASES = [(family, None) for family in RESPONSES] + [
    ("gaussian", "log"),
    ("bernoulli", "probit"),
    ("bernoulli", "cloglog"),
    ("binomial", "probit"),
    ("beta", "probit"),
    ("poisson", "sqrt"),
    ("negbinomial", "sqrt"),
]


@pytest.mark.parametrize(("family", "link"), CASES)
def test_log_likelihood_matches_numpy_family(family, link):
    fam = ml.spec.families.get_family(family, link=link)
    formula = FORMULAS.get(family, "y ~ 1 + x + (1 + x | g) + (1 | h)")
    d = design(formula, _data(family), family=fam.name)
    spec = build_spec(d, fam)
    built, params = _params(spec, seed=1)
    flat = {k: v[None] for k, v in params.items()}
    ours = np.asarray(log_likelihood(built.model, flat, **built.kwargs)["y"])[0]
    aux = {name: params[name] for name in spec.aux_names}
    expected = fam.log_likelihood_eta(d.y, _eta(spec, params), aux, trials=d.trials)
    np.testing.assert_allclose(ours, expected, rtol=2e-4, atol=2e-4)


def test_weights_scale_the_log_likelihood_and_offset_enters_eta():
    data = _data("gaussian")
    spec_w = build_spec(design("y | weights(w) ~ 1 + x + offset(o) + (1 | g)", data), "gaussian")
    spec_1 = build_spec(design("y ~ 1 + x + offset(o) + (1 | g)", data), "gaussian")
    built_w, params = _params(spec_w)
    built_1 = make_model(spec_1)
    latent = {k: v for k, v in params.items() if not k.startswith(("r_block", "b_Intercept"))}
    lw, _ = log_density(built_w.model, (), built_w.kwargs, latent)
    l1, _ = log_density(built_1.model, (), built_1.kwargs, latent)
    ll = ml.spec.families.get_family("gaussian").log_likelihood_eta(
        data["y"].to_numpy(), _eta(spec_1, params), {"sigma": params["sigma"]}
    )
    w = data["w"].to_numpy()
    assert float(lw - l1) == pytest.approx(float(np.sum((w - 1) * ll)), rel=1e-4, abs=1e-3)


def test_se_is_a_known_sigma():
    data = ml.datasets.load("eight_schools")
    spec = build_spec(design("y | se(sigma) ~ 1 + (1 | school)", data), "gaussian")
    assert spec.aux_names == () and spec.known_sigma
    built, params = _params(spec)
    ll = np.asarray(
        log_likelihood(built.model, {k: v[None] for k, v in params.items()}, **built.kwargs)["y"]
    )[0]
    expected = ml.spec.families.get_family("gaussian").log_likelihood(
        data["y"], _eta(spec, params), {"sigma": data["sigma"].to_numpy()}
    )
    np.testing.assert_allclose(ll, expected, rtol=1e-5)
    with pytest.raises(PriorError, match="sigma"):
        build_spec(
            design("y | se(sigma) ~ 1 + (1 | school)", data), "gaussian", {"sigma": "normal(0, 1)"}
        )


def test_multiple_membership_sums_weighted_effects():
    rng = np.random.default_rng(3)
    n = 40
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "g1": rng.choice(list("abcd"), size=n),
            "g2": rng.choice(list("abcd"), size=n),
            "w1": rng.uniform(size=n),
            "w2": rng.uniform(size=n),
        }
    )
    d = design("y ~ 1 + (1 | mm(g1, g2, weights = cbind(w1, w2)))", data)
    spec = build_spec(d, "gaussian")
    built, params = _params(spec, seed=2)
    ll = np.asarray(
        log_likelihood(built.model, {k: v[None] for k, v in params.items()}, **built.kwargs)["y"]
    )[0]
    expected = ml.spec.families.get_family("gaussian").log_likelihood_eta(
        d.y, _eta(spec, params), {"sigma": params["sigma"]}
    )
    np.testing.assert_allclose(ll, expected, rtol=1e-5, atol=1e-6)


def test_intercept_prior_is_on_the_uncentred_intercept():
    data = ml.datasets.load("sleepstudy")
    spec = build_spec(
        design("Reaction ~ 1 + Days + (1 | Subject)", data),
        "gaussian",
        {"Intercept": "normal(100, 3)", "b": "normal(0, 7)"},
    )
    built, params = _params(spec)
    latent = {k: v for k, v in params.items() if not k.startswith(("r_block", "b_Intercept"))}
    base, _ = log_density(built.model, (), built.kwargs, latent)
    moved = dict(latent, b_Days=latent["b_Days"] + 1.0)
    shifted, _ = log_density(built.model, (), built.kwargs, moved)
    # b_Intercept = Intercept_c - mean(Days) * b_Days, so moving b_Days moves b_Intercept.
    mean_days = data["Days"].mean()
    from scipy import stats

    b0, b0_new = params["b_Intercept"], params["b_Intercept"] - mean_days
    d_prior = (stats.norm(100, 3).logpdf(b0_new) - stats.norm(100, 3).logpdf(b0)) + (
        stats.norm(0, 7).logpdf(latent["b_Days"] + 1) - stats.norm(0, 7).logpdf(latent["b_Days"])
    )
    eta0 = _eta(spec, params)
    eta1 = eta0 + (data["Days"].to_numpy() - mean_days)  # centred slope moved by 1
    fam = ml.spec.families.get_family("gaussian")
    d_lik = np.sum(
        fam.log_likelihood_eta(data["Reaction"], eta1, {"sigma": params["sigma"]})
        - fam.log_likelihood_eta(data["Reaction"], eta0, {"sigma": params["sigma"]})
    )
    assert float(shifted - base) == pytest.approx(float(d_prior + d_lik), rel=1e-3, abs=1e-2)


def test_spec_names_and_priors():
    data = ml.datasets.load("radon")
    spec = build_spec(
        design("log_radon ~ 1 + floor + (1 + floor || county)", data),
        "gaussian",
        {"sd_county": "normal(0, 1)", "b_floor": "normal(0, 10)"},
    )
    assert spec.parameter_names == (
        "b_Intercept",
        "b_floor",
        "sd_county__Intercept",
        "sd_county__floor",
        "sigma",
    )
    assert spec.priors["sd_county__floor"].lower == 0.0
    assert spec.cor_names == ((), ())
    with pytest.raises(PriorError, match="sd_county"):
        build_spec(spec.design, "gaussian", {"sd_conty": "normal(0, 1)"})
    with pytest.raises(DataError, match="bernoulli"):
        build_spec(spec.design, "bernoulli")


def test_prior_distributions_and_truncation():
    assert type(prior_distribution(parse_prior("cauchy(0, 5)"))).__name__ == "Cauchy"
    assert prior_distribution(parse_prior("flat")) is None
    assert float(prior_distribution(parse_prior("gamma(2, 0.1)")).mean) == pytest.approx(20.0)


def test_select_engine_and_support():
    data = ml.datasets.load("eight_schools")
    spec = build_spec(design("y | se(sigma) ~ 1 + (1 | school)", data), "gaussian")
    engine, reason = select_engine(spec, "auto")
    assert engine.name == "conjugate" and "Normal-Normal" in reason
    engine, reason = select_engine(spec, "nuts")
    assert engine.name == "nuts" and "NUTS" in reason
    assert isinstance(engine.supports(spec), Support) and engine.supports(spec)
    radon = build_spec(design("log_radon ~ floor + (1 | county)", ml.datasets.load("radon")))
    engine, reason = select_engine(radon, "auto")
    assert engine.name == "gaussian" and reason.startswith("auto: exact")
    counts = pd.DataFrame({"y": [0, 1, 2, 3, 1, 0], "g": list("aabbcc")})
    engine, reason = select_engine(build_spec(design("y ~ 1 + (1 | g)", counts), "poisson"))
    # the nested Laplace passes over a small GLMM and says why
    assert engine.name == "nuts" and "6 rows: NUTS takes at most about a minute" in reason
    with pytest.raises(EngineError, match="conjugate engine cannot fit"):
        select_engine(radon, "conjugate")
    with pytest.raises(EngineError, match="inla engine cannot fit.*method='nuts'"):
        select_engine(spec, "inla")
    with pytest.raises(EngineError, match="valid methods"):
        select_engine(spec, "bugs")


def test_diagnostics_messages():
    rng = np.random.default_rng(0)
    summary = pd.DataFrame(
        {"r_hat": [1.0, 1.2], "ess_bulk": [1000.0, 20.0], "ess_tail": [900.0, 800.0]},
        index=["a", "b"],
    )
    stats = {
        "diverging": np.array([[True] + [False] * 99, [False] * 100]),
        "tree_depth": np.full((2, 100), 10),
        "energy": np.cumsum(rng.normal(size=(2, 100)), axis=1),
    }
    messages = convergence_messages(summary, stats, max_tree_depth=10)
    text = "\n".join(messages)
    assert "1 of 200 transitions" in text and "target_accept" in text
    assert "maximum tree depth" in text
    assert "E-BFMI" in text
    assert "R-hat above 1.01 for 1 parameter(s), worst b" in text
    assert "bulk effective sample size" in text
    assert ebfmi(stats["energy"]).shape == (2,)


def test_a_chain_with_non_finite_energy_is_named_without_numpy_warnings():
    rng = np.random.default_rng(1)
    energy = rng.normal(size=(3, 200))
    energy[1, 50] = np.inf
    summary = pd.DataFrame({"r_hat": [1.0], "ess_bulk": [1000.0], "ess_tail": [900.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from inf - inf
        values = ebfmi(energy)
        stats = {"diverging": np.zeros((3, 200), dtype=bool), "energy": energy}
        messages = convergence_messages(summary, stats)
    assert np.isnan(values[1]) and np.all(values[[0, 2]] > 1.0)
    assert any("non-finite energy in chain(s) 1" in m for m in messages)
    assert not any("E-BFMI" in m for m in messages)


def test_posterior_is_frozen():
    post = Posterior({"a": np.zeros((2, 3))}, {}, "nuts")
    assert post.n_chains == 2 and post.n_draws == 3
    with pytest.raises(TypeError):
        post.draws["b"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bool(Support(True, "ok"))


def test_default_intercept_prior_is_on_the_centred_intercept():
    data = ml.datasets.load("sleepstudy")
    d = design("Reaction ~ 1 + Days + (1 | Subject)", data)
    assert build_spec(d, "gaussian").centred_intercept_prior
    assert not build_spec(d, "gaussian", {"Intercept": "normal(0, 100)"}).centred_intercept_prior
    assert not build_spec(d, "gaussian", {"b_Intercept": "normal(0, 100)"}).centred_intercept_prior
    spec = build_spec(d, "gaussian")
    built, params = _params(spec)
    latent = {k: v for k, v in params.items() if not k.startswith(("r_block", "b_Intercept"))}
    base, _ = log_density(built.model, (), built.kwargs, latent)
    # moving the slope with the centred intercept fixed changes only the slope's prior and
    # the likelihood: the default intercept prior sits on Intercept_c
    moved = dict(latent, b_Days=latent["b_Days"] + 1.0)
    shifted, _ = log_density(built.model, (), built.kwargs, moved)
    prior_b = spec.priors["b_Days"]
    from scipy import stats

    d_prior = stats.norm(*prior_b.params).logpdf(latent["b_Days"] + 1) - stats.norm(
        *prior_b.params
    ).logpdf(latent["b_Days"])
    eta0 = _eta(spec, params)
    eta1 = eta0 + (data["Days"].to_numpy() - data["Days"].mean())
    fam = ml.spec.families.get_family("gaussian")
    d_lik = np.sum(
        fam.log_likelihood_eta(data["Reaction"], eta1, {"sigma": params["sigma"]})
        - fam.log_likelihood_eta(data["Reaction"], eta0, {"sigma": params["sigma"]})
    )
    assert float(shifted - base) == pytest.approx(float(d_prior + d_lik), rel=1e-3, abs=1e-2)


def test_distributional_formula_for_sigma():
    data = _data("gaussian")
    formula = ml.formula.parse("y ~ 1 + x + (1 | g)", dpars={"sigma": "sigma ~ 1 + x + (1 | h)"})
    d = design(formula, data)
    spec = build_spec(d, "gaussian", {"sd_h__sigma": "normal(0, 0.5)"})
    assert spec.aux_names == ()
    assert spec.parameter_names == (
        "b_Intercept",
        "b_x",
        "b_sigma_Intercept",
        "b_sigma_x",
        "sd_g__Intercept",
        "sd_h__sigma_Intercept",
    )
    assert spec.priors["sd_h__sigma_Intercept"].to_stan() == "normal(0, 0.5) T[0, ]"
    assert spec.dpars["sigma"].link == "log"
    built, params = _params(spec, seed=4)
    ll = np.asarray(
        log_likelihood(built.model, {k: v[None] for k, v in params.items()}, **built.kwargs)["y"]
    )[0]
    dd = d.dpars["sigma"]
    h = dd.blocks[0].index[:, 0]
    log_sigma = (
        dd.X @ np.array([params["b_sigma_Intercept"], params["b_sigma_x"]])
        + params["r_sigma_block0"][h, 0]
    )
    expected = ml.spec.families.get_family("gaussian").log_likelihood_eta(
        d.y, _eta(spec, params), {"sigma": np.exp(log_sigma)}
    )
    np.testing.assert_allclose(ll, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(EngineError, match="no parameter 'phi'"):
        build_spec(design(ml.formula.parse("y ~ 1", dpars={"phi": "phi ~ 1"}), data), "gaussian")
