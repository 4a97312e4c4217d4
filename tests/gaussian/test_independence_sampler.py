"""The exact engine's independence sampler: thinning when the proposal mixes slowly, one
compiled shape for every batch of proposals."""

from __future__ import annotations

import warnings

import numpy as np

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
    thinned = _fit(1)
    settings = thinned.posterior.settings
    assert settings["sampler"] == "independence" and settings["thin"] == 4
    assert calls[0] == calls[1]  # the kept draws have the requested shape both times
    a, b = plain.summary(), thinned.summary()
    names = ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days", "sigma"]
    mcse = np.hypot(a.loc[names, "mcse_mean"], b.loc[names, "mcse_mean"])
    assert np.all(np.abs(a.loc[names, "mean"] - b.loc[names, "mean"]) < 4 * mcse)


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
