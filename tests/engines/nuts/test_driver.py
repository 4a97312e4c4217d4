"""The compiled NUTS loop: progress reports from inside it, compiled code reused, chains
independent and reproducible, the potential equal to NumPyro's own."""

from __future__ import annotations

import importlib
import io

import jax
import numpy as np
import pandas as pd
import pytest
import rich.console
from numpyro.infer.util import initialize_model

import multilevel as ml
from multilevel.design import design
from multilevel.engines import _driver, _progress
from multilevel.engines._numpyro_model import make_model
from multilevel.spec.model import build_spec

pytestmark = pytest.mark.filterwarnings("ignore::multilevel.errors.ConvergenceWarning")

SETTINGS = dict(method="nuts", chains=2, warmup=150, draws=50, progress=False)


def _data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(6), 5)
    return pd.DataFrame(
        {"y": rng.normal(size=30) + 0.5 * g, "x": rng.normal(size=30), "g": g.astype(str)}
    )


FORMULA = "y ~ 1 + x + (1 | g)"


def test_every_iteration_of_every_chain_is_reported(monkeypatch):
    seen = []
    monkeypatch.setattr(_progress, "_HANDLER", lambda n, i: seen.append((n, i)))
    ml.fit(FORMULA, _data(0), seed=1, **SETTINGS)
    assert sum(n for n, _ in seen) == 2 * (150 + 50)
    assert max(i for _, i in seen) == 200 and min(i for _, i in seen) == 2


def test_the_bar_shows_phases_and_totals(monkeypatch):
    stream = io.StringIO()
    terminal = rich.console.Console(file=stream, force_terminal=True, width=100)
    monkeypatch.setattr(rich.console, "Console", lambda **_: terminal)  # instead of stderr
    with _progress.sampling_progress(True, "NUTS, 2 chains", 10, 10, chains=2):
        assert _progress._HANDLER is not None
        for t in range(20):
            _progress.tick(1, t)
        _progress.tick(20, 19)
    assert _progress._HANDLER is None
    text = stream.getvalue()
    assert "NUTS, 2 chains: warmup" in text or "NUTS, 2 chains: compiling" in text
    assert "NUTS, 2 chains: sampling" in text and "40/40" in text


def test_second_fit_of_the_same_shape_reuses_the_compiled_sampler():
    first = ml.fit(FORMULA, _data(1), seed=3, **SETTINGS)
    cached = len(_driver._DRIVERS)
    second = ml.fit(FORMULA, _data(2), seed=3, **SETTINGS)
    assert len(_driver._DRIVERS) == cached  # same driver, new data
    a, b = first.summary()["mean"], second.summary()["mean"]
    assert not np.allclose(a.to_numpy(), b.to_numpy())  # data reached the compiled code


def test_seed_reproduces_and_chains_differ():
    a = ml.fit(FORMULA, _data(3), seed=11, **SETTINGS)
    b = ml.fit(FORMULA, _data(3), seed=11, **SETTINGS)
    draws_a = a.to_arviz().posterior["b_x"].to_numpy()
    draws_b = b.to_arviz().posterior["b_x"].to_numpy()
    np.testing.assert_array_equal(draws_a, draws_b)
    assert not np.allclose(draws_a[0], draws_a[1])
    assert a.posterior.settings["chain_method"] in {"threads", "parallel", "vectorized"}


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_potential_equals_numpyros_initialize_model(family):
    data = _data(4)
    if family == "poisson":
        data["y"] = np.random.default_rng(0).poisson(2.0, size=len(data))
    built = make_model(build_spec(design(FORMULA, data), family))
    potential_gen, postprocess_gen, template = _driver.potential(built.model, built.kwargs)
    info = initialize_model(
        jax.random.PRNGKey(0), built.model, model_kwargs=built.kwargs, dynamic_args=True
    )
    assert set(template) == set(info.param_info.z)
    rng = np.random.default_rng(1)
    z = {k: rng.uniform(-1, 1, size=np.shape(v)) for k, v in template.items()}
    ours = potential_gen(**built.kwargs)(z)
    theirs = info.potential_fn(**built.kwargs)(z)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    ours_c, theirs_c = postprocess_gen(**built.kwargs)(z), info.postprocess_fn(**built.kwargs)(z)
    for name in theirs_c:
        np.testing.assert_allclose(ours_c[name], theirs_c[name], rtol=1e-6)


def _slow_path(*args, **kwargs):
    raise AssertionError("initialize_model, the slow path, was taken")


def test_an_error_in_the_model_is_raised_not_hidden_by_the_slow_path(monkeypatch):
    import numpyro

    monkeypatch.setattr(
        importlib.import_module("numpyro.infer.util"), "initialize_model", _slow_path
    )

    def broken(scale):
        x = numpyro.sample("x", numpyro.distributions.Normal(0.0, scale))
        return x.no_such_method()  # a bug in model code

    with pytest.raises(AttributeError, match="no_such_method"):
        _driver.potential(broken, {"scale": 1.0})

    def typed(scale):
        numpyro.sample("x", numpyro.distributions.Normal(0.0, scale))
        raise TypeError("a model's own type error")

    with pytest.raises(TypeError, match="model's own"):
        _driver.potential(typed, {"scale": 1.0})


def test_a_discrete_latent_site_takes_numpyros_initialize_model(monkeypatch):
    import numpyro

    monkeypatch.setattr(
        importlib.import_module("numpyro.infer.util"), "initialize_model", _slow_path
    )

    def discrete(p):
        numpyro.sample("k", numpyro.distributions.Bernoulli(p))

    with pytest.raises(AssertionError, match="slow path"):
        _driver.potential(discrete, {"p": 0.3})
