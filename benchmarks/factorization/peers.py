"""Peer runners for the factorization benchmark: myFM, cornac PMF, hpfrec, implicit ALS.

Every runner takes plain numpy arrays, ``train`` and ``test`` as ``(user, item, rating)``
tuples of 0-based int codes (users and items coded on train) and float ratings, and returns a
dict with ``seconds`` (wall time of fit + predict; building the peer's input is
``seconds_prepare``), ``cpu_seconds``, ``peak_rss_mb`` (the process's resident high-water mark
during the call, reset at its start through ``/proc/self/clear_refs``, so data already resident
counts) and ``settings``; rating runners add ``rmse`` and ``coverage90``, implicit runners
``recall20`` and ``ndcg20`` (see metrics.py), scale runners per-sweep times and throughput.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

try:
    from . import metrics
except ImportError:  # run as a script from this folder
    import metrics

K_TOP = 20


# ----------------------------------------------------------------------------- measurement


def reset_peak_rss() -> None:
    """Reset the kernel's resident high-water mark (VmHWM) of this process (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """VmHWM of this process in MiB (falls back to ``ru_maxrss``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def measured(out: dict, key: str = "seconds"):
    """Record wall seconds in ``out[key]``, CPU seconds in ``out["cpu_" + key]``."""
    t0, c0 = time.perf_counter(), time.process_time()
    yield
    out[key] = time.perf_counter() - t0
    out["cpu_" + key] = time.process_time() - c0


def rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


# ----------------------------------------------------------------------------- myFM


def one_hot_pairs(user, item, n_users: int, n_items: int) -> sp.csr_matrix:
    """CSR ``(n, n_users + n_items)`` with a 1 in the user's and in the item's column."""
    n = len(user)
    cols = np.empty(2 * n, dtype=np.int32)
    cols[0::2], cols[1::2] = user, n_users + np.asarray(item)
    indptr = np.arange(0, 2 * n + 1, 2, dtype=np.int64)
    return sp.csr_matrix((np.ones(2 * n), cols, indptr), shape=(n, n_users + n_items))


def _myfm_design(user, item, n_users, n_items, side):
    x = one_hot_pairs(user, item, n_users, n_items)
    if side is None:
        return x
    return sp.hstack([x, side["user_X"][user], side["item_X"][item]], format="csr")


def _sweep_timer(stamps: list):
    def callback(i, fm, hyper, history):
        stamps.append(time.perf_counter())
        return False, None

    return callback


def _myfm_samples(fm, x_test, n_kept: int, rng):
    """Posterior predictive draws ``(n_kept, n_test)``: per-sample means plus N(0, 1/alpha)."""
    means = np.array([s.predict_score(x_test, []) for s in fm.predictor_.samples])
    alpha = np.array([h.alpha for h in fm.history_.hypers])[-n_kept:]
    noise = rng.standard_normal(means.shape) / np.sqrt(alpha)[:, None]
    return means, means + noise, alpha


def coverage(draws, y, level: float = 0.9) -> float:
    """Share of ``y`` inside the central ``level`` interval of ``draws`` (samples on axis 0)."""
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(np.mean((y >= lo) & (y <= hi)))


def run_myfm(
    train, test, n_users, n_items, side=None, rank=10, n_iter=200, n_kept=200, seed=42, n_workers=2
):
    """Bayesian FM (Gibbs) on one-hot user + item (+ side features), as myFM's tutorial.

    Parameters
    ----------
    train, test : tuple of ndarray
        ``(user, item, rating)``.
    n_users, n_items : int
    side : dict, optional
        ``user_X``, ``item_X`` (CSR per user / item) and ``user_groups``, ``item_groups``
        (column-group sizes, passed as myFM ``group_shapes`` like the tutorial's side-info fit).
    rank, n_iter, n_kept, seed : int
        ``MyFMRegressor(rank, random_seed=seed).fit(n_iter=..., n_kept_samples=...)``.
    n_workers : int
        Threads of myFM's ``predict``.
    """
    import myfm

    out: dict = {}
    with measured(out, "seconds_prepare"):
        x_tr = _myfm_design(train[0], train[1], n_users, n_items, side)
        x_te = _myfm_design(test[0], test[1], n_users, n_items, side)
    groups = (
        None if side is None else [n_users, n_items, *side["user_groups"], *side["item_groups"]]
    )
    stamps: list = []
    reset_peak_rss()
    with measured(out):
        fm = myfm.MyFMRegressor(rank=rank, random_seed=seed)
        t0 = time.perf_counter()
        fm.fit(
            x_tr,
            train[2],
            n_iter=n_iter,
            n_kept_samples=n_kept,
            group_shapes=groups,
            callback=_sweep_timer(stamps),
        )
        pred = fm.predict(x_te, n_workers=n_workers)
    out["peak_rss_mb"] = peak_rss_mb()
    means, draws, alpha = _myfm_samples(fm, x_te, n_kept, np.random.default_rng(seed))
    out.update(
        rmse=rmse(pred, test[2]),
        coverage90=coverage(draws, test[2]),
        coverage90_mean_only=coverage(means, test[2]),
        sample_mean_vs_predict_max_abs=float(np.abs(means.mean(0) - pred).max()),
        sigma_posterior_mean=float(np.mean(1 / np.sqrt(alpha))),
        seconds_per_sweep=float(np.median(np.diff([t0, *stamps]))),
        n_features=int(x_tr.shape[1]),
        settings=dict(
            rank=rank,
            n_iter=n_iter,
            n_kept_samples=n_kept,
            random_seed=seed,
            group_shapes=groups,
            side_features=side is not None,
            predict_n_workers=n_workers,
            other="myFM defaults",
        ),
    )
    return out


