"""multilevel's side of the factorization benchmarks: the same splits and metrics as the peers
(peers.py, metrics.py), through the public API (``multilevel.fit``, ``Fit.predict``).

MovieLens 100k, formulas (k = 10):

- ``plain``: ``rating ~ 1 + (1 | user) + (1 | item) + factors(user, item, k = 10)``, the
  information myFM's plain run has (users, items);
- ``features``: adds what myFM's run with features has: the user's age bucket, gender,
  occupation and zip-code region and the movie's release year as group terms, its genres as
  population-level indicators, and the occupation and the first genre as the groups of the
  users' and the movies' factors (``user_group``, ``item_group``).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import peers
from metrics import ndcg_at_k, recall_at_k

import multilevel as ml
from multilevel.naming import factor_key

K = 10
PLAIN = f"rating ~ 1 + (1 | user) + (1 | item) + factors(user, item, k = {K})"


def with_side(frame: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame):
    """The ratings with the users' and movies' columns, and the formula that uses them."""
    u = users.set_index("user")
    m = items.set_index("item")
    genres = m["class"].fillna("unknown").astype(str).str.split()
    vocabulary = sorted({g for gs in genres for g in gs})
    out = frame.copy()
    out["age5"] = (u.loc[out["user"], "age"].to_numpy() // 5 * 5).astype(str)
    out["gender"] = u.loc[out["user"], "gender"].to_numpy()
    out["occupation"] = u.loc[out["user"], "occupation"].to_numpy()
    out["region"] = u.loc[out["user"], "zip_code"].astype(str).str[:1].to_numpy()
    out["year"] = m.loc[out["item"], "release_year"].fillna(-1).astype(int).astype(str).to_numpy()
    out["genre1"] = genres.loc[out["item"]].str[0].to_numpy()
    columns = []
    for g in vocabulary[1:]:  # the first genre is the reference
        name = f"g_{''.join(c if c.isalnum() else '_' for c in g)}"
        out[name] = genres.loc[out["item"]].apply(lambda gs, g=g: float(g in gs)).to_numpy()
        columns.append(name)
    formula = (
        f"rating ~ 1 + gender + {' + '.join(columns)} + (1 | age5) + (1 | occupation) + "
        f"(1 | region) + (1 | year) + (1 | user) + (1 | item) + "
        f"factors(user, item, k = {K}, user_group = occupation, item_group = genre1)"
    )
    return out, formula


def run_multilevel(
    train, test, users, items, *, side=False, chains=2, warmup=100, draws=300, seed=0
):
    """Fit on ``train``, predict ``test``: RMSE of the posterior mean, coverage of the 90%
    predictive interval; for the plain formula also recall / NDCG @ 20 of the held-out items
    ranked by the posterior mean of every user x item (train items excluded)."""
    out: dict = {}
    formula = PLAIN
    if side:
        both, formula = with_side(pd.concat([train, test]), users, items)
        train, test = both.loc[train.index], both.loc[test.index]
    peers.reset_peak_rss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with peers.measured(out):
            fit = ml.fit(
                formula, train, chains=chains, warmup=warmup, draws=draws, seed=seed, progress=False
            )
        with peers.measured(out, "seconds_predict"):
            mean = fit.predict(test, summary=False)
            response = fit.predict(test, kind="response", summary=False, seed=seed)
    y = test["rating"].to_numpy()
    out["rmse"] = peers.rmse(mean.mean(0), y)
    out["coverage90"] = peers.coverage(response, y)
    out["peak_rss_mb"] = peers.peak_rss_mb()
    sweeps = chains * (warmup + draws)
    out["seconds_per_sweep"] = fit.posterior.timings["warmup_and_sampling"] / sweeps
    out["reason"] = fit.posterior.reason
    summary = fit.summary().loc[list(fit.spec.parameter_names)]
    out["parameters"] = {n: round(float(v), 4) for n, v in summary["mean"].items()}
    out["max_r_hat_named"] = float(summary["r_hat"].max())
    out["settings"] = {
        "formula": formula,
        "chains": chains,
        "warmup": warmup,
        "draws": draws,
        "seed": seed,
        "sweeps_total": chains * (warmup + draws),
    }
    if side:  # the ranking compares with the peers' plain (implicit) models only
        return out
    t0 = time.perf_counter()
    scores, user_ids, item_ids = _score_matrix(fit)
    out["seconds_scores"] = time.perf_counter() - t0
    tu = user_ids.get_indexer(train["user"])
    ti = item_ids.get_indexer(train["item"])
    su = user_ids.get_indexer(test["user"])
    si = item_ids.get_indexer(test["item"])
    kw = {"k": 20, "train_user": tu, "train_item": ti}
    out["recall20"] = recall_at_k(scores, su, si, **kw)
    out["ndcg20"] = ndcg_at_k(scores, su, si, **kw)
    return out


def run_multilevel_implicit(train, test, users, items, *, seed=0, draws=200):
    """The train ratings as implicit counts (1 per rating), hierarchical Poisson
    factorization (``implicit = TRUE``); recall / NDCG @ 20 of the test items ranked by the
    posterior mean rate, train items excluded (as the peers hpfrec and implicit's ALS)."""
    out: dict = {}
    formula = f"count ~ 0 + factors(user, item, k = {K}, implicit = TRUE)"
    peers.reset_peak_rss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with peers.measured(out):
            fit = ml.fit(
                formula,
                train.assign(count=1),
                family="poisson(link='identity')",
                chains=1,
                draws=draws,
                seed=seed,
                progress=False,
            )
    out["peak_rss_mb"] = peers.peak_rss_mb()
    out["reason"] = fit.posterior.reason
    out["settings"] = {
        "formula": formula,
        "draws": draws,
        "seed": seed,
        **{k: fit.posterior.settings[k] for k in ("iterations", "converged")},
    }
    scores, user_ids, item_ids = _score_matrix(fit)
    kw = {
        "k": 20,
        "train_user": user_ids.get_indexer(train["user"]),
        "train_item": item_ids.get_indexer(train["item"]),
    }
    su, si = user_ids.get_indexer(test["user"]), item_ids.get_indexer(test["item"])
    out["recall20"] = recall_at_k(scores, su, si, **kw)
    out["ndcg20"] = ndcg_at_k(scores, su, si, **kw)
    return out


def _score_matrix(fit):
    """Posterior mean of ``b_item + u · v`` for every user and item of the plain formula (the
    user's own terms do not change the ranking of its items)."""
    design = fit.spec.design
    users, items = design.factors.users, design.factors.items
    draws = fit.posterior.draws
    U = draws[factor_key(users.name)].reshape(-1, users.n_levels, K).astype(float)
    V = draws[factor_key(items.name)].reshape(-1, items.n_levels, K).astype(float)
    scores = np.einsum("suk,sik->ui", U, V) / U.shape[0]
    for block, cov in zip(design.blocks, fit.spec.covariance, strict=True):
        r = draws[cov.key].reshape(-1, block.n_levels).mean(0)
        if block.columns == (items.name,):
            scores += r[None, :]
    return scores, users.levels, items.levels


def scale_multilevel(data: dict, *, sweeps: int = 5, seed: int = 0) -> dict:
    """Gibbs sweeps on simulated data (simulate.py) through the public pipeline: seconds per
    sweep, the stages' seconds, peak memory, and how close the second half's mean of the
    factor part and of the variance parameters are to the truth (the first half is warmup)."""
    from multilevel.engines import SamplerSettings
    from multilevel.engines.factorization import FactorizationEngine

    out: dict = {}
    peers.reset_peak_rss()
    formula = (
        f"rating ~ 1 + (1 | user) + (1 | item) + factors(user, item, k = {K}, item_group = artist)"
    )
    with peers.measured(out, "seconds_frame"):
        frame = pd.DataFrame(
            {
                "user": data["user"],
                "item": data["item"],
                "rating": data["rating"].astype(float),
                "artist": data["artist_of_item"][data["item"]],
            }
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with peers.measured(out, "seconds_design_and_spec"):
            spec = ml.build_spec(ml.design(formula, frame), "gaussian")
        warmup = max(1, sweeps // 2)
        settings = SamplerSettings(
            chains=1,
            warmup=warmup,
            draws=sweeps - warmup,
            seed=seed,
            progress=False,
            log_likelihood=False,
        )
        with peers.measured(out, "seconds_fit"):
            posterior = FactorizationEngine().fit(spec, settings)
    out["seconds_prepare_layout"] = posterior.timings["prepare"]
    out["seconds_per_sweep"] = posterior.timings["warmup_and_sampling"] / sweeps
    out["peak_rss_mb"] = peers.peak_rss_mb()
    nnz = int(data["user"].size)
    out["throughput_nnz_per_s_per_core"] = nnz / out["seconds_per_sweep"]
    out["settings"] = {"formula": formula, "sweeps": sweeps, "chains": 1, "seed": seed}
    # recovery: the factor part on a sample of rows, from the kept draws' mean
    d = spec.design.factors
    rng = np.random.default_rng(seed)
    rows = rng.choice(nnz, size=min(nnz, 200_000), replace=False)
    U = posterior.draws[factor_key("user")][0].astype(float)
    V = posterior.draws[factor_key("item")][0].astype(float)
    fitted = np.einsum("snk,snk->n", U[:, d.users.index[rows]], V[:, d.items.index[rows]])
    fitted /= U.shape[0]
    true = np.einsum("nk,nk->n", data["U"][data["user"][rows]], data["V"][data["item"][rows]])
    out["recovery"] = {
        "corr_factor_part": float(np.corrcoef(fitted, true)[0, 1]),
        "sigma": [float(posterior.draws["sigma"].mean()), float(data["sigma"])],
        "sd_user_intercept": [
            float(posterior.draws["sd_user__Intercept"].mean()),
            float(data["user_intercept"].std()),
        ],
        "sd_item_intercept": [
            float(posterior.draws["sd_item__Intercept"].mean()),
            float(data["item_intercept"].std()),
        ],
        "kept_sweeps": int(U.shape[0]),
    }
    return out


def scale_multilevel_implicit(data: dict, *, sweeps: int = 5, seed: int = 0) -> dict:
    """Iterations of the hierarchical Poisson factorization kernel behind ``implicit = TRUE``
    on the simulated pairs as implicit counts (1 each, as hpfrec's scale case): seconds per
    iteration (setup excluded: a one-iteration fit is subtracted), peak memory."""
    from multilevel.linalg.poisson_factorization import poisson_factorization

    n_users, n_items = int(data["user"].max()) + 1, int(data["item"].max()) + 1
    count = np.ones(data["user"].size)
    args = (data["user"], data["item"], count, n_users, n_items, K)
    out: dict = {}
    peers.reset_peak_rss()
    with peers.measured(out, "seconds_one"):
        poisson_factorization(*args, seed=seed, max_iter=1, tol=0.0)
    with peers.measured(out, "seconds_all"):
        fitted = poisson_factorization(*args, seed=seed, max_iter=sweeps, tol=0.0)
    out["seconds_per_sweep"] = (out["seconds_all"] - out["seconds_one"]) / (sweeps - 1)
    out["peak_rss_mb"] = peers.peak_rss_mb()
    out["throughput_nnz_per_s_per_core"] = count.size / out["seconds_per_sweep"]
    out["settings"] = {"k": K, "iterations": int(fitted.iterations), "seed": seed}
    return out
