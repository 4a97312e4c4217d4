"""REML and ML estimates agree with lme4 (frozen in tests/reference/lme4/, tight optimizer):
theta, beta, sigma, variance components, the log-likelihood, beta's standard errors and the
conditional modes, within 1e-4 relative or 1e-6 absolute."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml
from multilevel import naming

REFERENCE = Path(__file__).parents[2] / "reference" / "lme4"
REL, ABS = 1e-4, 1e-6

MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    "radon": ("log_radon ~ floor + (floor | county)", "radon"),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", "pastes"),
    "insteval": ("y ~ 1 + (1 | s) + (1 | d) + (1 | dept)", "insteval"),
}


def _group(lme4_group: str) -> str:
    """lme4 writes the nested factor of ``(1 | batch/cask)`` as ``cask:batch``."""
    return "batch:cask" if lme4_group == "cask:batch" else lme4_group


def _coef(lme4_name: str) -> str:
    return "Intercept" if lme4_name == "(Intercept)" else lme4_name


def _level(group: str, level: str) -> str:
    if group == "cask:batch":  # lme4 "a:A" (cask:batch) -> ours "A:a" (batch:cask)
        cask, batch = level.split(":")
        return f"{batch}:{cask}"
    return level


def _close(ours: float, theirs: float, label: str, problems: list):
    if not np.isclose(ours, theirs, rtol=REL, atol=ABS):
        problems.append(f"{label}: ours {ours!r} vs lme4 {theirs!r}")


@pytest.mark.parametrize("method", ["reml", "ml"])
@pytest.mark.parametrize(
    "model",
    [
        "sleepstudy",
        "radon",
        "penicillin",
        "pastes",
        pytest.param("insteval", marks=pytest.mark.slow),
    ],
)
def test_estimates_match_lme4(model, method):
    reference = json.loads((REFERENCE / f"{model}.json").read_text())[method.upper()]
    formula, dataset = MODELS[model]
    fit = ml.fit(formula, ml.datasets.load(dataset), method=method)
    table = fit.summary()
    problems: list[str] = []
    _close(fit.loglik(), reference["logLik"], "logLik", problems)
    for coef, value in reference["beta"].items():
        name = naming.population(_coef(coef))
        _close(table.loc[name, "estimate"], value, name, problems)
        _close(table.loc[name, "std_error"], reference["se_beta"][coef], f"se {name}", problems)
    for row in reference["varcorr"]:
        if row["grp"] == "Residual":
            _close(table.loc["sigma", "estimate"], row["sdcor"], "sigma", problems)
            continue
        group = _group(row["grp"])
        if row["var2"] is None:
            name = naming.sd(group, _coef(row["var1"]))
        else:
            name = naming.cor(group, _coef(row["var1"]), _coef(row["var2"]))
        _close(table.loc[name, "estimate"], row["sdcor"], name, problems)
    for lme4_group, terms in reference["ranef"].items():
        modes = fit.ranef(_group(lme4_group))
        labels = [str(level) for level in modes.index]
        for term, levels in terms.items():
            for level, value in levels.items():
                row = labels.index(_level(lme4_group, level))
                ours = modes.iloc[row][_coef(term)]
                _close(ours, value, f"ranef {lme4_group}[{level},{term}]", problems)
    assert not problems, "\n".join(problems)


def test_reml_point_fit_api():
    fit = ml.fit("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), method="ml")
    assert fit.method == "ml"
    coef = fit.coef("Subject")
    assert list(coef.columns) == ["Intercept", "Days"] and coef.index[0] == 308
    np.testing.assert_allclose(
        coef.to_numpy(), fit.ranef("Subject").to_numpy() + fit.fixef().to_numpy(), rtol=1e-12
    )
    fitted = fit.predict()
    assert len(fitted) == 180
    new = fit.predict({"Days": [0.0], "Subject": ["999"]}, new_groups="population")
    assert new.iloc[0] == pytest.approx(fit.fixef()["Intercept"])
    with pytest.raises(ml.DataError, match="Subject"):
        fit.predict({"Days": [0.0], "Subject": ["999"]})
    assert "PointFit (ML)" in repr(fit)


def test_reml_uses_no_priors_and_says_so_when_given_some():
    data = ml.datasets.load("sleepstudy")
    plain = ml.fit("Reaction ~ Days + (Days | Subject)", data, method="reml")
    assert dict(plain.spec.priors) == {}
    with pytest.warns(UserWarning, match="priors.*ignored"):
        given = ml.fit(
            "Reaction ~ Days + (Days | Subject)",
            data,
            method="reml",
            priors={"sd": "exponential(1)"},
        )
    assert given.loglik() == plain.loglik()
