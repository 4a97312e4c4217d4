"""The Newton polish after a failed BOBYQA says whether it reached a minimum, so REML/ML
report non-convergence (it used to count any evaluation as convergence)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
import multilevel.engines.reml as gaussian
from multilevel.engines.reml import newton_polish


def test_a_quadratic_converges_to_its_minimum():
    centre = np.array([1.0, 2.0, 0.5])
    a = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 3.0]])
    x, evals, converged = newton_polish(
        lambda x: (x - centre) @ a @ (x - centre) + 7.0, np.zeros(3), np.full(3, -np.inf)
    )
    assert converged and evals > 1
    np.testing.assert_allclose(x, centre, atol=1e-6)


def test_a_minimum_on_the_bound_converges():
    x, _, converged = newton_polish(lambda x: float(np.sum((x + 1.0) ** 2)), np.zeros(2), [0, 0])
    assert converged
    np.testing.assert_array_equal(x, [0.0, 0.0])


def test_a_maximum_or_a_slow_valley_does_not_converge():
    _, evals, converged = newton_polish(lambda x: -float(x @ x), np.ones(2), np.full(2, -np.inf))
    assert not converged and evals > 1  # Hessian not positive definite
    # Newton on x^4 shrinks x by a third per step: 6 steps from 10 leave x near 0.9
    x, _, converged = newton_polish(lambda x: float(x[0] ** 4), np.array([10.0]), [-np.inf])
    assert not converged and 0.5 < x[0] < 1.5


def test_reml_reports_a_failed_optimizer_that_the_polish_cannot_rescue(monkeypatch):
    data = ml.datasets.load("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    reference = ml.fit(formula, data, method="reml")
    assert reference.estimate.converged

    def stops_at_the_start(f, x0, lower, **_):  # BOBYQA giving up at lme4's start
        x0 = np.where(np.asarray(lower) == 0.0, 1.0, 0.0)  # (the moment start is too close)
        return gaussian.Minimum(x0, f(x0), False, "stopped", 1)

    monkeypatch.setattr(gaussian, "bobyqa", stops_at_the_start)
    monkeypatch.setattr(
        gaussian, "newton_polish", lambda f, x, low: newton_polish(f, x, low, steps=1)
    )
    with pytest.warns(ml.ConvergenceWarning, match="did not converge"):
        stuck = ml.fit(formula, data, method="reml")
    assert not stuck.estimate.converged
    assert stuck.loglik() < reference.loglik() - 1e-3
    monkeypatch.undo()

    def gives_up_near_the_optimum(f, x0, lower, **_):  # as NLopt's RoundoffLimited may
        x = reference.estimate.theta + 1e-3
        return gaussian.Minimum(x, f(x), False, "roundoff limited", 50)

    monkeypatch.setattr(gaussian, "bobyqa", gives_up_near_the_optimum)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)
        rescued = ml.fit(formula, data, method="reml")
    assert rescued.estimate.converged
    assert rescued.loglik() == pytest.approx(reference.loglik(), abs=1e-6)
