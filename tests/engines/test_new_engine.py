"""A new engine is a module plus a registry entry: an engine defined here (as a module of its
own) and added to ``ENGINES`` and ``METHODS`` is chosen by ``method=`` and by ``auto``, and its
Posterior goes through the results (summary, coef, predict) like any engine's."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import engines
from multilevel.engines import SamplerSettings, Support
from multilevel.posterior import Posterior


class ToyEngine:
    """Independent standard-normal draws for every parameter (|values| for the SDs)."""

    name = "toy"
    methods = ("toy",)
    auto_label = "toy, "

    def supports(self, spec) -> Support:
        if spec.design.response != "y":
            return Support(False, "the toy engine fits only a response named y")
        return Support(True, "a response named y")

    def fit(self, spec, settings: SamplerSettings, *, reason: str = "") -> Posterior:
        rng = np.random.default_rng(settings.seed)
        shape = (settings.chains, settings.draws)
        draws = {name: rng.normal(size=shape) for name in spec.b_names + spec.aux_names}
        for design_block, block in zip(spec.design.blocks, spec.covariance, strict=True):
            draws.update({n: np.abs(rng.normal(size=shape)) for n in block.sd_names})
            draws[block.key] = rng.normal(size=shape + (design_block.n_levels, block.q))
        return Posterior(
            draws=draws,
            sample_stats={},
            engine=self.name,
            reason=reason,
            settings={"seed": settings.seed},
        )


@pytest.fixture
def toy_registered(monkeypatch):
    module = types.ModuleType("toy_engine_module")
    module.ToyEngine = ToyEngine
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(engines, "ENGINES", ((module.__name__, "ToyEngine"), *engines.ENGINES))
    monkeypatch.setattr(engines, "METHODS", (*engines.METHODS, "toy"))


def _data(response: str = "y") -> pd.DataFrame:
    rng = np.random.default_rng(3)
    g = np.repeat(list("abcd"), 5)
    return pd.DataFrame({response: rng.normal(size=20), "x": rng.normal(size=20), "g": g})


def test_a_registered_engine_is_asked_for_by_name_and_by_auto(toy_registered):
    fit = ml.fit("y ~ x + (1 | g)", _data(), method="toy", chains=2, draws=400, seed=4)
    assert fit.posterior.engine == "toy"
    assert fit.posterior.reason == "requested: a response named y"
    summary = fit.summary()
    assert {"b_Intercept", "b_x", "sd_g__Intercept", "sigma"} <= set(summary.index)
    assert fit.coef("g").shape[0] == 4
    assert fit.predict(_data()).shape[0] == 20

    auto = ml.fit("y ~ x + (1 | g)", _data(), chains=2, draws=400, seed=4, progress=False)
    assert auto.posterior.engine == "toy" and auto.posterior.reason.startswith("auto: toy, ")


def test_auto_walks_past_a_registered_engine_that_declines(toy_registered):
    spec = ml.build_spec(ml.design("z ~ x + (1 | g)", _data("z")), "gaussian")
    engine, reason = engines.select_engine(spec)
    assert engine.name != "toy"
    with pytest.raises(ml.errors.EngineError, match="toy engine cannot fit this model"):
        engines.select_engine(spec, "toy")


def test_an_unregistered_method_is_refused():
    with pytest.raises(ml.errors.EngineError, match="unknown method 'toy'"):
        ml.fit("y ~ x + (1 | g)", _data(), method="toy")
