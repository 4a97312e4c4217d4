"""The demo job (:mod:`multilevel.demo`): its tables and synthetic data (the command:
``tests/cli/test_cli_demo.py``; its documented output: ``tests/test_demo_docs.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from multilevel import datasets, demo


@pytest.fixture(scope="module")
def radon_fit():
    return demo.fit_radon()


def test_herd_table_numbers():
    herds = demo.herd_table(demo.fit_cbpp())
    assert list(herds.index) == [str(h) for h in range(1, 16)]  # natural order
    cbpp = datasets.load("cbpp")
    totals = cbpp.groupby("herd")[["incidence", "size"]].sum()
    assert (herds["cases"] == totals.loc[herds.index, "incidence"]).all()
    assert (herds["trials"] == totals.loc[herds.index, "size"]).all()
    assert ((herds["q5"] < herds["mean"]) & (herds["mean"] < herds["q95"])).all()
    assert herds["shrinkage"].between(0, 1).all()
    # smaller herds are shrunk more: shrinkage = E[(a + b) / (a + b + n)] decreases in n
    order = herds.sort_values("trials")
    assert np.all(np.diff(order["shrinkage"].to_numpy()) <= 1e-12)


def test_family_size_shrinkage_decreases_with_houses(radon_fit):
    table = demo.family_size_table(radon_fit)
    one, ten, thousand = (
        table.loc[f"new county, {n}"] for n in ("1 house", "10 houses", "1000 houses")
    )
    assert table.loc["new county, not yet met", "shrinkage"] == 1.0
    assert one["shrinkage"] > ten["shrinkage"] > thousand["shrinkage"]
    assert abs(thousand["mean"] - 2.0) < 0.05
    # the interval narrows and the posterior moves from the state mean toward 2.0
    assert one["sd"] > ten["sd"] > thousand["sd"]
    assert table["mean"].iloc[0] < one["mean"] < ten["mean"] < thousand["mean"] <= 2.0
    assert (table["own_mean"].iloc[1:] - 2.0).abs().max() < 1e-12


def test_family_size_does_not_depend_on_seed(radon_fit):
    a = demo.family_size_table(radon_fit, sizes=(10,), seed=0)
    b = demo.family_size_table(radon_fit, sizes=(10,), seed=99)
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9)


def test_new_county_data_has_exact_mean_and_sd():
    data = demo.new_county_data(25, mean=2.0, sd=0.7, seed=5)
    assert len(data) == 25 and set(data["county"]) == {"new county"}
    assert data["log_radon"].mean() == pytest.approx(2.0, abs=1e-12)
    assert data["log_radon"].std(ddof=1) == pytest.approx(0.7, rel=1e-12)
    single = demo.new_county_data(1, mean=2.0, sd=0.7)
    assert single["log_radon"].tolist() == [2.0]
