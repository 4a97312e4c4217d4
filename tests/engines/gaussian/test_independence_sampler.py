"""The exact engine's independence sampler: thinning when the proposal mixes slowly, one
compiled shape for every batch of proposals."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

import multilevel as ml
from multilevel.engines import collapsed

FORMULA = "Reaction ~ Days + (Days | Subject)"


def _fit(seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)
        return ml.fit(
            FORMULA, ml.datasets.load("sleepstudy"), method="exact", seed=seed, progress=False
        )


def test_short_ess_reruns_with_thinning_and_keeps_the_posterior(monkeypatch):
    plain = _fit(1)
    assert plain.posterior.settings["sampler"] == "independence"
    real, calls = collapsed._min_ess, []

    def short_first(draws):  # the first pass reports a third of the ESS needed
        calls.append(draws.shape)
        return collapsed._MIN_ESS * draws.shape[0] / 3 if len(calls) == 1 else real(draws)

    monkeypatch.setattr(collapsed, "_min_ess", short_first)
    monkeypatch.setattr(collapsed, "_CHEAP_WORK", 0)  # just enough thinning for the minimum
    thinned = _fit(1)
    settings = thinned.posterior.settings
    assert settings["sampler"] == "independence" and settings["thin"] == 4
    assert calls[0] == calls[1]  # the kept draws have the requested shape both times
    a, b = plain.summary(), thinned.summary()
    names = ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days", "sigma"]
    mcse = np.hypot(a.loc[names, "mcse_mean"], b.loc[names, "mcse_mean"])
    assert np.all(np.abs(a.loc[names, "mean"] - b.loc[names, "mean"]) < 4 * mcse)


def _first_pass_reports(monkeypatch, ess_fraction):
    """The first pass's ESS is ``ess_fraction`` of the draws; later passes are measured."""
    real, calls = collapsed._min_ess, []

    def reported(draws):
        calls.append(draws.shape)
        if len(calls) == 1:
            return ess_fraction * draws.shape[0] * draws.shape[1]
        return real(draws)

    monkeypatch.setattr(collapsed, "_min_ess", reported)


def test_an_ess_under_half_the_draws_thins_when_proposals_are_cheap(monkeypatch):
    _first_pass_reports(monkeypatch, 0.2)  # above the minimum (0.1), under half
    fit = _fit(3)
    assert fit.posterior.settings["thin"] == 5  # ceil(1 / 0.2): towards independent draws
    assert fit.summary()[["ess_bulk", "ess_tail"]].to_numpy().min() > 400


def test_a_short_ess_thins_to_the_most_when_proposals_are_cheap(monkeypatch):
    _first_pass_reports(monkeypatch, 0.05)  # under the minimum
    assert _fit(3).posterior.settings["thin"] == collapsed._MAX_THIN


def test_an_ess_still_short_after_thinning_thins_again_rather_than_hand_over(monkeypatch):
    real, calls = collapsed._min_ess, []

    def reported(draws):  # 200, then 99% of the minimum, then measured
        calls.append(draws.shape)
        if len(calls) <= 2:
            return [200.0, 0.99 * collapsed._MIN_ESS * draws.shape[0]][len(calls) - 1]
        return real(draws)

    monkeypatch.setattr(collapsed, "_min_ess", reported)
    monkeypatch.setattr(collapsed, "_CHEAP_WORK", 0)
    settings = _fit(3).posterior.settings
    assert settings["sampler"] == "independence"
    assert settings["thin"] == 4  # ceil(1.25 * 400 / 200) = 3, then ceil(1.25 * 3 / 0.99)
    assert len(calls) == 3


def test_no_extra_thinning_when_proposals_are_dear(monkeypatch):
    _first_pass_reports(monkeypatch, 0.2)
    monkeypatch.setattr(collapsed, "_CHEAP_WORK", 0)
    assert _fit(3).posterior.settings["thin"] == 1


def test_far_too_short_ess_hands_over_to_nuts(monkeypatch):
    monkeypatch.setattr(collapsed, "_min_ess", lambda draws: 1.0)
    fit = _fit(2)
    assert fit.posterior.settings["sampler"] == "nuts"
    assert "NUTS" in fit.posterior.reason


def test_padded_evaluates_in_one_shape():
    shapes = []

    def f(x, scale):
        shapes.append(x.shape)
        return np.asarray(x).sum(axis=1) * scale

    x = np.arange(12.0).reshape(6, 2)
    out = collapsed._padded(f, x[:4], 6, 2.0)
    np.testing.assert_allclose(out, x[:4].sum(axis=1) * 2.0)
    assert shapes == [(6, 2)]


def test_group_effects_drawn_in_batches_equal_one_batch(monkeypatch):
    whole = _fit(4).posterior.draws["r_block0"]
    monkeypatch.setattr(collapsed, "_EFFECT_VALUES", 72 * 300)  # sleepstudy: 72 per draw
    batched = _fit(4).posterior.draws["r_block0"]  # batches of 300 draws, the last padded
    np.testing.assert_allclose(batched, whole, rtol=1e-12, atol=1e-12)


def test_diagnostics_read_the_sampled_parameters_only_until_a_summary_is_asked_for():
    fit = _fit(5)
    assert "_summary" not in fit.__dict__  # fitting did not summarise the group effects
    names = list(fit.spec.parameter_names)
    assert list(fit._checked.index) == names
    full = fit.summary()
    assert len(full) == len(names) + 18 * 2
    pd.testing.assert_frame_equal(fit._checked.loc[names], full.loc[names])


def test_diagnostics_still_flag_a_sampled_parameter():
    import dataclasses

    from multilevel.results.fit import Fit

    fit = _fit(5)
    draws = dict(fit.posterior.draws)
    draws["sd_Subject__Days"] = draws["sd_Subject__Days"].copy()
    draws["sd_Subject__Days"][0] += 10.0  # one chain far from the others
    shifted = Fit(fit.spec, dataclasses.replace(fit.posterior, draws=draws))
    assert any("sd_Subject__Days" in m for m in shifted.diagnostics())
    assert "_summary" not in shifted.__dict__
