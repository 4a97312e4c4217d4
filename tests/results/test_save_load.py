"""``Fit.save`` / ``PointFit.save`` / ``multilevel.load``: a lossless round trip through a file
of data only (JSON and ``.npy`` arrays), and one clear error for every kind of bad file."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from _storage_fits import engine_fit, fake_fit, simulated

import multilevel as ml
from multilevel.results import arviz_bridge
from multilevel.results.storage import FORMAT, VERSION


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    fit = engine_fit("exact")
    path = tmp_path_factory.mktemp("fits") / "small.mlfit"
    assert fit.save(path) == path
    return fit, ml.load(path), path


def _assert_same_arrays(a, b):
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _assert_same_design(a, b):
    """Every array and name of two designs, and the encodings their ``transform`` uses."""
    for name in ("y", "X", "offset", "trials", "se", "weights"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and x.shape == y.shape, name
            np.testing.assert_array_equal(x, y, err_msg=name)
            assert not y.flags.writeable, name
    for attr in ("X_names", "X_terms", "intercept", "response", "n"):
        assert getattr(a, attr) == getattr(b, attr), attr
    parts = [(a.blocks, b.blocks)] + [(a.dpars[k].blocks, b.dpars[k].blocks) for k in a.dpars]
    assert list(a.dpars) == list(b.dpars)
    for name in a.dpars:
        np.testing.assert_array_equal(a.dpars[name].X, b.dpars[name].X)
        assert a.dpars[name].X_names == b.dpars[name].X_names
    for blocks_a, blocks_b in parts:
        assert len(blocks_a) == len(blocks_b)
        for x, y in zip(blocks_a, blocks_b, strict=True):
            for attr in ("name", "coef_names", "correlated", "columns", "source"):
                assert getattr(x, attr) == getattr(y, attr), attr
            pd.testing.assert_index_equal(y.levels, x.levels, exact=True)
            for attr in ("index", "weights", "Z"):
                u, v = getattr(x, attr), getattr(y, attr)
                assert u.dtype == v.dtype and u.shape == v.shape, attr
                np.testing.assert_array_equal(u, v, err_msg=attr)
                assert not v.flags.writeable, attr
    info_a, info_b = a.info, b.info
    assert info_b.formula == info_a.formula and info_b.formula.text == info_a.formula.text
    assert info_b.n_train == info_a.n_train and info_b.family == info_a.family
    for part_a, part_b in zip(info_a.parts, info_b.parts, strict=True):
        assert part_b.population == part_a.population
        assert [blk.coding for blk in part_b.blocks] == [blk.coding for blk in part_a.blocks]
        for text, fa in part_a.factors.items():
            fb = part_b.factors[text]
            assert (fb.kind, fb.suffixes, fb.reference) == (fa.kind, fa.suffixes, fa.reference)
            if fa.levels is not None:
                pd.testing.assert_index_equal(fb.levels, fa.levels, exact=True)
            assert len(fb.state) == len(fa.state)
            for (ka, va), (kb, vb) in zip(fa.state, fb.state, strict=True):
                assert ka == kb
                for pa, pb in zip(va, vb, strict=True):
                    np.testing.assert_array_equal(pa, pb)


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
    assert b.family == a.family
    assert dict(b.priors) == dict(a.priors)
    assert b.parameter_names == a.parameter_names
    assert (b.b_names, b.sd_names, b.cor_names, b.aux_names) == (
        a.b_names,
        a.sd_names,
        a.cor_names,
        a.aux_names,
    )
    assert b.centred_intercept_prior == a.centred_intercept_prior
    _assert_same_design(a.design, b.design)


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


def test_the_file_is_a_zip_of_npy_arrays_and_strict_json(saved):
    fit, _, path = saved
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[0] == "metadata.json"
        assert all(n.startswith("arrays/") and n.endswith(".npy") for n in names[1:])
        text = archive.read("metadata.json").decode("utf-8")
        meta = json.loads(text, parse_constant=lambda token: pytest.fail(f"JSON has {token}"))
        assert meta["format"] == FORMAT and meta["version"] == VERSION == 2
        assert meta["kind"] == "fit"
        assert meta["design"]["formula"] == fit.spec.design.info.formula.text
        assert meta["model"]["parameters"] == list(fit.spec.parameter_names)
        assert (
            meta["model"]["priors"]["b_Intercept"]["stan"]
            == fit.spec.priors["b_Intercept"].to_stan()
        )
        k = meta["posterior"]["draws"].index("sigma")
        entry = meta["arrays"][f"posterior/draws/{k}"]
        with archive.open(entry["member"]) as handle:
            array = np.load(io.BytesIO(handle.read()), allow_pickle=False)
        for name in names[1:]:  # every member is a plain array
            with archive.open(name) as handle:
                assert np.load(io.BytesIO(handle.read()), allow_pickle=False).dtype.kind in "biuf"
    np.testing.assert_array_equal(array, fit.posterior.draws["sigma"])
    # arrays held as one value (no offset, a varying intercept) are not written out
    assert meta["arrays"]["design/offset"] == {"constant": 0.0, "dtype": "float64", "shape": [80]}


def test_saving_twice_gives_the_same_bytes(saved, tmp_path):
    fit, back, path = saved
    assert fit.save(tmp_path / "again.mlfit").read_bytes() == path.read_bytes()
    assert back.save(tmp_path / "loaded.mlfit").read_bytes() == path.read_bytes()


# every design encoding: categorical coding with a chosen reference, booleans, interactions,
# scale / center / poly parameters, offsets, addition terms, nesting, ||, mm() with weights and
# scale = TRUE, integer, float and text levels, and a distributional formula
RICH_FORMULA = (
    "y | weights(w) ~ scale(x) + center(z) + poly(z, 2) + C(cat, Treatment('b')) + flag"
    " + x:cat + offset(log(o)) + (1 + x || cat) + (1 | a/b) + (1 | f)"
    " + (1 | mm(m1, m2, weights = cbind(w1, w2), scale = TRUE))"
)


def rich_data(n: int = 60, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "z": rng.uniform(1, 3, n),
            "cat": rng.choice(["a", "b", "c"], n),
            "flag": rng.choice([True, False], n),
            "o": rng.uniform(1, 2, n),
            "w": rng.uniform(0.5, 2, n),
            "a": rng.choice([3, 10, 2], n),
            "b": rng.choice(["p", "q"], n),
            "f": rng.choice([0.5, 1.5, 2.5], n),
            "m1": rng.choice(["u", "v", "s"], n),
            "m2": rng.choice(["u", "v", "t"], n),
            "w1": rng.uniform(0.2, 1, n),
            "w2": rng.uniform(0.2, 1, n),
        },
        index=pd.RangeIndex(7, 7 + n),
    )


@pytest.mark.parametrize(
    "formula, family, dpars",
    [
        (RICH_FORMULA, "gaussian", ["sigma ~ 1 + scale(x) + (1 | cat)"]),
        ("y | se(w) ~ 0 + cat + poly(x, 2, raw = TRUE) + (1 + x | a)", "gaussian", None),
        ("k | trials(t) ~ x + (1 + C(b) | cat)", "binomial", None),
        ("c ~ x + offset(log(o)) + (1 | a:b)", "poisson", None),
    ],
)
def test_every_encoding_survives_and_predicts_new_data_alike(tmp_path, formula, family, dpars):
    data = rich_data()
    rng = np.random.default_rng(0)
    data["t"] = rng.integers(5, 9, len(data))
    data["k"] = rng.integers(0, 5, len(data))
    data["c"] = rng.poisson(2.0, len(data))
    fit = fake_fit(formula, data, family, dpars=dpars, draws=20)
    back = ml.load(fit.save(tmp_path / "rich.mlfit"))
    _assert_same_design(fit.spec.design, back.spec.design)
    assert dict(back.spec.priors) == dict(fit.spec.priors)
    assert list(back.spec.dpars) == list(fit.spec.dpars)
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    for group in fit.groups:
        pd.testing.assert_frame_equal(back.coef(group), fit.coef(group))
    new = rich_data(9, seed=8)  # new values; some grouping levels new
    new["t"] = 6
    for kind in ("linear", "mean", "response"):
        np.testing.assert_array_equal(
            back.predict(new, kind=kind, new_groups="sample", seed=1, summary=False),
            fit.predict(new, kind=kind, new_groups="sample", seed=1, summary=False),
        )
    np.testing.assert_array_equal(
        back.predict(kind="response", seed=2, summary=False),
        fit.predict(kind="response", seed=2, summary=False),
    )


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


def test_dropped_columns_and_the_designs_notes_survive(tmp_path):
    data = simulated(40)
    data["x2"] = 2 * data["x"]  # collinear with x: dropped, as lme4 drops it
    data.loc[data.index[:3], "x"] = np.nan  # three incomplete rows: left out, with a note
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        fit = fake_fit("y ~ 1 + x + x2 + (1 | g)", data, draws=20)
    assert fit.spec.design.info.parts[0].dropped == ("x2",)
    assert fit.spec.design.info.notes
    back = ml.load(fit.save(tmp_path / "dropped.mlfit"))
    assert back.spec.design.info.parts[0].dropped == ("x2",)
    assert back.spec.design.info.notes == fit.spec.design.info.notes
    assert back.spec.design.X_names == fit.spec.design.X_names == ("Intercept", "x")
    new = data.drop(columns="y").iloc[3:10]
    np.testing.assert_array_equal(
        back.predict(new, kind="linear", summary=False),
        fit.predict(new, kind="linear", summary=False),
    )


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_a_point_fit_survives(tmp_path, method):
    fit = engine_fit(method)
    back = ml.load(fit.save(tmp_path / f"{method}.mlfit"))
    assert type(back) is type(fit) and back.method == method
    _assert_same_design(fit.spec.design, back.spec.design)
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    pd.testing.assert_frame_equal(back.coef("Subject"), fit.coef("Subject"))
    pd.testing.assert_series_equal(back.fixef(), fit.fixef())
    new = pd.DataFrame({"Days": [0, 9], "Subject": [308, 1]})
    pd.testing.assert_series_equal(
        back.predict(new, new_groups="population"), fit.predict(new, new_groups="population")
    )
    est_a, est_b = fit.estimate, back.estimate
    for field in ("method", "loglik", "converged", "message", "evaluations", "reason"):
        assert getattr(est_b, field) == getattr(est_a, field), field
    np.testing.assert_array_equal(est_b.vcov, est_a.vcov)
    np.testing.assert_array_equal(est_b.theta, est_a.theta)
    assert repr(back) == repr(fit)


def test_saving_replaces_a_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "fit.mlfit"
    path.write_text("old")
    fit = fake_fit("y ~ 1", pd.DataFrame({"y": [1.0, 2.0, 4.0]}), draws=10)
    fit.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["fit.mlfit"]
    assert ml.load(path).posterior.engine == "hand-made"


def test_labels_that_a_data_file_cannot_hold_are_refused_before_writing(tmp_path):
    data = pd.DataFrame(
        {"y": [1.0, 2.0, 4.0, 3.0], "d": pd.to_datetime(["2020-01-01", "2021-01-01"] * 2)}
    )
    fit = fake_fit("y ~ 1 + (1 | d)", data, draws=10)
    with pytest.raises(ml.DataError, match="convert the column to text"):
        fit.save(tmp_path / "dates.mlfit")
    assert list(tmp_path.iterdir()) == []


# -- bad files ---------------------------------------------------------------------------------


def rewrite(good, out, *, meta=None, drop=(), add=None, replace=None):
    """A copy of the archive ``good`` at ``out``: ``meta(dict)`` edits ``metadata.json``,
    ``drop`` leaves members out, ``add`` and ``replace`` map member names to bytes."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            if item.filename in drop:
                continue
            content = src.read(item.filename)
            if item.filename == "metadata.json" and meta is not None:
                data = json.loads(content)
                meta(data)
                content = json.dumps(data).encode()
            if replace and item.filename in replace:
                content = replace[item.filename]
            dst.writestr(item, content)
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out


