"""The generated Stan programs: golden files for sleepstudy and radon, stanc accepts the
program of every family, link and design feature, ``stan_data`` holds every design array
(read back, they rebuild the design), and models without a program are refused clearly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _cases import FEATURES, feature_data, needs_stanc

import multilevel as ml
from multilevel.engines.stan import check_syntax
from multilevel.families import REGISTRY
from multilevel.fit import _spec
from multilevel.spec.families import get_family
from multilevel.stan import program_data

GOLDEN = Path(__file__).parent / "golden"
SLEEPSTUDY = (
    "Reaction ~ 1 + Days + (1 + Days | Subject)",
    "sleepstudy",
    {
        "Intercept": "normal(0, 100)",
        "b": "normal(0, 100)",
        "sd": "normal(0, 50)",
        "sigma": "normal(0, 50)",
        "cor": "lkj(2)",
    },
)
RADON = (
    "log_radon ~ 1 + floor + (1 + floor || county)",
    "radon",
    {
        "Intercept": "normal(0, 10)",
        "b": "normal(0, 10)",
        "sd": "normal(0, 1)",
        "sigma": "normal(0, 1)",
    },
)
RESPONSES = {
    "gaussian": "y",
    "student_t": "y",
    "bernoulli": "yb",
    "binomial": "yk | trials(t)",
    "poisson": "yc",
    "negbinomial": "yc",
    "gamma": "yp",
    "lognormal": "yp",
    "beta": "yu",
}


@pytest.mark.parametrize("case", [SLEEPSTUDY, RADON], ids=["sleepstudy", "radon"])
def test_program_matches_its_golden_file(case):
    """Set MULTILEVEL_UPDATE_GOLDEN=1 to rewrite the files after a deliberate change."""
    formula, dataset, priors = case
    code = ml.stan_code(formula, ml.datasets.load(dataset), priors=priors)
    path = GOLDEN / f"{dataset}.stan"
    if os.environ.get("MULTILEVEL_UPDATE_GOLDEN"):
        path.write_text(code)
    assert code == path.read_text()


def test_golden_sleepstudy_reads_as_brms_writes_it():
    code = (GOLDEN / "sleepstudy.stan").read_text()
    for line in (
        "  real Intercept;  // intercept for centred predictors",
        "  cholesky_factor_corr[M_1] L_1;  // Cholesky factor of their correlations",
        "  lprior += lkj_corr_cholesky_lpdf(L_1 | 2);  // cor_Subject",
        "  lprior += normal_lpdf(b_Intercept | 0, 100);  // b_Intercept",
        "    - normal_lccdf(0 | 0, 50);  // sd_Subject__Intercept",
        "    mu += r_1[J_1, 1] .* Z_1_1 + r_1[J_1, 2] .* Z_1_2;",
        "  cor_1[1] = Cor_1[1, 2];  // cor_Subject__Intercept__Days",
    ):
        assert line in code


@needs_stanc
@pytest.mark.parametrize(
    "family, link",
    [(name, link) for name, record in REGISTRY.items() for link in record.links],
)
def test_stanc_accepts_every_family_and_link(family, link):
    formula = f"{RESPONSES[family]} ~ x + (1 | g)"
    code = ml.stan_code(formula, feature_data(), family=get_family(family, link=link))
    check_syntax(code)
    assert f"// family: {family}({link})" in code


@needs_stanc
@pytest.mark.parametrize("name", list(FEATURES))
def test_stanc_accepts_every_design_feature(name):
    formula, family, priors = FEATURES[name]
    check_syntax(ml.stan_code(formula, feature_data(), family=family, priors=priors))


@needs_stanc
def test_stanc_accepts_distributional_formulas_of_every_family_parameter():
    df = feature_data()
    for family, dpar in (("student_t", "nu"), ("negbinomial", "shape"), ("beta", "phi")):
        formula = [f"{RESPONSES[family]} ~ x + (1 | g)", f"{dpar} ~ x + (1 | h)"]
        code = ml.stan_code(formula, df, family=family)
        check_syntax(code)
        assert f"vector[N] {dpar} = rep_vector(0.0, N);" in code


@needs_stanc
def test_stanc_rejects_a_broken_program():
    with pytest.raises(ml.EngineError, match="stanc rejects"):
        check_syntax("parameters { real x; } model { x ~ normal(0, 1) }")


def _rebuilt(data: dict, spec) -> None:
    """Every design array, rebuilt from the data list, equals the design's."""
    d = spec.design
    np.testing.assert_array_equal(data["Y"], d.y)
    assert data["N"] == d.n
    parts = [("", d, spec.covariance)] + [
        (f"_{name}", d.dpars[name], spec.dpars[name].covariance) for name in spec.dpars
    ]
    block_id = 0
    for suffix, part, covariance in parts:
        if part.X.shape[1]:
            np.testing.assert_array_equal(data[f"X{suffix}"], part.X)
        if np.any(part.offset != 0):
            np.testing.assert_array_equal(data[f"offsets{suffix}"], part.offset)
        else:
            assert f"offsets{suffix}" not in data
        for block, cov in zip(part.blocks, covariance, strict=True):
            block_id += 1
            i = block_id
            assert (data[f"N_{i}"], data[f"M_{i}"]) == (block.n_levels, block.q)
            m = block.index.shape[1]
            for k in range(m):
                suffix_m = f"_{k + 1}" if m > 1 else ""
                np.testing.assert_array_equal(data[f"J_{i}{suffix_m}"] - 1, block.index[:, k])
                if f"W_{i}{suffix_m}" in data:
                    np.testing.assert_array_equal(data[f"W_{i}{suffix_m}"], block.weights[:, k])
                else:
                    assert np.all(block.weights[:, k] == 1.0)
            for k in range(block.q):
                np.testing.assert_array_equal(data[f"Z_{i}_{k + 1}"], block.Z[:, k])
            assert data.get(f"NC_{i}", 0) == len(cov.cor_names)
    for name, values in (("trials", d.trials), ("weights", d.weights), ("se", d.se)):
        if values is None:
            assert name not in data
        else:
            np.testing.assert_array_equal(data[name], values)


