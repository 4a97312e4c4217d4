"""lme4's accessors on both kinds of fit: ``fixef``, ``ranef``, ``coef`` (every grouping
factor at once when no group is named) and ``VarCorr``: the REML point fit against lme4's
own numbers (tests/reference/lme4/sleepstudy.json), the Bayesian fit against a hand
computation from its draws."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from _fitted import fake_fit, flat, simulated
from multilevel.results.lme4 import VARCORR_COLUMNS

LME4 = json.loads(
    (Path(__file__).resolve().parents[1] / "reference" / "lme4" / "sleepstudy.json").read_text()
)["REML"]


@pytest.fixture(scope="module")
def reml():
    return ml.fit(
        "Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), method="reml"
    )


def test_reml_fixef_and_varcorr_match_lme4(reml):
    fixef = reml.fixef()
    assert list(fixef.index) == ["Intercept", "Days"]
    np.testing.assert_allclose(
        fixef.to_numpy(), [LME4["beta"]["(Intercept)"], LME4["beta"]["Days"]], rtol=1e-6
    )
    table = reml.VarCorr()
    assert list(table.columns) == list(VARCORR_COLUMNS)
    expected = pd.DataFrame(LME4["varcorr"])
    assert table["grp"].tolist() == expected["grp"].tolist()

    def names(column):  # lme4's "(Intercept)" is our "Intercept"; missing as None
        return [v.strip("()") if isinstance(v, str) else None for v in column]

    assert names(table["var1"]) == names(expected["var1"])
    assert names(table["var2"]) == names(expected["var2"])
    np.testing.assert_allclose(table["vcov"], expected["vcov"], rtol=2e-4)
    np.testing.assert_allclose(table["sdcor"], expected["sdcor"], rtol=2e-4, atol=2e-5)


def test_reml_ranef_and_coef_of_every_group_match_lme4(reml):
    ranef = reml.ranef()
    coef = reml.coef()
    assert isinstance(ranef, dict) and list(ranef) == ["Subject"] and list(coef) == ["Subject"]
    ref = pd.DataFrame(LME4["ranef"]["Subject"]).rename(columns={"(Intercept)": "Intercept"})
    ours = ranef["Subject"]
    ref.index = ref.index.astype(str)
    ours.index = ours.index.astype(str)
    np.testing.assert_allclose(ours.loc[ref.index, ref.columns], ref, rtol=1e-3, atol=1e-3)
    pd.testing.assert_frame_equal(coef["Subject"], reml.coef("Subject"))
    np.testing.assert_allclose(
        coef["Subject"].to_numpy(), (reml.ranef("Subject") + reml.fixef()).to_numpy()
    )


def test_reml_predict_kinds(reml):
    data = ml.datasets.load("sleepstudy").iloc[[3, 50]]
    mean = reml.predict(data)
    assert list(mean.index) == [3, 50]
    pd.testing.assert_series_equal(mean, reml.predict(data, kind="linear"))
    by_hand = [
        reml.coef("Subject").loc[s, "Intercept"] + d * reml.coef("Subject").loc[s, "Days"]
        for s, d in zip(data["Subject"], data["Days"], strict=True)
    ]
    np.testing.assert_allclose(mean, by_hand)
    with pytest.raises(ValueError, match="kind='mean' or 'linear'"):
        reml.predict(data, kind="response")


def test_reml_repr_html(reml):
    text = reml._repr_html_()
    assert text.startswith('<div class="ml-fit">') and "PointFit (REML)" in text
    assert "<th>sd_Subject__Days</th>" in text and "VarCorr" in text and "Residual" in text
    assert "The optimisation converged." in text


def test_bayesian_accessors_are_statistics_of_the_draws():
    fit = fake_fit("y ~ 1 + x + (1 + x | g) + (1 | h)", simulated())
    draws = fit.posterior.draws
    fixef = fit.fixef()
    np.testing.assert_allclose(
        fixef, [flat(draws["b_Intercept"]).mean(), flat(draws["b_x"]).mean()]
    )
    np.testing.assert_allclose(fit.fixef("q95")["x"], np.quantile(flat(draws["b_x"]), 0.95))
    coef, ranef = fit.coef(), fit.ranef(stat="sd")
    assert list(coef) == ["g", "h"] and list(ranef) == ["g", "h"]
    pd.testing.assert_frame_equal(coef["h"], fit.coef("h"))
    # coef = mean over draws of (b + r), by hand
    r_g = flat(fit.coef_draws("g", total=False))
    by_hand = r_g[..., 1] + flat(draws["b_x"])[:, None]
    np.testing.assert_allclose(coef["g"]["x"], by_hand.mean(axis=0))
    np.testing.assert_allclose(ranef["g"]["Intercept"], r_g[..., 0].std(axis=0, ddof=1))

    table = fit.VarCorr()
    sd_i, sd_x = flat(draws["sd_g__Intercept"]), flat(draws["sd_g__x"])
    cor = flat(draws["cor_g__Intercept__x"])
    g = table[table["grp"] == "g"].reset_index(drop=True)
    np.testing.assert_allclose(
        g["vcov"], [np.mean(sd_i**2), np.mean(sd_x**2), np.mean(cor * sd_i * sd_x)]
    )
    np.testing.assert_allclose(g["sdcor"], [sd_i.mean(), sd_x.mean(), cor.mean()])
    assert table["grp"].tolist() == ["g", "g", "g", "h", "Residual"]
    np.testing.assert_allclose(table["sdcor"].iloc[-1], flat(draws["sigma"]).mean())


def test_varcorr_without_residual_for_a_count_family():
    data = simulated().assign(k=lambda d: np.arange(len(d)) % 5)
    fit = fake_fit("k ~ 1 + (1 | g)", data, family="poisson")
    assert fit.VarCorr()["grp"].tolist() == ["g"]


def test_unknown_group_and_stat_are_clear():
    fit = fake_fit("y ~ 1 + (1 | g)", simulated())
    with pytest.raises(KeyError, match="grouping factors are g"):
        fit.coef("county")
    with pytest.raises(ValueError, match="stat must be one of"):
        fit.fixef("mode")
