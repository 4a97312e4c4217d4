"""Calibration of every family: 90% intervals hold the truth 90% of the time.

For each family, K = 20 data sets of ``y ~ 1 + x + (1 | g)`` (100 rows, 10 levels) are drawn
with every parameter from the priors the model is fitted with (simulation-based calibration;
see ``_simulate.py``), so the nominal coverage is exact by construction and each parameter's
hit count is Binomial(20, 0.9). The checks (per parameter, per group's effects pooled over
levels, all parameters pooled) are in :meth:`_simulate.Coverage.failures`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _simulate import (
    FAMILY_LEVELS,
    FAMILY_N,
    FAMILY_PRIORS,
    Coverage,
    Simulated,
    family_formula,
    run_study,
    simulate_family,
)

FAMILIES = list(FAMILY_PRIORS)
K_FAMILY = 20


@pytest.mark.slow
@pytest.mark.coverage
@pytest.mark.parametrize("family", FAMILIES)
def test_family_intervals_hold_the_truth_at_the_nominal_rate(family):
    coverage = run_study(
        family,
        lambda seed: simulate_family(family, seed),
        family_formula(family),
        FAMILY_PRIORS[family],
        K_FAMILY,
        family=family,
        seed=100 * FAMILIES.index(family) + 1,
    )
    report = coverage.report()
    print(report)
    table = coverage.table()
    assert coverage.k == K_FAMILY
    assert table.loc["r_g", "per_set"] == FAMILY_LEVELS
    failures = coverage.failures()
    assert not failures, report + "\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# the simulator and the checks themselves (fast)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_simulated_data_sets_have_one_shape(family):
    a, b = simulate_family(family, 1), simulate_family(family, 2)
    assert a.data.shape == b.data.shape and len(a.data) == FAMILY_N
    assert list(a.data.columns) == list(b.data.columns)
    assert a.data["g"].nunique() == FAMILY_LEVELS
    assert set(a.truth) == set(b.truth) and a.truth != b.truth
    assert set(a.classes.values()) >= {"b_Intercept", "b_x", "sd_g__Intercept", "r_g"}
    assert a.truth["sd_g__Intercept"] > 0
    if family == "student_t":
        assert a.truth["nu"] > 1


def _fake_study(rate: float, k: int = 50, levels: int = 10, seed: int = 0) -> Coverage:
    """A study whose intervals hold the truth with probability ``rate``, misses split evenly."""
    rng = np.random.default_rng(seed)
    coverage = Coverage("fake")
    names = ["b_Intercept", "sigma"] + [f"r_g[{i},Intercept]" for i in range(levels)]
    classes = {n: ("r_g" if n.startswith("r_") else n) for n in names}
    for _ in range(k):
        u = rng.uniform(size=len(names))
        truth = np.where(u < rate, 0.0, np.where(u < (1 + rate) / 2, -2.0, 2.0))
        summary = pd.DataFrame({"q5": -1.0, "q95": 1.0}, index=names)
        coverage.add(
            Simulated(pd.DataFrame(), dict(zip(names, truth, strict=True)), classes), summary
        )
    return coverage


def test_checks_pass_calibrated_and_reject_miscalibrated_intervals():
    assert _fake_study(0.9).failures() == []
    assert _fake_study(0.9, k=20, seed=3).failures() == []
    failures = _fake_study(0.6).failures()
    assert any(f.startswith("b_Intercept:") for f in failures)
    assert any(f.startswith("r_g coverage") for f in failures)
    # too wide is miscalibrated too
    assert any(f.startswith("r_g coverage") for f in _fake_study(0.99).failures())


def test_checks_reject_a_one_sided_bias_at_the_right_coverage():
    coverage = _fake_study(0.9, k=50, levels=40)
    assert not any(f.startswith("r_g coverage") for f in coverage.failures())
    for below, inside in zip(coverage.below["r_g"], coverage.inside["r_g"], strict=True):
        below[:] = ~inside  # every miss below q5
    assert any(f.startswith("r_g below q5") for f in coverage.failures())
