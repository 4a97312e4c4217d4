"""Simulation-based calibration end to end: a calibrated model passes, a wrong prior is
flagged, the run does not depend on n_jobs, and bad arguments are refused."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from multilevel.calibration import SBCResult, sbc, simulate
from multilevel.errors import EngineError, PriorError

matplotlib.use("Agg")

#: Family-wise false-alarm rate of the passing run's flags: with the Bonferroni threshold of
#: SBCResult.summary, a calibrated model is flagged with probability at most 0.1%.
ALPHA = 0.001
FAST = dict(method="exact", chains=2, draws=500, warmup=500, progress=False)


def _data(seed=0):
    # 8 groups x 5 rows, a response with a group effect
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"g": np.repeat(np.arange(8), 5)})
    data["y"] = 10 + rng.normal(0, 2, 8)[data["g"]] + rng.normal(0, 3, len(data))
    return data


@pytest.fixture(scope="module")
def passing():
    """200 simulations of y ~ 1 + (1 | g) with the default (data-scaled, then frozen)
    priors, fitted by the exact gaussian engine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sbc("y ~ 1 + (1 | g)", _data(), n_sims=200, seed=11, **FAST)


@pytest.mark.slow
def test_a_calibrated_model_is_not_flagged(passing):
    table = passing.summary(alpha=ALPHA)
    assert list(table.index) == [
        "b_Intercept",
        "sd_g__Intercept",
        "sigma",
        "r_g[0,Intercept]",
        "r_g[1,Intercept]",
    ]
    assert not table["miscalibrated"].any(), table
    assert (table["p_value"] > table.attrs["threshold"]).all()
    assert passing.L == 1000 and passing.thin == 1
    assert passing.ranks.shape == (200, 5) and passing.ranks.to_numpy().max() <= passing.L
    assert (passing.diagnostics["error"] == "").all()
    assert (passing.diagnostics["max_r_hat"] < 1.05).all()
    assert passing.settings["engine"] == "gaussian" and passing.settings["seed"] == 11


@pytest.mark.slow
def test_the_result_shows_and_plots_its_summary(passing):
    text = repr(passing)
    assert "200 simulations" in text and "no parameter flagged" in text
    for kind, panels in (("ecdf_diff", 5), ("hist", 2)):
        names = None if panels == 5 else ["sigma", "b_Intercept"]
        fig = passing.plot(kind, names)
        assert sum(ax.get_visible() for ax in fig.axes) == panels
    with pytest.raises(ValueError, match="unknown kind"):
        passing.plot("violin")
    with pytest.raises(ValueError, match="no ranks for 'nope'"):
        passing.plot(parameters=["nope"])
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(passing)
    assert "sd_g__Intercept" in console.export_text()


def test_a_wrong_fitting_prior_is_flagged_and_named():
    # simulate group SDs near 5, fit with a prior that holds them near 0.5: the posterior of
    # the SD stays far below the truth, so its ranks pile up at L
    result = sbc(
        "y ~ 1 + (1 | g)",
        _data(),
        n_sims=30,
        seed=3,
        priors={"sd": "normal(5, 0.5)"},
        fit_priors={"sd": "normal(0.5, 0.1)"},
        **FAST,
    )
    table = result.summary(alpha=ALPHA)
    assert "sd_g__Intercept" in result.miscalibrated
    assert table.loc["sd_g__Intercept", "miscalibrated"]
    assert table.loc["sd_g__Intercept", "p_value"] < 1e-10
    assert "high end" in table.loc["sd_g__Intercept", "reason"]
    assert table.loc["sd_g__Intercept", "mean_rank"] > 0.95
    assert "miscalibrated: " in repr(result)


def test_ranks_do_not_depend_on_n_jobs_and_truths_are_those_of_simulate():
    kw = dict(n_sims=4, seed=5, priors={"sd": "normal(0, 2)"}, **FAST)
    kw.update(draws=200, warmup=200)
    serial = sbc("y ~ 1 + (1 | g)", _data(), n_jobs=1, **kw)
    parallel = sbc("y ~ 1 + (1 | g)", _data(), n_jobs=2, **kw)
    assert isinstance(parallel, SBCResult)
    pd.testing.assert_frame_equal(serial.ranks, parallel.ranks)
    pd.testing.assert_frame_equal(serial.truth, parallel.truth)
    assert serial.thin == parallel.thin
    sims = simulate("y ~ 1 + (1 | g)", _data(), priors={"sd": "normal(0, 2)"}, n_sims=4, seed=5)
    for i, sim in enumerate(sims):
        pd.testing.assert_series_equal(
            serial.truth.loc[i], sim.truth[serial.truth.columns], check_names=False
        )


def test_a_user_thin_sets_l():
    result = sbc("y ~ 1 + (1 | g)", _data(), n_sims=3, seed=1, thin=7, group_effects=0, **FAST)
    assert result.thin == 7 and result.L == 2 * len(range(0, 500, 7))
    assert list(result.ranks.columns) == ["b_Intercept", "sd_g__Intercept", "sigma"]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (dict(n_sims=0), EngineError, "n_sims must be an integer of at least 1"),
        (dict(n_sims=2.5), EngineError, "n_sims"),
        (dict(method="magic"), EngineError, "unknown method 'magic'"),
        (dict(method="reml"), EngineError, "needs posterior draws: use a sampling method"),
        (dict(method="laplace"), EngineError, "point estimates"),
        (dict(thin=0), EngineError, "thin"),
        (dict(n_jobs=0), EngineError, "n_jobs"),
        (dict(chains=0), EngineError, "chains"),
        (dict(seed="x"), EngineError, "seed"),
        (dict(priors={"Intercept": "flat"}), PriorError, "improper prior 'flat\\(\\)' of 'b_"),
        (dict(fit_priors={"sd_nope": "normal(0, 1)"}), PriorError, "sd_nope"),
    ],
)
def test_bad_arguments_are_refused(options, error, match):
    kw = dict(n_sims=2, progress=False, method="exact") | options
    with pytest.raises(error, match=match):
        sbc("y ~ 1 + (1 | g)", _data(), **kw)


def test_an_improper_prior_names_the_parameter_and_a_fix():
    data = _data()
    data["x"] = np.arange(len(data), dtype=float)
    with pytest.raises(PriorError, match="'b_x'.*priors=\\{'b_x': 'normal"):
        sbc("y ~ 1 + x + (1 | g)", data, priors={"b": "flat"}, n_sims=2, progress=False)


def test_failed_fits_are_counted_and_announced(monkeypatch):
    """A fit that fails leaves its simulation without ranks, and the run says how many and
    why, rather than quietly calibrating on the rest."""
    from multilevel.engines.gaussian import GaussianEngine

    real = GaussianEngine.fit
    calls = {"n": 0}

    def flaky(self, spec, settings, *, reason=""):
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise EngineError("the sampler fell over")
        return real(self, spec, settings, reason=reason)

    monkeypatch.setattr(GaussianEngine, "fit", flaky)
    with pytest.warns(UserWarning, match="2 of 4 fits failed.*the sampler fell over"):
        result = sbc("y ~ 1 + (1 | g)", _data(), n_sims=4, seed=1, **FAST)
    assert len(result.ranks) == 2
    assert (result.diagnostics["error"].str.contains("fell over")).sum() == 2
