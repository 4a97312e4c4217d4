"""Collinear population-level columns (issue 17, item 3): dropped as lme4 drops them
(``check.rankX = "message+drop.cols"``: R's QR with its limited pivoting keeps the first
``rank`` columns, so a column that is a combination of earlier ones goes), with a DataWarning
that names them; new data lose the same columns."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import _rank, design
from multilevel.design._rank import TOLERANCE, aliased_columns, describe_aliased
from multilevel.errors import DataWarning


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return design(*args, **kwargs)


def test_later_copies_are_dropped_in_order():
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(2, 50))
    X = np.column_stack([np.ones(50), x, 2 * x, z, x - 3 * z + 1, np.zeros(50)])
    aliased, coef = aliased_columns(X)
    assert aliased == [2, 4, 5]  # 2x after x; x - 3z + 1 after 1, x, z; the zero column
    np.testing.assert_allclose(coef[:, 2], [0, 2, 0, 0, 0, 0], atol=1e-10)
    np.testing.assert_allclose(coef[:, 4], [1, 1, 0, -3, 0, 0], atol=1e-10)
    names = ["Intercept", "x", "x2", "z", "w", "nothing"]
    assert describe_aliased(names, aliased, coef, X) == [
        "x2 (= 2 * x)",
        "w (= Intercept + x - 3 * z)",
        "nothing (0 in every row)",
    ]


def test_nearly_collinear_columns_are_kept():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    noise = rng.normal(size=200)
    for scale in (1e-3, 1e-6):  # above lme4's tolerance (1e-7 of the column's length)
        X = np.column_stack([np.ones(200), x, x + scale * noise])
        assert aliased_columns(X)[0] == []
    X = np.column_stack([np.ones(200), x, x + 1e-10 * noise])
    assert aliased_columns(X)[0] == [2]
    assert TOLERANCE == 1e-7


def test_blocks_of_rows_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(2)
    x, u, v = rng.normal(size=(3, 1000))
    # an ill-conditioned but independent column (relative residual ~1e-6 > 1e-7): kept
    X = np.column_stack([np.ones(1000), x, 1000 + u * 1e-3, v, 3 * x - 1])
    whole = aliased_columns(X)
    monkeypatch.setattr(_rank, "_BLOCK", 7)
    parts = aliased_columns(X)
    assert whole[0] == parts[0] == [4]
    np.testing.assert_allclose(whole[1], parts[1], atol=1e-8)


def test_design_drops_the_column_and_says_so_as_lme4():
    radon = ml.datasets.load("radon")
    with pytest.warns(DataWarning) as record:
        d = design("log_radon ~ floor + I(2 * floor) + (1 + floor | county)", radon)
    assert [str(w.message) for w in record] == [
        "population-level column I(2 * floor) (= 2 * floor) is a linear combination of the "
        "columns before it, which makes the model matrix rank deficient: it cannot be "
        "estimated and is dropped, as lme4 does ('dropping 1 column / coefficient'); remove it "
        "from the formula to fit without this message"
    ]
    assert d.X_names == ("Intercept", "floor") and d.X_terms == ("Intercept", "floor")
    assert d.X.shape == (919, 2) and d.info.parts[0].dropped == ("I(2 * floor)",)
    assert d.info.notes == (str(record[0].message),)
    plain = design("log_radon ~ floor + (1 + floor | county)", radon)
    np.testing.assert_array_equal(d.X, plain.X)
    np.testing.assert_array_equal(d.blocks[0].Z, plain.blocks[0].Z)
    spec = ml.build_spec(d)
    assert spec.b_names == ("b_Intercept", "b_floor")
    # new data lose the same column
    new = d.info.transform(radon.head(3))
    np.testing.assert_array_equal(new.X, plain.X[:3])


def test_the_fit_has_no_coefficient_for_the_dropped_column():
    data = ml.datasets.load("sleepstudy").assign(hours=lambda d: 24 * d["Days"])
    with pytest.warns(DataWarning, match="hours"):
        fit = ml.fit("Reaction ~ Days + hours + (1 | Subject)", data, method="reml")
    reference = ml.fit("Reaction ~ Days + (1 | Subject)", data, method="reml")
    assert list(fit.fixef().index) == ["Intercept", "Days"]
    np.testing.assert_allclose(fit.fixef(), reference.fixef(), rtol=1e-8)


def test_several_columns_and_a_distributional_formula():
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40)})
    data["g"] = np.repeat(list("abcd"), 10)
    data["c"] = 5.0
    with pytest.warns(DataWarning) as record:
        d = design(
            ml.parse("y ~ x + c + I(x + 1)", dpars={"sigma": "sigma ~ x + I(-x)"}),
            data,
        )
    messages = [str(w.message) for w in record]
    assert messages[0].startswith(
        "population-level columns c (= 5 * Intercept) and I(x + 1) (= Intercept + x) are "
        "linear combinations of the columns before them"
    )
    assert "'dropping 2 columns / coefficients'" in messages[0]
    assert messages[1].startswith(
        "population-level column I(-x) (= -x) of the formula for sigma is a linear combination"
    )
    assert d.X_names == ("Intercept", "x") and d.dpars["sigma"].X_names == ("Intercept", "x")
    new = d.info.transform(data.head(2))
    assert new.X.shape == (2, 2) and new.dpars["sigma"].X.shape == (2, 2)


def test_dropped_columns_survive_pickling():
    radon = ml.datasets.load("radon")
    d = _quiet("log_radon ~ floor + I(2 * floor) + (1 | county)", radon)
    info = pickle.loads(pickle.dumps(d.info))
    assert info.parts[0].dropped == ("I(2 * floor)",) and info.X_names == ("Intercept", "floor")
    assert info.notes == d.info.notes
    assert info.transform(radon.head(2)).X.shape == (2, 2)


def test_full_rank_designs_are_unchanged():
    sleep = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = design("Reaction ~ Days + I(Days^2) + (Days | Subject)", sleep)
    assert d.X_names == ("Intercept", "Days", "I(Days^2)") and d.info.parts[0].dropped == ()