# ----------------------------------------------------------------------------- cornac PMF


def run_cornac_pmf(
    train, test, n_users, n_items, k=10, max_iter=100, learning_rate=0.001, lambda_reg=0.001, seed=0
):
    """cornac ``PMF`` (non-linear variant, the default) with cornac's MovieLens example settings.

    Predictions ``min + (max - min) * sigmoid(U_u . V_i)`` are cornac's ``PMF.score``,
    vectorised (checked against ``score`` on a few pairs).
    """
    import cornac

    out: dict = {}
    with measured(out, "seconds_prepare"):
        triples = list(
            zip(train[0].astype(str), train[1].astype(str), train[2].tolist(), strict=True)
        )
        data = cornac.data.Dataset.from_uir(triples, seed=seed)
        uid = np.array([data.uid_map[str(u)] for u in range(n_users)])
        iid = np.array([data.iid_map[str(i)] for i in range(n_items)])
    reset_peak_rss()
    with measured(out):
        model = cornac.models.PMF(
            k=k, max_iter=max_iter, learning_rate=learning_rate, lambda_reg=lambda_reg, seed=seed
        )
        model.fit(data)
        u, i = uid[test[0]], iid[test[1]]
        dot = np.einsum("ij,ij->i", model.U[u], model.V[i])
        pred = model.min_rating + (model.max_rating - model.min_rating) / (1 + np.exp(-dot))
    out["peak_rss_mb"] = peak_rss_mb()
    check = [model.score(int(a), int(b)) for a, b in zip(u[:5], i[:5], strict=True)]
    assert np.allclose(check, pred[:5], rtol=1e-5), (check, pred[:5])
    out.update(
        rmse=rmse(pred, test[2]),
        coverage90=None,
        coverage90_why="PMF is a MAP point estimate: no predictive samples or intervals",
        settings=dict(
            k=k,
            max_iter=max_iter,
            learning_rate=learning_rate,
            lambda_reg=lambda_reg,
            variant=model.variant,
            gamma=model.gamma,
            seed=seed,
            source="cornac examples/pmf_ratio.py",
        ),
    )
    return out


# ----------------------------------------------------------------------------- implicit


def _ranking(out, scores, train, test):
    kw = dict(k=K_TOP, train_user=train[0], train_item=train[1])
    out["recall20"] = metrics.recall_at_k(scores, test[0], test[1], **kw)
    out["ndcg20"] = metrics.ndcg_at_k(scores, test[0], test[1], **kw)
    out["n_test_users"] = int(np.unique(test[0]).size)


def run_hpfrec(train, test, n_users, n_items, k=10, maxiter=100, seed=0, ncores=2):
    """hpfrec ``HPF(k)`` (full-batch CAVI, defaults otherwise) on train pairs as counts of 1;
    scores ``Theta @ Beta.T``; recall / NDCG @ 20 with train items excluded."""
    from hpfrec import HPF

    out: dict = {}
    counts = sp.coo_array(
        (np.ones(len(train[0]), np.float32), (train[0], train[1])), shape=(n_users, n_items)
    )
    reset_peak_rss()
    with measured(out):
        model = HPF(
            k=k,
            maxiter=maxiter,
            stop_crit="maxiter",
            check_every=None,
            random_seed=seed,
            ncores=ncores,
            verbose=False,
        )
        model.fit(counts)
        scores = model.Theta @ model.Beta.T
    out["peak_rss_mb"] = peak_rss_mb()
    _ranking(out, scores, train, test)
    out["settings"] = dict(
        k=k,
        maxiter=maxiter,
        stop_crit="maxiter",
        check_every=None,
        random_seed=seed,
        ncores=ncores,
        other="hpfrec defaults (a=c=0.3, ...)",
    )
    return out


