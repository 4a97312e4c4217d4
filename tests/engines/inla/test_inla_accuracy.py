"""Nested-Laplace posteriors against long NUTS runs of the same models with the same priors
(``tests/reference/inla/*.json``, made by ``benchmarks/inla_reference.py``: 4 chains x 5,000
draws).

Criteria (issue 18), per scalar parameter, in units of the reference posterior SD ``s``:
means within 0.1 s, SDs within 10%, 5% and 95% quantiles within 0.1 s. Both sides carry Monte
Carlo error, so each criterion gets an allowance of three combined Monte Carlo standard
errors: the reference's own (ArviZ's ``mcse`` stored with it) and the nested Laplace's
``S = 20,000`` independent draws' (mean: ``s / sqrt(S)``; SD: ``s / sqrt(2 S)``; a quantile
``q_p``: ``sqrt(p (1 - p) / S) / f(q_p)``, with ``f`` the density at the quantile, taken as
the normal's with the reference SD: ``0.103 / s`` at 5% and 95%). A difference beyond the
criterion plus its allowance is a real one (a false alarm per check has probability about
0.003 under the null of exact agreement within the criterion).

Cases known to miss a criterion are marked xfail with the measured numbers (see the docs'
decisions): the Laplace approximation of a binary model's variance-parameter posterior.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import ConvergenceWarning

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "inla"
MODELS = ("cbpp", "poisson_slope", "bernoulli", "poisson_many_rows")
CHAINS, DRAWS = 4, 5000
S = CHAINS * DRAWS
Z = 3.0
#: (model, parameter, criterion) pairs that miss, with the numbers measured (seed 11)
KNOWN = {}


def _reference(model):
    return json.loads((REFERENCE / f"{model}.json").read_text())


@pytest.fixture(scope="module", params=MODELS)
def compared(request):
    ref = _reference(request.param)
    data = ml.datasets.load(ref["dataset"]) if ref["data"] is None else pd.DataFrame(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = ml.fit(ref["formula"], data, family=ref["family"], method="inla", chains=CHAINS,
                     draws=DRAWS, seed=11, progress=False)  # fmt: skip
    # the priors are the reference's: the same posterior
    assert {k: p.to_stan() for k, p in fit.spec.priors.items()} == ref["priors"]
    return request.param, ref, fit


def _deviations(ref, fit):
    """Per parameter and criterion: (deviation, allowed)."""
    out = {}
    density = 0.103  # standard normal density at its 5% / 95% quantiles
    for name, r in ref["parameters"].items():
        x = np.asarray(fit.posterior.draws[name], dtype=float).ravel()
        s = r["sd"]
        q05, q95 = np.quantile(x, [0.05, 0.95])
        quantile_mc = np.sqrt(0.05 * 0.95 / S) / density  # in units of s
        out[name] = {
            "mean": (abs(x.mean() - r["mean"]) / s,
                     0.1 + Z * np.hypot(r["mcse_mean"] / s, 1 / np.sqrt(S))),
            "sd": (abs(x.std(ddof=1) / s - 1),
                   0.1 + Z * np.hypot(r["mcse_sd"] / s, 1 / np.sqrt(2 * S))),
            "q05": (abs(q05 - r["q05"]) / s, 0.1 + Z * np.hypot(r["mcse_q05"] / s, quantile_mc)),
            "q95": (abs(q95 - r["q95"]) / s, 0.1 + Z * np.hypot(r["mcse_q95"] / s, quantile_mc)),
        }  # fmt: skip
    return out


@pytest.mark.parametrize("criterion", ["mean", "sd", "q05", "q95"])
def test_marginals_match_long_nuts(compared, criterion):
    model, ref, fit = compared
    misses = []
    for name, checks in _deviations(ref, fit).items():
        deviation, allowed = checks[criterion]
        if deviation > allowed:
            misses.append(f"{name}: {deviation:.3f} > {allowed:.3f}")
            if (model, name, criterion) in KNOWN:
                pytest.xfail(KNOWN[(model, name, criterion)])
    assert not misses, f"{model} {criterion}: " + "; ".join(misses)


def test_near_gaussian_case_is_tight():
    """Many rows per level of a poisson model: the Laplace approximation is nearly exact, so
    the agreement is far inside the criteria (0.05 s for means and quantiles, 5% for SDs)."""
    ref = _reference("poisson_many_rows")
    data = pd.DataFrame(ref["data"])
    fit = ml.fit(ref["formula"], data, family="poisson", method="inla", chains=CHAINS,
                 draws=DRAWS, seed=11, progress=False)  # fmt: skip
    for name, checks in _deviations(ref, fit).items():
        for criterion, (deviation, allowed) in checks.items():
            assert deviation <= allowed - 0.05, (name, criterion, deviation)
