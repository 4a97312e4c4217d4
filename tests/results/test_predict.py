"""``Fit.predict``: predictions checked against the linear predictor computed by hand from the
draws, and the new-level policies against their distributions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import multilevel as ml
from _fitted import fake_fit, flat, simulated, small_fit
from multilevel.errors import EngineError
from multilevel.formula import parse
from multilevel.results.arviz_bridge import group_names

RNG = np.random.default_rng(2024)
N = 30
DATA = pd.DataFrame(
    {
        "y": RNG.poisson(3, N),
        "x": RNG.normal(size=N),
        "o": RNG.normal(0, 0.1, N),
        "g": RNG.choice(["a", "b", "c", "d"], N),
        "h": RNG.choice(["u", "v", "w"], N),
        "n": RNG.integers(5, 9, N),
    }
)
POISSON = "y ~ 1 + x + offset(o) + (1 + x | g) + (1 | h)"


def _hand_linear(fit, data, *, g_known=True, h_known=True):
    """offset + b0 + b1 x + r_g[g] . (1, x) + r_h[h] from the draws (new levels: 0); the
    blocks the fit has, with their coefficients (Intercept, x) read from the data."""
    d = fit.posterior.draws
    x = data["x"].to_numpy()
    eta = flat(d["b_Intercept"])[:, None] + flat(d["b_x"])[:, None] * x[None, :]
    if "o" in data:
        eta = eta + data["o"].to_numpy()[None, :]
    known = {"g": g_known, "h": h_known}
    covariate = {"Intercept": np.ones_like(x), "x": x}
    for i, block in enumerate(fit.spec.design.blocks):
        if not known[block.name]:
            continue
        codes = block.levels.get_indexer(data[block.name])
        assert (codes >= 0).all()
        r = flat(d[f"r_block{i}"])
        for j, coef in enumerate(block.coef_names):
            eta = eta + r[:, codes, j] * covariate[coef][None, :]
    return eta


@pytest.fixture(scope="module")
def poisson_fit():
    return fake_fit(POISSON, DATA, "poisson", seed=1)


def test_linear_on_training_rows_is_offset_plus_xb_plus_zr(poisson_fit):
    eta = poisson_fit.predict(kind="linear", summary=False)
    assert eta.shape == (2 * 500, N)
    np.testing.assert_allclose(eta, _hand_linear(poisson_fit, DATA), rtol=1e-12, atol=1e-12)
    # the same rows given as new data build the same design
    again = poisson_fit.predict(DATA.drop(columns="y"), kind="linear", summary=False)
    np.testing.assert_allclose(again, eta, rtol=1e-12, atol=1e-12)


def test_mean_of_poisson_is_exp_of_linear(poisson_fit):
    eta = poisson_fit.predict(kind="linear", summary=False)
    mean = poisson_fit.predict(kind="mean", summary=False)
    np.testing.assert_allclose(mean, np.exp(eta), rtol=1e-12)


def test_response_draws_average_to_the_mean(poisson_fit):
    new = DATA.iloc[:3].drop(columns="y")
    mean = poisson_fit.predict(new, kind="mean", summary=False)
    rep = poisson_fit.predict(new, kind="response", summary=False, seed=3)
    assert np.all(rep == np.round(rep)) and np.all(rep >= 0)
    # E[y_rep] = E[mu]; Var[y_rep] = E[mu] + Var[mu]
    se = np.sqrt((mean.mean(0) + mean.var(0)) / rep.shape[0])
    assert np.all(np.abs(rep.mean(0) - mean.mean(0)) < 5 * se)


def test_summary_is_indexed_like_newdata_and_summarizes_the_draws(poisson_fit):
    new = DATA.iloc[[3, 1, 4]].drop(columns="y").set_index(pd.Index(["r1", "r2", "r3"]))
    table = poisson_fit.predict(new, kind="linear")
    draws = poisson_fit.predict(new, kind="linear", summary=False)
    assert list(table.index) == ["r1", "r2", "r3"]
    assert list(table.columns) == ["mean", "sd", "q5", "q50", "q95"]
    np.testing.assert_allclose(table["mean"], draws.mean(0))
    np.testing.assert_allclose(table["sd"], draws.std(0, ddof=1))
    np.testing.assert_allclose(table["q95"], np.quantile(draws, 0.95, axis=0))
    as_dict = poisson_fit.predict({c: new[c].tolist() for c in new}, kind="linear")
    assert list(as_dict.index) == [0, 1, 2]
    np.testing.assert_allclose(as_dict["mean"], table["mean"])


def test_population_leaves_out_only_the_new_levels_effect(poisson_fit):
    new = pd.DataFrame({"x": [0.5, -1.0], "o": [0.0, 0.1], "g": ["new", "a"], "h": ["u", "zz"]})
    eta = poisson_fit.predict(new, kind="linear", new_groups="population", summary=False)
    np.testing.assert_allclose(
        eta[:, [0]], _hand_linear(poisson_fit, new.iloc[[0]], g_known=False), rtol=1e-12
    )
    np.testing.assert_allclose(
        eta[:, [1]], _hand_linear(poisson_fit, new.iloc[[1]], h_known=False), rtol=1e-12
    )


def test_error_policy_names_the_new_level(poisson_fit):
    new = pd.DataFrame({"x": [0.5], "o": [0.0], "g": ["a"], "h": ["Nowhere"]})
    with pytest.raises(ml.DataError, match="Nowhere"):
        poisson_fit.predict(new)


def test_sample_draws_new_levels_from_the_fitted_group_distribution():
    sd0, sd1, rho = 0.8, 0.4, 0.5
    fit = fake_fit(
        "y ~ 1 + x + (1 + x | g) + (1 | h)",
        DATA,
        draws=4000,
        fixed={"sd_g__Intercept": sd0, "sd_g__x": sd1, "cor_g__Intercept__x": rho},
        seed=2,
    )
    new = pd.DataFrame(
        {"x": [0.0, 1.0, 1.0, 2.0], "g": ["n1", "n1", "n2", "a"], "h": ["u", "u", "v", "n3"]}
    )
    sample = fit.predict(new, kind="linear", new_groups="sample", seed=5, summary=False)
    population = fit.predict(new, kind="linear", new_groups="population", summary=False)
    effect = sample - population
    S = effect.shape[0]
    cov = np.cov(effect[:, :3], rowvar=False)
    sigma = np.array([[sd0**2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1**2]])
    z = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    want = z @ sigma @ z.T
    want[[0, 1], 2] = want[2, [0, 1]] = 0.0  # a different new level: independent
    # the variance of a sample variance is 2 sigma^4 / S; of a covariance, (s_ii s_jj + s_ij^2) / S
    tolerance = 5 * np.sqrt((np.outer(np.diag(want), np.diag(want)) + want**2) / S)
    assert np.all(np.abs(cov - want) < tolerance), (cov, want)
    assert np.all(np.abs(effect[:, :3].mean(0)) < 5 * np.sqrt(np.diag(want) / S))
    # a known g with a new h: the h effect alone is drawn, N(0, sd_h^2) with sd_h per draw
    sd_h = flat(fit.posterior.draws["sd_h__Intercept"])
    assert abs(effect[:, 3].var() - np.mean(sd_h**2)) < 5 * np.sqrt(2 / S) * np.mean(sd_h**2)
    assert abs(np.corrcoef(effect[:, 3], effect[:, 0])[0, 1]) < 5 / np.sqrt(S)
    # the total: population part plus an independent new effect
    total_var = sample[:, 1].var()
    assert abs(total_var - population[:, 1].var() - want[1, 1]) < 0.1 * total_var
    # reproducible with a seed
    again = fit.predict(new, kind="linear", new_groups="sample", seed=5, summary=False)
    np.testing.assert_array_equal(again, sample)


def test_binomial_mean_is_trials_times_probability_and_needs_trials():
    data = DATA.assign(y=np.minimum(DATA["y"], DATA["n"]))
    fit = fake_fit("y | trials(n) ~ 1 + x + (1 | g)", data, "binomial", seed=3)
    eta = fit.predict(kind="linear", summary=False)
    mean = fit.predict(kind="mean", summary=False)
    np.testing.assert_allclose(mean, data["n"].to_numpy() * special.expit(eta), rtol=1e-12)
    rep = fit.predict(kind="response", summary=False, seed=1)
    assert np.all((rep >= 0) & (rep <= data["n"].to_numpy()))
    no_trials = data[["x", "g"]]
    fit.predict(no_trials, kind="linear")  # the linear predictor needs no trials
    for kind in ("mean", "response"):
        with pytest.raises(ml.DataError, match=r"trials\(n\)"):
            fit.predict(no_trials, kind=kind)


def test_known_se_is_the_residual_sd_of_a_response():
    data = DATA.assign(y=RNG.normal(size=N), s=RNG.uniform(0.5, 2.0, N))
    fit = fake_fit("y | se(s) ~ 1 + (1 | g)", data, draws=2000, seed=4)
    new = pd.DataFrame({"g": ["a", "b"], "s": [0.1, 3.0]})
    rep = fit.predict(new, kind="response", summary=False, seed=2)
    mean = fit.predict(new, kind="mean", summary=False)
    resid = rep - mean
    S = resid.shape[0]
    np.testing.assert_allclose(resid.var(0), [0.01, 9.0], rtol=5 * np.sqrt(2 / S))
    without = new.drop(columns="s")
    np.testing.assert_array_equal(fit.predict(without, kind="mean", summary=False), mean)
    with pytest.raises(ml.DataError, match=r"se\(s\)"):
        fit.predict(without, kind="response")


def test_lognormal_mean_and_student_t_response_use_the_aux_draws():
    data = DATA.assign(y=np.exp(RNG.normal(size=N)))
    fit = fake_fit("y ~ 1 + x", data, "lognormal", seed=5)
    eta = fit.predict(kind="linear", summary=False)
    sigma = flat(fit.posterior.draws["sigma"])[:, None]
    np.testing.assert_allclose(
        fit.predict(kind="mean", summary=False), np.exp(eta + sigma**2 / 2), rtol=1e-12
    )
    fit = fake_fit("y ~ 1", DATA, "student_t", draws=4000, fixed={"nu": 5.0, "sigma": 2.0})
    resid = fit.predict({"x": [0.0]}, kind="response", summary=False, seed=1) - fit.predict(
        {"x": [0.0]}, kind="mean", summary=False
    )
    # Var of t_5 scaled by 2 is 4 * 5 / 3; a robust check: the interquartile range
    iqr = np.subtract(*np.quantile(resid, [0.75, 0.25]))
    assert abs(iqr - 2 * 2 * 0.7266868) < 0.2  # 2 sigma t_5 quantile(0.75)


def test_training_rows_of_the_nuts_fit_match_the_hand_computed_predictor():
    fit = small_fit()
    data = simulated()
    eta = fit.predict(kind="linear", summary=False)
    np.testing.assert_allclose(eta, _hand_linear(fit, data), rtol=1e-6, atol=1e-6)
    table = fit.predict(data.drop(columns="y"))
    assert table.index.equals(data.index)
    np.testing.assert_allclose(table["mean"], eta.mean(0), rtol=1e-6, atol=1e-9)


def _loglik_from_predictions(fit):
    """The pointwise log-likelihood rebuilt by the prediction code: the family's density at the
    training responses given each draw's mean (``predict(kind="linear")``) and residual SD (its
    draws, or the linear predictor of the sigma formula)."""
    mu = fit.spec.family.inverse_link(fit.predict(kind="linear", summary=False))
    if "sigma" in getattr(fit.spec, "dpars", {}):
        from multilevel.results.predict import linear_predictor

        sigma = np.exp(
            linear_predictor(
                fit.spec, fit.posterior.draws, fit.spec.design.dpars["sigma"], parameter="sigma"
            )
        )
    else:
        sigma = flat(fit.posterior.draws["sigma"])[:, None]
    return fit.spec.family.log_likelihood(fit.spec.design.y, mu, {"sigma": sigma})


def test_predictions_reproduce_the_engines_log_likelihood():
    fit = small_fit()
    want = flat(fit.posterior.log_likelihood)
    np.testing.assert_allclose(_loglik_from_predictions(fit), want, rtol=1e-4, atol=1e-4)


def test_to_arviz_holds_replicated_training_data():
    fit = small_fit()
    idata = fit.to_arviz()
    n = fit.spec.design.n
    rep = idata.posterior_predictive["y"].values
    assert rep.shape == (2, 200, n)
    assert "log_likelihood" in group_names(idata)
    seed = fit.posterior.settings["seed"]  # the fit's own seed
    np.testing.assert_array_equal(
        rep.reshape(-1, n), fit.predict(kind="response", seed=seed, summary=False)
    )
    # residual variance of the replicates is the posterior mean of sigma^2
    resid = rep.reshape(-1, n) - fit.predict(kind="mean", summary=False)
    sigma2 = np.mean(flat(fit.posterior.draws["sigma"]) ** 2)
    assert abs(resid.var() / sigma2 - 1) < 0.05
    # ArviZ sees the same draws in the posterior as the fit
    np.testing.assert_array_equal(idata.posterior["b_x"].values, fit.posterior.draws["b_x"])


def test_invalid_options_are_rejected(poisson_fit):
    with pytest.raises(ValueError, match="kind"):
        poisson_fit.predict(kind="probability")
    with pytest.raises(ValueError, match="new_groups"):
        poisson_fit.predict(DATA, new_groups="drop")
    with pytest.raises(ml.DataError, match="x"):
        poisson_fit.predict({"g": ["a"], "h": ["u"], "o": [0.0]})


def _sigma_formula_fit(**kwargs):
    try:
        return fake_fit(
            "y ~ 1 + x + (1 | g)",
            DATA.assign(y=RNG.normal(size=N)),
            dpars=["sigma ~ 1 + x + (1 | g)"],
            **kwargs,
        )
    except EngineError as err:  # pragma: no cover - before distributional formulas land
        pytest.skip(f"distributional formulas are not supported yet: {err}")


def test_sigma_formula_sets_the_residual_sd_row_by_row():
    fit = _sigma_formula_fit(draws=3000, seed=6)
    d = fit.posterior.draws
    new = pd.DataFrame({"x": [-1.0, 0.0, 1.5], "g": ["a", "b", "c"]})
    codes = fit.spec.design.dpars["sigma"].blocks[0].levels.get_indexer(new["g"])
    eta_sigma = (
        flat(d["b_sigma_Intercept"])[:, None]
        + flat(d["b_sigma_x"])[:, None] * new["x"].to_numpy()[None, :]
        + flat(d["r_sigma_block0"])[:, codes, 0]
    )
    resid = fit.predict(new, kind="response", summary=False, seed=3) - fit.predict(
        new, kind="mean", summary=False
    )
    want = np.mean(np.exp(2 * eta_sigma), axis=0)
    # Var of a mean of S squares of normals with variances v_s: sum 2 v_s^2 / S^2
    se = np.sqrt(2 * np.mean(np.exp(4 * eta_sigma), axis=0) / resid.shape[0])
    assert np.all(np.abs(np.mean(resid**2, axis=0) - want) < 5 * se)
    # a new level of g under "sample" also gets a sigma-formula effect, N(0, sd^2)
    new_level = pd.DataFrame({"x": [0.0], "g": ["zz"]})
    population = fit.predict(new_level, kind="response", new_groups="population", seed=1)
    sample = fit.predict(new_level, kind="response", new_groups="sample", seed=1)
    assert sample["sd"].iloc[0] > population["sd"].iloc[0]


def test_sigma_formula_group_effects_are_named_and_in_coef():
    fit = _sigma_formula_fit(seed=7)
    table = fit.summary()
    assert "r_g__sigma[a,Intercept]" in table.index
    assert "b_sigma_x" in table.index
    coef = fit.coef("g")
    assert list(coef.columns) == ["Intercept", "sigma_Intercept"]
    d = fit.posterior.draws
    want = (d["b_sigma_Intercept"][..., None] + d["r_sigma_block0"][..., 0]).mean(axis=(0, 1))
    np.testing.assert_allclose(coef["sigma_Intercept"], want)
    np.testing.assert_allclose(
        fit.ranef("g")["sigma_Intercept"], d["r_sigma_block0"][..., 0].mean(axis=(0, 1))
    )
    np.testing.assert_allclose(
        table.loc["r_g__sigma[b,Intercept]", "mean"], d["r_sigma_block0"][:, :, 1, 0].mean()
    )


@pytest.mark.parametrize("name", ["multilevel.results.predict", "multilevel.results.storage"])
def test_doctests(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_to_arviz_leaves_out_predictive_draws_it_cannot_make(monkeypatch):
    import multilevel.results.fit as fit_module

    fit = fake_fit("y ~ 1 + x", DATA, "poisson", draws=20)
    monkeypatch.setattr(fit_module, "MAX_PREDICTIVE_VALUES", 100)
    with pytest.warns(ml.DataWarning, match="exceed 100"):
        idata = fit.to_arviz()
    assert "posterior_predictive" not in group_names(idata)
    assert "posterior" in group_names(idata)
    monkeypatch.undo()
    # an identity link lets the mean go negative: no Poisson draws, a DataError from predict
    fit = fake_fit("y ~ 1 + x", DATA, "poisson(link='identity')", draws=20)
    with pytest.raises(ml.DataError, match="outside the family's support"):
        fit.predict(kind="response", seed=0)
    with pytest.warns(ml.DataWarning, match="outside the family's support"):
        fit.to_arviz()


@pytest.mark.slow
def test_a_nuts_fit_with_a_sigma_formula_predicts_what_the_engine_fitted():
    data = simulated(200)
    noise = np.random.default_rng(0).normal(0, np.exp(0.5 * data["x"]))
    data["y"] = data["y"] + noise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.ConvergenceWarning)
            fit = ml.fit(
                parse("y ~ 1 + x + (1 | g)", dpars=["sigma ~ 1 + x + (1 | g)"]),
                data,
                chains=2,
                draws=200,
                warmup=200,
                seed=1,
                progress=False,
            )
    except EngineError as err:  # pragma: no cover - before distributional formulas land
        pytest.skip(f"distributional formulas are not supported yet: {err}")
    assert "r_sigma_block0" in fit.posterior.draws
    want = flat(fit.posterior.log_likelihood)
    np.testing.assert_allclose(_loglik_from_predictions(fit), want, rtol=1e-4, atol=1e-4)
    new = pd.DataFrame({"x": [-1.5, 1.5], "g": ["g0", "g0"]})
    table = fit.predict(new, kind="response", seed=2)
    assert table["sd"].iloc[1] > 2 * table["sd"].iloc[0]  # true ratio exp(1.5) = 4.5


def test_missing_values_in_new_data_give_nan_predictions(poisson_fit):
    """As R's predict() with na.action = na.pass (lme4, brms): the rows stay, their
    predictions are NaN, and a warning names them; the response column is not read."""
    new = DATA.iloc[:5].copy().astype({"x": object, "g": object})
    new.loc[1, "x"] = np.nan
    new.loc[3, "g"] = None
    new.loc[4, "x"] = "n/a"
    new["y"] = np.nan  # not needed to predict
    with pytest.warns(ml.DataWarning, match=r"rows 1, 3, 4 of the new data have missing values"):
        draws = poisson_fit.predict(new, kind="linear", summary=False)
    assert draws.shape == (flat(poisson_fit.posterior.draws["b_x"]).shape[0], 5)
    assert np.isnan(draws[:, [1, 3, 4]]).all()
    complete = DATA.iloc[[0, 2]]
    np.testing.assert_allclose(draws[:, [0, 2]], _hand_linear(poisson_fit, complete))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        table = poisson_fit.predict(new)
    assert list(table.index) == list(new.index)
    assert table.loc[[1, 3, 4]].isna().all().all() and table.loc[[0, 2]].notna().all().all()
    with pytest.warns(ml.DataWarning, match="row 0 of the new data has missing"):
        only = poisson_fit.predict(new.iloc[[1]].reset_index(drop=True))
    assert only.isna().all().all()


@pytest.mark.parametrize(
    "labels",
    [
        [f"row{i}" for i in range(N)],  # text
        list(range(100, 100 + N)),  # numbers that are not positions
        [i // 2 for i in range(N)],  # repeated labels, as after pd.concat
    ],
    ids=["text", "numbers", "repeated"],
)
def test_training_predictions_keep_the_datas_row_labels(tmp_path, labels):
    """Predictions for the training rows carry the data's labels of the rows used, so that
    assigning them back to the data lines each row up with its own prediction, also after
    rows with missing values were left out; and so after saving and loading."""
    data = DATA.set_index(pd.Index(labels))
    data.iloc[[2, 5], data.columns.get_loc("x")] = np.nan  # left out, with a note
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        fit = fake_fit("y ~ 1 + x + (1 | g)", data, "poisson", draws=20)
    kept = data.iloc[[i for i in range(N) if i not in (2, 5)]]
    table = fit.predict(kind="linear")
    assert list(table.index) == list(kept.index)
    by_hand = fit.predict(kept.drop(columns="y"), kind="linear")
    np.testing.assert_allclose(table["mean"], by_hand["mean"])
    back = ml.load(fit.save(tmp_path / "labelled.mlfit"))
    pd.testing.assert_frame_equal(back.predict(kind="linear"), table)
    if len(set(labels)) == N:  # lined up by label: the dropped rows get NaN
        lined_up = data.assign(eta=table["mean"])
        assert lined_up["eta"].isna().tolist() == [i in (2, 5) for i in range(N)]
        np.testing.assert_allclose(lined_up["eta"].dropna(), by_hand["mean"])


def test_point_fit_training_predictions_keep_the_datas_row_labels(tmp_path):
    data = ml.datasets.load("sleepstudy")
    data = data.set_index(pd.Index([f"r{i}" for i in range(len(data))]))
    data.iloc[[0, 7], data.columns.get_loc("Reaction")] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        fit = ml.fit("Reaction ~ Days + (Days | Subject)", data, method="reml")
    fitted = fit.predict()
    assert list(fitted.index) == [f"r{i}" for i in range(len(data)) if i not in (0, 7)]
    pd.testing.assert_series_equal(fitted, fit.predict(data.drop(index=["r0", "r7"])))
    back = ml.load(fit.save(tmp_path / "reml.mlfit"))
    pd.testing.assert_series_equal(back.predict(), fitted)
