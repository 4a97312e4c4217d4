"""A design's encodings as data (``multilevel.design._portable``): level labels of every
kind survive JSON exactly, the rebuilt encodings build the same designs of new data, and
encodings edited so that they no longer fit the formula are refused, naming what differs."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from multilevel.design import design
from multilevel.design._portable import (
    decode_index,
    decode_info,
    design_arrays,
    design_from_arrays,
    encode_index,
    encode_info,
)
from multilevel.formula import parse
from multilevel.jsonvalues import dumps, loads


def _through_json(value):
    return loads(dumps(value))


@pytest.mark.parametrize(
    "index",
    [
        pd.Index([2, 3, 10]),
        pd.Index(np.array([1, 7], dtype=np.int32)),
        pd.Index([0.5, 1.5, 2.25]),
        pd.Index([False, True]),
        pd.Index(["a", "b", "c"]),
        pd.Index(["1:p", "1:q"], dtype=object),
        pd.Index([2, "a", 2.5, True], dtype=object),
        pd.Index(["x", "y"], dtype="string"),
        pd.Index([308, 309], name="Subject"),
    ],
    ids=lambda i: str(i.dtype),
)
def test_level_labels_survive_json_exactly(index):
    back = decode_index(_through_json(encode_index(index)))
    pd.testing.assert_index_equal(back, index, exact=True)


def test_labels_that_are_not_numbers_booleans_or_text_are_refused():
    with pytest.raises(TypeError, match="convert the column to text"):
        encode_index(pd.Index(pd.to_datetime(["2020-01-01", "2021-01-01"])))
    with pytest.raises(TypeError, match="convert the column to text"):
        encode_index(pd.Index([object(), object()], dtype=object))


FORMULA = (
    "y | trials(t) ~ scale(x) + center(z) + poly(z, 2) + C(cat, Treatment('c')) + flag + x:cat"
    " + offset(log(o)) + (1 + x || cat) + (1 | a/b)"
    " + (1 | mm(m1, m2, weights = cbind(w1, w2), scale = TRUE))"
)


def data(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "t": rng.integers(5, 10, n),
            "x": rng.normal(size=n),
            "z": rng.uniform(1, 3, n),
            "cat": rng.choice(["a", "b", "c"], n),
            "flag": rng.choice([True, False], n),
            "o": rng.uniform(1, 2, n),
            "a": rng.choice([1, 2, 3], n),
            "b": rng.choice(["p", "q"], n),
            "m1": rng.choice(["u", "v"], n),
            "m2": rng.choice(["v", "w"], n),
            "w1": rng.uniform(0.2, 1, n),
            "w2": rng.uniform(0.2, 1, n),
            "g": rng.choice(["g1", "g2", "g3"], n),
        }
    ).assign(y=lambda d: rng.binomial(d["t"], 0.5))


@pytest.fixture(scope="module")
def trained():
    formula = parse(FORMULA, dpars=["sigma ~ 1 + scale(x) + (1 | g)"])
    return design(formula, data(), family="binomial")


def test_rebuilt_encodings_build_the_same_designs(trained):
    info = decode_info(_through_json(encode_info(trained.info)))
    assert info.formula == trained.info.formula
    rebuilt = design_from_arrays(info, design_arrays(trained))
    new = data(12, seed=5)
    for a, b in ((trained, rebuilt), (trained.info.transform(new), info.transform(new))):
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.offset, b.offset)
        np.testing.assert_array_equal(a.trials, b.trials)
        assert a.X_names == b.X_names
        for x, y in zip(
            a.blocks + a.dpars["sigma"].blocks, b.blocks + b.dpars["sigma"].blocks, strict=True
        ):
            assert x.coef_names == y.coef_names and x.name == y.name
            pd.testing.assert_index_equal(x.levels, y.levels, exact=True)
            np.testing.assert_array_equal(x.index, y.index)
            np.testing.assert_array_equal(x.weights, y.weights)
            np.testing.assert_array_equal(x.Z, y.Z)
        np.testing.assert_array_equal(a.dpars["sigma"].X, b.dpars["sigma"].X)


def _factor(data, text):
    return next(f for f in data["parts"][0]["factors"] if f["text"] == text)


def _edits():
    """(what, edit of the encodings, words of the error)."""

    def scale_key(d):
        _factor(d, "scale(x)")["state"][0]["start"] += 1

    def levels(d):
        _factor(d, "C(cat, Treatment('c'))")["levels"]["values"][0] = "z"

    def reference(d):
        _factor(d, "C(cat, Treatment('c'))")["reference"] = 7

    def contrasts(d):
        d["parts"][0]["population"][-1]["contrasts"] = [True, True]

    def scaled(d):
        next(g for g in d["groupings"] if g["name"].startswith("mm("))["scale"] = False

    def kind(d):
        _factor(d, "x")["kind"] = "categorical"

    def grouping(d):
        d["groupings"].pop()

    def duplicate(d):
        d["groupings"][0]["levels"]["values"][1] = d["groupings"][0]["levels"]["values"][0]

    yield "a transform's key", scale_key, "not a transform of it"
    yield "a level", levels, "do not give its columns"
    yield "the reference level", reference, "reference level 7"
    yield "a coding", contrasts, "the formula and encodings give"
    yield "an mm() rule", scaled, "the formula says"
    yield "a factor's kind", kind, "has no levels"
    yield "a grouping factor", grouping, "grouping factors"
    yield "distinct levels", duplicate, "not distinct"


@pytest.mark.parametrize("what, edit, words", list(_edits()), ids=[e[0] for e in _edits()])
def test_edited_encodings_are_refused(trained, what, edit, words):
    encoded = _through_json(encode_info(trained.info))
    edited = copy.deepcopy(encoded)
    edit(edited)
    with pytest.raises(ValueError, match=words):
        decode_info(edited)


def test_arrays_that_do_not_fit_the_encodings_are_refused(trained):
    arrays = dict(design_arrays(trained))
    info = decode_info(_through_json(encode_info(trained.info)))
    bad = dict(arrays, X=np.zeros((50, 3)))
    with pytest.raises(ValueError, match=r"design array X is float64 \(50, 3\)"):
        design_from_arrays(info, bad)
    bad = dict(arrays, **{"blocks/0/index": arrays["blocks/0/index"].astype(np.int64)})
    with pytest.raises(ValueError, match="blocks/0/index is int64"):
        design_from_arrays(info, bad)
    missing = {k: v for k, v in arrays.items() if k != "trials"}
    with pytest.raises(ValueError, match=r"\['trials'\] are missing"):
        design_from_arrays(info, missing)