@pytest.mark.parametrize("name", list(FEATURES))
def test_stan_data_round_trips_every_design_feature(name):
    formula, family, priors = FEATURES[name]
    df = feature_data()
    spec = _spec(formula, df, family, priors)
    data = ml.stan_data(formula, df, family=family, priors=priors)
    _rebuilt(data, spec)
    assert data["prior_only"] == 0
    assert ml.stan_data(formula, df, family=family, prior_only=True)["prior_only"] == 1
    integer = family in ("bernoulli", "binomial", "poisson", "negbinomial")
    assert np.issubdtype(np.asarray(data["Y"]).dtype, np.integer) == integer


def test_weighted_mm_writes_its_weights_and_members():
    formula, family, priors = FEATURES["weighted mm"]
    code = ml.stan_code(formula, feature_data(), family=family)
    assert "mu += W_1_1 .* (r_1[J_1_1, 1] .* Z_1_1) + W_1_2 .* (r_1[J_1_2, 1] .* Z_1_1);" in code


def test_priors_are_written_with_their_truncation_and_bounds():
    formula, family, priors = FEATURES["truncated and bounded priors"]
    code = ml.stan_code(formula, feature_data(), family=family, priors=priors)
    assert "real<lower=0> sigma;" in code
    assert "lprior += gamma_lpdf(sigma | 2, 1);  // sigma" in code  # gamma: positive already
    assert "lprior += exponential_lpdf(sd_1[2] | 1);  // sd_g__x" in code
    assert "- normal_lccdf(0 | 0, 1);  // sd_g__Intercept" in code
    # b_x on (-5, 5) and b_z unbounded: per-element bounds
    assert "vector[Kc] lower_b = [-5, negative_infinity()]';" in code
    assert "vector<lower=lower_b, upper=upper_b>[Kc] b;" in code
    assert "lprior += normal_lpdf(b_Intercept | 0, 3);  // b_Intercept" in code
    assert "lkj_corr_cholesky_lpdf(L_1 | 3)" in code


def test_fit_stan_code_is_the_model_it_fitted():
    df = ml.datasets.load("eight_schools")
    f = ml.fit("y | se(sigma) ~ 1 + (1 | school)", df, seed=1, progress=False)
    assert f.stan_code() == ml.stan_code("y | se(sigma) ~ 1 + (1 | school)", df)
    assert "normal_lpdf(Y | mu, se)" in f.stan_code()
    np.testing.assert_array_equal(f.stan_data()["se"], df["sigma"])


def test_models_without_a_program_are_refused_by_name():
    df = feature_data()
    with pytest.raises(ml.EngineError, match="bounded prior on 'b_Intercept'"):
        ml.stan_code("y ~ x + (1 | g)", df, priors={"b_Intercept": "uniform(0, 5)"})
    users = df.assign(user=df.g, item=df.h)
    with pytest.raises(ml.EngineError, match="factors\\(\\).*method='gibbs'"):
        ml.stan_code("y ~ 1 + factors(user, item, k = 2)", users)


def test_program_numbers_are_exact():
    """The data-scaled default priors are written with every digit, so the program is the
    model the other engines fit, not a rounded one."""
    df = ml.datasets.load("sleepstudy")
    spec = _spec("Reaction ~ Days + (Days | Subject)", df, "gaussian", None)
    code = ml.stan_code("Reaction ~ Days + (Days | Subject)", df)
    scale = spec.priors["b_Days"].params[1]
    assert f"normal_lpdf(b[1] | 0, {scale!r})" in code
    assert program_data(spec)["K"] == 2


def test_the_program_in_the_docs_is_the_golden_one():
    page = (Path(__file__).parents[2] / "docs" / "stan.md").read_text()
    shown = page.split("```stan\n", 1)[1].split("```", 1)[0]
    assert shown == (GOLDEN / "sleepstudy.stan").read_text()
