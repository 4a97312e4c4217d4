"""Calibration of group structures: crossed, three-level nested, multiple membership and
group-specific residual noise, K = 50 simulated data sets each.

Every parameter and group effect of a data set is drawn from the priors and distributions of
the fitted model (simulation-based calibration, see ``_simulate.py``), so each 90% interval
holds its truth with probability exactly 0.9; the checks are
:meth:`_simulate.Coverage.failures`.
"""

from __future__ import annotations

import pytest

import multilevel as ml
from _simulate import (
    CROSSED_FORMULA,
    CROSSED_LEVELS,
    GAUSSIAN_PRIORS,
    MM_FORMULA,
    MM_LEVELS,
    NESTED_FORMULA,
    NESTED_SHAPE,
    SIGMA_DPAR_FORMULA,
    SIGMA_FORMULA,
    SIGMA_LEVELS,
    SIGMA_PRIORS,
    run_study,
    simulate_crossed,
    simulate_group_noise,
    simulate_membership,
    simulate_nested,
)

K_STRUCTURE = 50


def _check(coverage, groups: dict[str, int]) -> None:
    report = coverage.report()
    print(report)
    table = coverage.table()
    assert coverage.k == K_STRUCTURE
    for group, levels in groups.items():
        assert table.loc[group, "per_set"] == levels, (group, table)
    failures = coverage.failures()
    assert not failures, report + "\n" + "\n".join(failures)


@pytest.mark.slow
@pytest.mark.coverage
def test_crossed_factors_are_calibrated():
    coverage = run_study(
        "crossed", simulate_crossed, CROSSED_FORMULA, GAUSSIAN_PRIORS, K_STRUCTURE, seed=2001
    )
    _check(coverage, {"r_g1": CROSSED_LEVELS[0], "r_g2": CROSSED_LEVELS[1]})


@pytest.mark.slow
@pytest.mark.coverage
def test_three_level_nesting_is_calibrated():
    coverage = run_study(
        "nested a/b/c", simulate_nested, NESTED_FORMULA, GAUSSIAN_PRIORS, K_STRUCTURE, seed=3001
    )
    na, nb, nc, _ = NESTED_SHAPE
    _check(coverage, {"r_a": na, "r_a:b": na * nb, "r_a:b:c": na * nb * nc})


@pytest.mark.slow
@pytest.mark.coverage
def test_weighted_multiple_membership_is_calibrated():
    coverage = run_study(
        "multiple membership",
        simulate_membership,
        MM_FORMULA,
        GAUSSIAN_PRIORS,
        K_STRUCTURE,
        seed=4001,
    )
    _check(coverage, {"r_mmg1g2": MM_LEVELS})


@pytest.mark.slow
@pytest.mark.coverage
def test_group_specific_noise_is_calibrated():
    coverage = run_study(
        "group-specific sigma",
        simulate_group_noise,
        SIGMA_FORMULA,
        SIGMA_PRIORS,
        K_STRUCTURE,
        seed=5001,
        dpars={"sigma": SIGMA_DPAR_FORMULA},
    )
    _check(coverage, {"r_g": SIGMA_LEVELS, "r_g__sigma": SIGMA_LEVELS})


# ---------------------------------------------------------------------------------------------
# the simulators (fast): one shape per study, truths named as the fitted model names them
# ---------------------------------------------------------------------------------------------

SIMULATORS = {
    "crossed": (simulate_crossed, CROSSED_FORMULA, {}),
    "nested": (simulate_nested, NESTED_FORMULA, {}),
    "membership": (simulate_membership, MM_FORMULA, {}),
    "sigma": (simulate_group_noise, SIGMA_FORMULA, {"sigma": SIGMA_DPAR_FORMULA}),
}


@pytest.mark.parametrize("study", list(SIMULATORS))
def test_simulated_data_sets_have_one_shape_and_the_model_names(study):
    simulate, formula, dpars = SIMULATORS[study]
    a, b = simulate(1), simulate(2)
    assert a.data.shape == b.data.shape and list(a.data.columns) == list(b.data.columns)
    assert set(a.truth) == set(b.truth) and a.truth != b.truth
    priors = GAUSSIAN_PRIORS if study != "sigma" else SIGMA_PRIORS
    table = ml.default_priors(formula, a.data, priors=priors, dpars=dpars or None)
    scalars = {n for n, c in a.classes.items() if c == n}
    assert scalars == set(table.index)  # every parameter has a truth, and no other
    design = ml.design(formula, a.data) if not dpars else None
    if design is not None:  # every level of every block has a true effect, named as in r_
        for block in design.blocks:
            group = block.name.replace("(", "").replace(")", "").replace(",", "")
            expected = {f"r_{group}[{level},Intercept]" for level in block.levels}
            assert expected == {n for n, c in a.classes.items() if c == f"r_{group}"}
