"""Posteriors agree with Stan's on the three reference cases (tests/reference/): NUTS on all
three, the exact conjugate engine that ``method="auto"`` picks for eight schools, the
exact gaussian engine (group effects integrated out) for sleepstudy and radon, and the
library's own Stan program of each model sampled by Stan (``method="stan"``, where a Stan
backend runs: tests/stan/).

Rule, per parameter: ``|mean - ref_mean| <= 0.1 * ref_sd + 3 * sqrt(mcse_ours^2 +
mcse_ref^2)`` and ``|sd - ref_sd| <= 0.1 * ref_sd + 3 * sqrt(mcse_sd_ours^2 + mcse_sd_ref^2)``
(the Monte Carlo error of both runs is allowed on top of the 10% band). Checked for the
population parameters, variance components, correlations and every group coefficient (as
totals, lme4's ``coef``, and for sleepstudy and radon also as deviations, ``ranef``).
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest

import multilevel as ml
from multilevel.engines.stan import stan_backend
from multilevel.fit import fit

CHAINS, DRAWS, WARMUP = 4, 1000, 1000
_BACKEND, _WHY = stan_backend()
#: the Stan engine's fit of a reference model: slow (a compile), skipped without Stan
STAN = pytest.param(
    "stan",
    marks=[
        pytest.mark.slow,
        pytest.mark.skipif(_BACKEND is None, reason=f"no Stan backend: {_WHY}"),
    ],
)


def _stats(draws: np.ndarray) -> dict:
    """mean, sd and their MCSE of (chains, draws) draws."""
    return {
        "mean": float(draws.mean()),
        "sd": float(draws.std(ddof=1)),
        "mcse_mean": float(az.mcse(draws, method="mean")),
        "mcse_sd": float(az.mcse(draws, method="sd")),
    }


def _check(ours: dict, ref: dict, label: str) -> list[str]:
    problems = []
    tol_mean = 0.1 * ref["sd"] + 3 * np.hypot(ours["mcse_mean"], ref["mcse_mean"])
    if abs(ours["mean"] - ref["mean"]) > tol_mean:
        problems.append(
            f"{label}: mean {ours['mean']:.4g} vs Stan {ref['mean']:.4g} (tolerance {tol_mean:.3g})"
        )
    ref_mcse_sd = ref.get("mcse_sd", 0.0)
    tol_sd = 0.1 * ref["sd"] + 3 * np.hypot(ours["mcse_sd"], ref_mcse_sd)
    if abs(ours["sd"] - ref["sd"]) > tol_sd:
        problems.append(
            f"{label}: sd {ours['sd']:.4g} vs Stan {ref['sd']:.4g} (tolerance {tol_sd:.3g})"
        )
    return problems


def _compare(fit_, reference: dict, scalars: dict, groups: dict) -> int:
    """Compare; ``scalars``: ref name -> our name; ``groups``: ref prefix ->
    (group, coefficient, total)."""
    problems = []
    n = 0
    for ref_name, ours_name in scalars.items():
        problems += _check(_stats(fit_.posterior.draws[ours_name]), reference[ref_name], ref_name)
        n += 1
    for prefix, (group, coef, total) in groups.items():
        draws = fit_.coef_draws(group, total=total)
        columns = list(fit_.coef(group).columns)
        j = columns.index(coef)
        for level in range(draws.shape[2]):
            name = f"{prefix}[{level + 1}]"
            problems += _check(_stats(draws[:, :, level, j]), reference[name], name)
            n += 1
    assert not problems, "\n".join(problems)
    return n


def _fit(formula, data, priors, target_accept, method="auto"):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)
        return fit(
            formula,
            data,
            priors=priors,
            chains=CHAINS,
            draws=DRAWS,
            warmup=WARMUP,
            seed=20251125,
            progress=False,
            target_accept=target_accept,
            method=method,
        )


@pytest.fixture(scope="module", params=["auto", "nuts", STAN])
def eight_schools(request):
    """``auto`` takes the exact conjugate engine, ``nuts`` and ``stan`` sample."""
    result = _fit(
        "y | se(sigma) ~ 1 + (1 | school)",
        ml.datasets.load("eight_schools"),
        {"Intercept": "normal(0, 5)", "sd": "cauchy(0, 5)"},
        target_accept=0.95,
        method=request.param,
    )
    expected = "conjugate" if request.param == "auto" else request.param
    assert result.posterior.engine == expected
    return result


@pytest.fixture(scope="module", params=["nuts", "exact", STAN])
def sleepstudy(request):
    return _fit(
        "Reaction ~ 1 + Days + (1 + Days | Subject)",
        ml.datasets.load("sleepstudy"),
        {
            "Intercept": "normal(0, 100)",
            "b": "normal(0, 100)",
            "sd": "normal(0, 50)",
            "sigma": "normal(0, 50)",
            "cor": "lkj(2)",
        },
        target_accept=0.9,
        method=request.param,
    )


@pytest.fixture(scope="module", params=["nuts", "exact", STAN])
def radon(request):
    return _fit(
        "log_radon ~ 1 + floor + (1 + floor || county)",
        ml.datasets.load("radon"),
        {
            "Intercept": "normal(0, 10)",
            "b": "normal(0, 10)",
            "sd": "normal(0, 1)",
            "sigma": "normal(0, 1)",
        },
        target_accept=0.9,
        method=request.param,
    )


def test_eight_schools_matches_stan(eight_schools, stan_reference):
    ref = stan_reference("eight_schools")
    assert eight_schools.spec.aux_names == ()  # se() fixes sigma
    n = _compare(
        eight_schools,
        ref,
        {"mu": "b_Intercept", "tau": "sd_school__Intercept"},
        {"theta": ("school", "Intercept", True)},
    )
    assert n == len(ref)
    assert list(eight_schools.coef("school").index) == list("ABCDEFGH")


def test_eight_schools_summary_names(eight_schools):
    table = eight_schools.summary()
    assert list(table.index[:2]) == ["b_Intercept", "sd_school__Intercept"]
    assert "r_school[A,Intercept]" in table.index
    for column in ("mean", "sd", "q5", "q50", "q95", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"):
        assert column in table.columns
    assert (table["r_hat"] < 1.01).all()


@pytest.mark.slow
def test_sleepstudy_matches_stan(sleepstudy, stan_reference):
    ref = stan_reference("sleepstudy")
    n = _compare(
        sleepstudy,
        ref,
        {
            "b0": "b_Intercept",
            "b1": "b_Days",
            "tau[1]": "sd_Subject__Intercept",
            "tau[2]": "sd_Subject__Days",
            "rho": "cor_Subject__Intercept__Days",
            "sigma": "sigma",
        },
        {
            "u0": ("Subject", "Intercept", False),
            "u1": ("Subject", "Days", False),
            "beta0_subject": ("Subject", "Intercept", True),
            "beta1_subject": ("Subject", "Days", True),
        },
    )
    assert n == len(ref)
    coef = sleepstudy.coef("Subject")
    assert list(coef.columns) == ["Intercept", "Days"]
    assert coef.index[0] == 308
    table = sleepstudy.summary()
    assert "cor_Subject__Intercept__Days" in table.index
    assert "r_Subject[308,Days]" in table.index


@pytest.mark.slow
def test_radon_matches_stan(radon, stan_reference):
    ref = stan_reference("radon_intercept_slope")
    n = _compare(
        radon,
        ref,
        {
            "mu_alpha": "b_Intercept",
            "mu_beta": "b_floor",
            "sigma_alpha": "sd_county__Intercept",
            "sigma_beta": "sd_county__floor",
            "sigma_y": "sigma",
        },
        {
            "alpha": ("county", "Intercept", True),
            "beta": ("county", "floor", True),
            "alpha_dev": ("county", "Intercept", False),
            "beta_dev": ("county", "floor", False),
        },
    )
    assert n == len(ref)
    coef = radon.coef("county")
    assert list(coef.columns) == ["Intercept", "floor"]
    assert coef.index[0] == "C01" and len(coef) == 85
    assert "r_county[C85,floor]" in radon.summary().index
