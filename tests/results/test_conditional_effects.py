"""``Fit.conditional_effects`` (brms's): the table against a hand computation from the
draws, categorical predictors at their reference level, binomial trials at 1, and the
plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

import multilevel as ml
from _fitted import fake_fit, flat, simulated


def _data() -> pd.DataFrame:
    data = simulated()
    rng = np.random.default_rng(2)
    return data.assign(c=rng.choice(["lo", "mid", "hi"], len(data)), z=rng.uniform(1, 3, len(data)))


def test_numeric_effect_by_hand():
    data = _data()
    fit = fake_fit("y ~ 1 + x + c + z + (1 + x | g) + (1 | h)", data)
    table = fit.conditional_effects("x", resolution=7)
    d = fit.posterior.draws
    grid = np.linspace(data["x"].min(), data["x"].max(), 7)
    np.testing.assert_allclose(table["x"], grid)
    assert (table["c"] == "hi").all()  # the reference level: the first in sorted order
    np.testing.assert_allclose(table["z"], data["z"].mean())
    eta = flat(d["b_Intercept"])[:, None] + flat(d["b_x"])[:, None] * grid
    eta += flat(d["b_z"])[:, None] * data["z"].mean()  # c at its reference: no column
    lower, median, upper = np.quantile(eta, [0.025, 0.5, 0.975], axis=0)
    np.testing.assert_allclose(table["estimate"], median)
    np.testing.assert_allclose(table["lower"], lower)
    np.testing.assert_allclose(table["upper"], upper)
    assert table.attrs["effect"] == "x" and table.attrs["response"] == "y"


def test_categorical_effect_and_conditions_by_hand():
    data = _data()
    fit = fake_fit("y ~ 1 + x + c + (1 | g)", data)
    table = fit.conditional_effects("c", conditions={"x": 1.0}, prob=0.9)
    assert table["c"].tolist() == ["hi", "lo", "mid"]
    d = fit.posterior.draws
    base = flat(d["b_Intercept"]) + flat(d["b_x"])
    for level in ("hi", "lo", "mid"):
        eta = base + (flat(d[f"b_c{level}"]) if level != "hi" else 0)
        row = table.set_index("c").loc[level]
        np.testing.assert_allclose(row["estimate"], np.median(eta))
        np.testing.assert_allclose(row["upper"], np.quantile(eta, 0.95))


def test_binomial_mean_is_a_probability_with_trials_set_to_one():
    data = _data().assign(n=10, k=lambda d: np.arange(len(d)) % 10)
    fit = fake_fit("k | trials(n) ~ 1 + x + (1 | g)", data, family="binomial")
    table = fit.conditional_effects("x", resolution=5)
    d = fit.posterior.draws
    eta = flat(d["b_Intercept"])[:, None] + flat(d["b_x"])[:, None] * table["x"].to_numpy()
    np.testing.assert_allclose(table["estimate"], np.median(special.expit(eta), axis=0))
    assert table.attrs["trials_set_to_1"]


def test_transformed_predictor_needs_the_data():
    data = _data()
    fit = fake_fit("y ~ 1 + log(z) + (1 | g)", data)
    with pytest.raises(ml.DataError, match="pass data="):
        fit.conditional_effects("z")
    table = fit.conditional_effects("z", data=data, resolution=3)
    d = fit.posterior.draws
    eta = flat(d["b_Intercept"])[:, None] + flat(d["b_logz"])[:, None] * np.log(
        table["z"].to_numpy()
    )
    np.testing.assert_allclose(table["estimate"], np.median(eta, axis=0))


def test_unknown_effect_is_named():
    fit = fake_fit("y ~ 1 + x + (1 | g)", _data())
    with pytest.raises(
        ml.DataError, match="'g' is not a predictor of the model; its predictors are x"
    ):
        fit.conditional_effects("g")


def test_plot_numeric_and_categorical():
    from matplotlib.figure import Figure

    fit = fake_fit("y ~ 1 + x + c + (1 | g)", _data())
    for effect in ("x", "c"):
        fig = fit.plot_conditional_effects(effect)
        assert isinstance(fig, Figure) and fig.axes[0].has_data()
        assert fig.axes[0].get_xlabel() == effect
