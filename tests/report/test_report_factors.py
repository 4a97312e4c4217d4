"""The Factors section of a factor model's report: variance shares, shrinkage toward the
groups, and leave-one-out calibration of the predictive intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from _factor_data import FORMULA, simulate
from multilevel.report.content import build_report
from multilevel.report.factors import factor_tables
from multilevel.report.html import render


@pytest.fixture(scope="module")
def fit():
    frame, _ = simulate(n_users=150, n_items=100, per_user=30, k=2, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.fit(
            FORMULA.format(k=2), frame, chains=2, draws=300, warmup=200, seed=3, progress=False
        )


def test_the_tables_add_up_and_the_loo_intervals_cover_as_they_say(fit):
    tables = factor_tables(fit)
    shares = tables["shares"]
    assert list(shares.index) == ["(1 | user)", "(1 | item)", "factors (u · v)", "residual (sigma)"]
    assert 0.97 < shares["share"].sum() < 1.03  # means of shares that sum to 1 per draw
    assert list(tables["shrinkage"].index) == ["artist"]
    calibration = tables["calibration"]
    # the data come from the model: leave-one-out coverage is nominal up to sampling error
    assert np.all(
        np.abs(calibration["covered"] - calibration["nominal"]) < 2 * calibration["±2 se"]
    )


def test_the_report_has_a_factors_section_only_for_factor_models(fit):
    html = render(build_report(fit))
    assert 'id="factors"' in html and "Shrinkage toward the groups" in html
    plain = ml.fit(
        "y ~ 1 + (1 | g)",
        {"y": np.arange(20.0), "g": list("ab") * 10},
        chains=1,
        draws=50,
        warmup=50,
        seed=1,
        progress=False,
    )
    assert 'id="factors"' not in render(build_report(plain))
