"""``method="laplace"`` agrees with lme4's glmer (frozen in tests/reference/lme4/glmer/: tight
bobyqa and the inner mode solved exactly, ``tolPwrss = 1e-13``; see the README there):
coefficients, variance components, the log-likelihood and the conditional modes within 1e-3
relative, the standard errors (lme4's default, from the finite-difference Hessian) within 1e-3
relative; adaptive Gauss-Hermite with 25 nodes on cbpp too."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import naming

REFERENCE = Path(__file__).parents[2] / "reference" / "lme4" / "glmer"
REL = 1e-3  # the tolerance; most numbers agree to 1e-6 (VerbAgg's intercept, in a
# nearly flat direction, to 4e-4: the README's laplace_check)

MODELS = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "grouseticks": (
        "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
        "poisson",
    ),
    "verbagg": ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "bernoulli"),
    "nested_bernoulli": ("y ~ x + (1 | school/class)", "bernoulli"),
    "grouseticks_nb": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", "negbinomial"),
}


def _data(model: str) -> pd.DataFrame:
    if model == "nested_bernoulli":
        return pd.read_csv(REFERENCE / "nested_bernoulli.csv", dtype={"school": str, "class": str})
    return ml.datasets.load(model.removesuffix("_nb"))


def _group(lme4_group: str) -> str:
    """lme4 writes the nested factor of ``(1 | school/class)`` as ``class:school``."""
    return "school:class" if lme4_group == "class:school" else lme4_group


def _level(lme4_group: str, level: str) -> str:
    if lme4_group == "class:school":  # lme4 "c1:S01" -> ours "S01:c1"
        inner, outer = level.split(":")
        return f"{outer}:{inner}"
    return level


def _coef(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


def _close(ours, theirs, label, problems, rel=REL):
    if not np.isclose(ours, theirs, rtol=rel, atol=1e-8):
        problems.append(f"{label}: ours {ours!r} vs lme4 {theirs!r} ({ours / theirs - 1:+.2e})")


def _compare_population(table, ref, problems):
    """Each population-level coefficient and its standard error against lme4's."""
    for coef, value in ref["beta"].items():
        name = naming.population(_coef(coef))
        _close(table.loc[name, "estimate"], value, name, problems)
        _close(table.loc[name, "std_error"], ref["se_beta"][coef], f"se {name}", problems)


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    model = request.param
    formula, family = MODELS[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        # the nested bernoulli's 12 rows per class: the Laplace approximation's own bias, which
        # glmer shares (the comparison is of the same approximation)
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        fit = ml.fit(formula, _data(model), family=family, method="laplace")
    reference = json.loads((REFERENCE / f"{model}.json").read_text())["nAGQ1"]
    return model, fit, reference


def test_estimates_standard_errors_and_loglik_match_glmer(case):
    model, fit, ref = case
    table = fit.summary()
    problems: list[str] = []
    _close(fit.loglik(), ref["logLik"], "logLik", problems, rel=1e-6)
    _compare_population(table, ref, problems)
    for row in ref["varcorr"]:
        name = naming.sd(_group(row["grp"]), _coef(row["var1"]))
        _close(table.loc[name, "estimate"], row["sdcor"], name, problems)
    if ref.get("nb_theta") is not None:
        _close(table.loc["shape", "estimate"], ref["nb_theta"], "shape", problems)
    assert fit.estimate.converged
    assert not problems, f"{model}:\n" + "\n".join(problems)


def test_conditional_modes_match_glmer(case):
    model, fit, ref = case
    problems: list[str] = []
    for lme4_group, terms in ref["ranef"].items():
        modes = fit.ranef(_group(lme4_group))
        labels = [str(level) for level in modes.index]
        for term, levels in terms.items():
            ours = modes[_coef(term)].to_numpy()
            theirs = np.array([levels[lv] for lv in levels])
            rows = [labels.index(_level(lme4_group, lv)) for lv in levels]
            scale = np.max(np.abs(theirs))
            worst = np.max(np.abs(ours[rows] - theirs)) / scale
            if worst > REL:
                problems.append(f"ranef {lme4_group} {term}: {worst:.2e} of the largest mode")
    assert not problems, f"{model}:\n" + "\n".join(problems)


def test_adaptive_gauss_hermite_matches_glmer_nagq25():
    ref = json.loads((REFERENCE / "cbpp.json").read_text())["nAGQ25"]
    formula, family = MODELS["cbpp"]
    fit = ml.fit(formula, ml.datasets.load("cbpp"), family=family, method="laplace", nagq=25)
    table = fit.summary()
    problems: list[str] = []
    # lme4 leaves the saturated log-likelihood out of nAGQ > 1 values: logLik_full adds it
    _close(fit.loglik(), ref["logLik_full"], "logLik", problems, rel=1e-6)
    _compare_population(table, ref, problems)
    _close(table.loc["sd_herd__Intercept", "estimate"], ref["theta"]["herd.(Intercept)"], "sd",
           problems)  # fmt: skip
    assert not problems, "\n".join(problems)