def _member(meta, name):
    return meta["arrays"][name]["member"]


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _set(path: str, value):
    """An edit of metadata.json that sets the item at ``path`` (keys separated by /; list
    positions as numbers)."""

    def edit(meta):
        *parents, last = path.split("/")
        node = meta
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _bad_files(tmp_path, good):
    """(what, path, words the message must hold)."""
    data = good.read_bytes()
    yield "missing", tmp_path / "nope.mlfit", "no such file"
    truncated = tmp_path / "truncated.mlfit"
    truncated.write_bytes(data[: len(data) // 2])
    yield "truncated", truncated, "truncated or damaged"
    text = tmp_path / "text.mlfit"
    text.write_text("not a fit")
    yield "text", text, "not a zip archive"
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"format": "something else"}))
    yield "other zip", other, "not that of a multilevel fit"
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    yield "no metadata", empty, "no metadata.json"
    yield (
        "newer",
        rewrite(good, tmp_path / "newer.mlfit", meta=_set("version", 99)),
        "version 99; this multilevel reads versions up to 2",
    )
    yield (
        "version not a number",
        rewrite(good, tmp_path / "v.mlfit", meta=_set("version", "2")),
        "not a version number",
    )
    with zipfile.ZipFile(good) as archive:
        meta = json.loads(archive.read("metadata.json"))
    x_member = _member(meta, "design/X")
    y_member = _member(meta, "design/y")
    yield (
        "JSON not JSON",
        rewrite(good, tmp_path / "json.mlfit", replace={"metadata.json": b"{'format': 1"}),
        "metadata.json cannot be read",
    )
    yield (
        "NaN token",
        rewrite(good, tmp_path / "nan.mlfit", replace={"metadata.json": b'{"format": NaN}'}),
        "not valid JSON",
    )
    yield (
        "a term added to the formula",
        rewrite(
            good,
            tmp_path / "formula.mlfit",
            meta=_set("design/formula", "y ~ 1 + x + z + (1 | g)"),
        ),
        "factors",
    )
    yield (
        "a level removed",
        rewrite(
            good,
            tmp_path / "levels.mlfit",
            meta=lambda m: m["design"]["groupings"][0]["levels"]["values"].pop(),
        ),
        "points outside the 5 levels of g",
    )
    yield (
        "X of another shape",
        rewrite(
            good,
            tmp_path / "x.mlfit",
            replace={x_member: _npy(np.zeros((80, 3)))},
        ),
        "holds float64 [80, 3], the table says float64 [80, 2]",
    )
    yield (
        "the table edited to fit X of another shape",
        rewrite(
            good,
            tmp_path / "x2.mlfit",
            replace={x_member: _npy(np.zeros((80, 3)))},
            meta=lambda m: m["arrays"]["design/X"].update(shape=[80, 3]),
        ),
        "design array X is float64 (80, 3); the encodings give float64 (80, 2)",
    )
    yield (
        "a parameter renamed",
        rewrite(good, tmp_path / "names.mlfit", meta=_set("model/parameters/0", "b_x")),
        "the formula gives the parameters",
    )
    yield (
        "a prior's text changed",
        rewrite(
            good,
            tmp_path / "prior.mlfit",
            meta=_set("model/priors/sigma/stan", "normal(0, 1) T[0, ]"),
        ),
        "the prior of sigma",
    )
    yield (
        "an unknown family",
        rewrite(good, tmp_path / "family.mlfit", meta=_set("model/family/name", "os.system")),
        "unknown family",
    )
    yield (
        "draws of a parameter dropped",
        rewrite(
            good,
            tmp_path / "draws.mlfit",
            meta=_set("posterior/draws/0", "something_else"),
        ),
        "no draws of ['b_Intercept']",
    )
    yield (
        "a member missing",
        rewrite(good, tmp_path / "missing.mlfit", drop=(y_member,)),
        f"lacks the members ['{y_member}']",
    )
    yield (
        "a member added",
        rewrite(good, tmp_path / "extra.mlfit", add={"model.pkl": b"\x80\x04N."}),
        "members its metadata.json does not list: ['model.pkl']",
    )
    yield (
        "an array with no place in the model",
        rewrite(
            good,
            tmp_path / "stray.mlfit",
            meta=lambda m: m["arrays"].update(
                {"estimate/theta": {"constant": 1.0, "dtype": "float64", "shape": [2]}}
            ),
        ),
        "lists arrays a fit has no place for: ['estimate/theta']",
    )
    yield (
        "an object array",
        rewrite(
            good,
            tmp_path / "object.mlfit",
            replace={y_member: _npy(np.array([None] * 80, dtype=object))},
        ),
        "holds object [80]",
    )
    yield (
        "a response outside the family's support",
        rewrite(
            good,
            tmp_path / "support.mlfit",
            meta=_set("model/family", {"name": "poisson", "link": "log", "links": {"mu": "log"}}),
        ),
        "of the poisson family must be a non-negative integer",
    )


def test_bad_files_raise_one_data_error_naming_the_path_and_the_problem(tmp_path):
    good = engine_fit("exact").save(tmp_path / "good.mlfit")
    for what, path, words in _bad_files(tmp_path, good):
        with pytest.raises(ml.DataError) as info:
            ml.load(path)
        message = str(info.value)
        assert str(path) in message, what
        assert words in message, (what, message)
        assert "\n" not in message, what
