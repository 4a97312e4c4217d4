"""``Fit.save`` / ``multilevel.load``: a lossless round trip, and clear errors for bad files."""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from _results_fits import fake_fit, simulated, small_fit

import multilevel as ml
from multilevel.errors import EngineError
from multilevel.results import arviz_bridge


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    fit = small_fit()
    path = tmp_path_factory.mktemp("fits") / "small.mlfit"
    assert fit.save(path) == path
    return fit, ml.load(path), path


def _assert_same_arrays(a, b):
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_every_array_and_setting_survives(saved):
    fit, back, _ = saved
    _assert_same_arrays(fit.posterior.draws, back.posterior.draws)
    _assert_same_arrays(fit.posterior.sample_stats, back.posterior.sample_stats)
    assert back.posterior.log_likelihood.dtype == fit.posterior.log_likelihood.dtype
    np.testing.assert_array_equal(back.posterior.log_likelihood, fit.posterior.log_likelihood)
    for field in ("engine", "reason"):
        assert getattr(back.posterior, field) == getattr(fit.posterior, field)
    assert dict(back.posterior.timings) == dict(fit.posterior.timings)
    assert dict(back.posterior.settings) == dict(fit.posterior.settings)


def test_the_spec_survives(saved):
    fit, back, _ = saved
    a, b = fit.spec, back.spec
    assert b.design.info.formula.text == a.design.info.formula.text
    assert b.family == a.family
    assert dict(b.priors) == dict(a.priors)
    assert b.parameter_names == a.parameter_names
    assert b.centred_intercept_prior == a.centred_intercept_prior
    np.testing.assert_array_equal(b.design.X, a.design.X)
    np.testing.assert_array_equal(b.design.y, a.design.y)
    for x, y in zip(a.design.blocks, b.design.blocks, strict=True):
        assert y.levels.equals(x.levels)
        np.testing.assert_array_equal(y.index, x.index)
        np.testing.assert_array_equal(y.Z, x.Z)
        assert not y.index.flags.writeable


def test_results_are_identical_after_loading(saved):
    fit, back, _ = saved
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    pd.testing.assert_frame_equal(back.coef("g"), fit.coef("g"))
    pd.testing.assert_frame_equal(back.ranef("g", "q95"), fit.ranef("g", "q95"))
    new = pd.DataFrame({"x": [0.0, 1.0, -1.0], "g": ["g0", "g3", "new"]})
    for kind in ("linear", "mean", "response"):
        pd.testing.assert_frame_equal(
            back.predict(new, kind=kind, new_groups="sample", seed=4),
            fit.predict(new, kind=kind, new_groups="sample", seed=4),
        )
    np.testing.assert_array_equal(
        back.to_arviz().posterior_predictive["y"].values,
        fit.to_arviz().posterior_predictive["y"].values,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.ConvergenceWarning)  # Pareto k of 200-draw chains
        assert arviz_bridge.elpd(back.loo()) == arviz_bridge.elpd(fit.loo())
    assert back.diagnostics() == fit.diagnostics()
    assert repr(back) == repr(fit)


def test_the_file_is_a_zip_of_npy_arrays_and_json(saved):
    fit, _, path = saved
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("metadata.json"))
        assert meta["format"] == "multilevel-fit" and meta["version"] == 1
        assert meta["formula"] == fit.spec.design.info.formula.text
        name, member = meta["arrays"]["draws"][0]
        with archive.open(member) as handle:
            array = np.load(handle, allow_pickle=False)
    np.testing.assert_array_equal(array, fit.posterior.draws[name])


def test_a_fit_without_log_likelihood_with_correlations_and_new_data(tmp_path):
    data = simulated(40)
    fit = fake_fit("y ~ 1 + x + (1 + x | g) + (1 | h)", data, draws=50)
    path = fit.save(str(tmp_path / "fake.mlfit"))
    back = ml.load(path)
    assert back.posterior.log_likelihood is None
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    new = data.drop(columns="y").iloc[:5]
    np.testing.assert_array_equal(
        back.predict(new, kind="linear", summary=False),
        fit.predict(new, kind="linear", summary=False),
    )


def test_a_distributional_formula_survives(tmp_path):
    data = simulated(40)
    try:
        fit = fake_fit("y ~ 1 + x", data, dpars=["sigma ~ 1 + (1 | g)"], draws=50)
    except EngineError as err:  # pragma: no cover - before distributional formulas land
        pytest.skip(f"distributional formulas are not supported yet: {err}")
    back = ml.load(fit.save(tmp_path / "dpar.mlfit"))
    assert list(back.spec.dpars) == ["sigma"]
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    np.testing.assert_array_equal(
        back.predict(kind="response", seed=1, summary=False),
        fit.predict(kind="response", seed=1, summary=False),
    )


def test_saving_replaces_a_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "fit.mlfit"
    path.write_text("old")
    fit = fake_fit("y ~ 1", pd.DataFrame({"y": [1.0, 2.0, 4.0]}), draws=10)
    fit.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["fit.mlfit"]
    assert ml.load(path).posterior.engine == "hand-made"


def _bad_files(tmp_path, good):
    data = good.read_bytes()
    yield "missing", tmp_path / "nope.mlfit"
    truncated = tmp_path / "truncated.mlfit"
    truncated.write_bytes(data[: len(data) // 2])
    yield "truncated", truncated
    text = tmp_path / "text.mlfit"
    text.write_text("not a fit")
    yield "text", text
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"format": "something else"}))
    yield "other zip", other
    newer = tmp_path / "newer.mlfit"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(newer, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "metadata.json":
                meta = json.loads(content)
                meta["version"] = 99
                content = json.dumps(meta)
            dst.writestr(item, content)
    yield "newer", newer
    broken = tmp_path / "broken.mlfit"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            dst.writestr(item, content[:10] if item.filename == "model.pkl" else content)
    yield "broken pickle", broken


def test_missing_or_damaged_files_raise_a_data_error_naming_the_path(tmp_path):
    good = fake_fit("y ~ 1", pd.DataFrame({"y": [1.0, 2.0, 4.0]}), draws=10).save(
        tmp_path / "good.mlfit"
    )
    for what, path in _bad_files(tmp_path, good):
        with pytest.raises(ml.DataError) as info:
            ml.load(path)
        assert str(path) in str(info.value), what
    with pytest.raises(ml.DataError, match="version 99"):
        ml.load(tmp_path / "newer.mlfit")