def run_implicit_als(
    train, test, n_users, n_items, factors=10, iterations=15, seed=0, num_threads=2
):
    """implicit ``AlternatingLeastSquares`` (CPU, defaults: regularization 0.01, alpha 1) on
    train pairs as confidence-1 interactions; scores ``user_factors @ item_factors.T``.

    BLAS is limited to one thread during the fit, as implicit recommends (its own threads do
    the work); ``num_threads`` is implicit's thread count.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    out: dict = {}
    user_items = sp.csr_matrix(
        (np.ones(len(train[0]), np.float32), (train[0], train[1])), shape=(n_users, n_items)
    )
    reset_peak_rss()
    with measured(out), threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors, iterations=iterations, random_state=seed, num_threads=num_threads
        )
        model.fit(user_items, show_progress=False)
        scores = model.user_factors @ model.item_factors.T
    out["peak_rss_mb"] = peak_rss_mb()
    _ranking(out, scores, train, test)
    out["settings"] = dict(
        factors=factors,
        iterations=iterations,
        regularization=0.01,
        alpha=1.0,
        random_state=seed,
        num_threads=num_threads,
        blas_threads_during_fit=1,
    )
    return out


# ----------------------------------------------------------------------------- scale


def _throughput(out, nnz, per_sweep, cores):
    out["cores_used"] = cores
    out["throughput_nnz_per_s"] = nnz / per_sweep
    out["throughput_nnz_per_s_per_core"] = nnz / per_sweep / max(cores, 1e-9)


def scale_myfm(user, item, rating, n_users, n_items, sweeps=5, rank=10, relational=False, seed=42):
    """Time ``sweeps`` Gibbs sweeps of myFM MF (no convergence) on simulated ratings.

    ``relational=False`` feeds the same one-hot CSR as the MovieLens runner;
    ``relational=True`` uses myFM's ``RelationBlock`` format (identity blocks for users and
    items, indexed by the rating rows), its recommended layout for large data.
    """
    import myfm

    out: dict = {}
    reset_peak_rss()
    with measured(out, "seconds_prepare"):
        if relational:
            x, blocks = (
                None,
                [
                    myfm.RelationBlock(user, sp.identity(n_users, format="csr")),
                    myfm.RelationBlock(item, sp.identity(n_items, format="csr")),
                ],
            )
        else:
            x, blocks = one_hot_pairs(user, item, n_users, n_items), []
    stamps: list = []
    with measured(out):
        fm = myfm.MyFMRegressor(rank=rank, random_seed=seed)
        t0 = time.perf_counter()
        fm.fit(
            x,
            rating,
            X_rel=blocks,
            n_iter=sweeps,
            n_kept_samples=1,
            group_shapes=[n_users, n_items],
            callback=_sweep_timer(stamps),
        )
    out["peak_rss_mb"] = peak_rss_mb()
    diffs = np.diff([t0, *stamps])
    per_sweep = float(np.median(diffs[1:])) if len(diffs) > 1 else float(diffs[0])
    out.update(
        seconds_per_sweep=per_sweep,
        sweep_seconds=diffs.tolist(),
        seconds_setup=float(diffs[0] - per_sweep),
    )
    _throughput(out, len(rating), per_sweep, out["cpu_seconds"] / out["seconds"])
    out["settings"] = dict(
        rank=rank,
        sweeps=sweeps,
        n_kept_samples=1,
        relational=relational,
        random_seed=seed,
        group_shapes=[n_users, n_items],
    )
    return out


def scale_hpfrec(user, item, n_users, n_items, sweeps=5, k=10, seed=0, ncores=2):
    """Time hpfrec HPF CAVI iterations on simulated pairs (counts of 1).

    Two fits: ``maxiter=1`` then ``maxiter=sweeps``; seconds per iteration is their
    difference over ``sweeps - 1`` (setup cancels).
    """
    from hpfrec import HPF

    counts = sp.coo_array((np.ones(len(user), np.float32), (user, item)), shape=(n_users, n_items))
    out: dict = {}
    reset_peak_rss()
    fits = {}
    for n in (1, sweeps):
        fits[n] = {}
        with measured(fits[n]):
            HPF(
                k=k,
                maxiter=n,
                stop_crit="maxiter",
                check_every=None,
                random_seed=seed,
                ncores=ncores,
                verbose=False,
            ).fit(counts)
    out["peak_rss_mb"] = peak_rss_mb()
    d_wall = fits[sweeps]["seconds"] - fits[1]["seconds"]
    d_cpu = fits[sweeps]["cpu_seconds"] - fits[1]["cpu_seconds"]
    per_sweep = d_wall / (sweeps - 1)
    out.update(
        seconds=fits[sweeps]["seconds"],
        cpu_seconds=fits[sweeps]["cpu_seconds"],
        seconds_one_iteration_fit=fits[1]["seconds"],
        seconds_per_sweep=per_sweep,
        seconds_setup=fits[1]["seconds"] - per_sweep,
    )
    _throughput(out, len(user), per_sweep, d_cpu / d_wall)
    out["settings"] = dict(k=k, sweeps=sweeps, random_seed=seed, ncores=ncores, stop_crit="maxiter")
    return out
