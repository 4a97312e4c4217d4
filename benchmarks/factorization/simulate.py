"""Simulated ratings from a matrix-factorization model with a hierarchical item prior.

Model (``k`` factors, ``A`` artists, item ``j`` by artist ``art[j]``)::

    W[a] ~ N(0, s_w^2 I),   V[j] ~ N(W[art[j]], s_v^2 I),   U[u] ~ N(0, s_u^2 I)
    a_user[u] ~ N(0, 0.3^2),   b_item[j] ~ N(0, 0.3^2)
    rating = mu + a_user[u] + b_item[j] + U[u] . V[j] + N(0, sigma^2)

with ``mu = 3.5``, ``s_u = 0.5`` and ``s_v = s_w = 0.35``: for ``k = 10`` the factor term has
variance ``k s_u^2 (s_v^2 + s_w^2) = 0.61``, against 0.18 for the intercepts and 0.64 noise.

Pairs: user ``u`` rates ``1 + Multinomial(nnz - n_users, w / sum w)`` items with lognormal
activity ``w`` (so every user rates at least one item); the item slots hold every item once plus
draws from a Zipf-like popularity ``p_j ∝ 1 / (rank_j + c)``, ``c = 1 + n_items / 1000``, ranks
shuffled over item ids. Repeated (user, item) pairs are redrawn (from the popularity, then
uniformly) until unique or ``max_rounds`` is reached, so duplicates are at most rare. Rows are
returned sorted by (user, item). Everything is vectorised numpy, float32 / int32, with the
factor products computed in chunks: 10^6 users x 10^5 items x 5 10^7 ratings need ~2 GB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MU, S_U, S_V, S_W, S_INTERCEPT = 3.5, 0.5, 0.35, 0.35, 0.3
CHUNK = 2_000_000


def _user_counts(rng, n_users: int, n_items: int, nnz: int) -> np.ndarray:
    """Ratings per user: at least one each, lognormal activity, at most ``n_items``."""
    w = rng.lognormal(0.0, 0.8, n_users)
    counts = 1 + rng.multinomial(nnz - n_users, w / w.sum())
    return np.minimum(counts, n_items).astype(np.int64)


def _popularity(n_items: int) -> np.ndarray:
    """Cumulative Zipf-like item probabilities over popularity ranks."""
    p = 1.0 / (np.arange(n_items) + 1.0 + n_items / 1000)
    cdf = np.cumsum(p)
    return cdf / cdf[-1]


def _draw_items(rng, size: int, cdf: np.ndarray, item_of_rank: np.ndarray) -> np.ndarray:
    out = np.empty(size, dtype=np.int32)
    for s in range(0, size, CHUNK):
        e = min(size, s + CHUNK)
        rank = np.searchsorted(cdf, rng.random(e - s), side="right")
        out[s:e] = item_of_rank[np.minimum(rank, len(cdf) - 1)]
    return out


def _unique_pairs(rng, user, item, n_items, cdf, item_of_rank, max_rounds=30):
    """Redraw repeated (user, item) pairs; return (user, item) sorted by key, #duplicates left."""
    key = user.astype(np.int64) * n_items + item
    for rnd in range(max_rounds + 1):
        key.sort()
        dup = np.flatnonzero(key[1:] == key[:-1]) + 1
        if dup.size == 0 or rnd == max_rounds:
            break
        users = key[dup] // n_items
        if rnd < max_rounds // 2:
            new = _draw_items(rng, dup.size, cdf, item_of_rank)
        else:
            new = rng.integers(0, n_items, dup.size, dtype=np.int32)
        key[dup] = users * n_items + new
    user_out = (key // n_items).astype(np.int32)
    item_out = (key % n_items).astype(np.int32)
    return user_out, item_out, int(dup.size)


def _truth(rng, n_users, n_items, k, n_artists):
    f32 = np.float32
    artist = rng.integers(0, n_artists, n_items, dtype=np.int32)
    W = (S_W * rng.standard_normal((n_artists, k), dtype=f32)).astype(f32)
    V = W[artist] + S_V * rng.standard_normal((n_items, k), dtype=f32)
    U = S_U * rng.standard_normal((n_users, k), dtype=f32)
    a = S_INTERCEPT * rng.standard_normal(n_users, dtype=f32)
    b = S_INTERCEPT * rng.standard_normal(n_items, dtype=f32)
    return {
        "artist_of_item": artist,
        "W": W,
        "V": V.astype(f32),
        "U": U.astype(f32),
        "user_intercept": a.astype(f32),
        "item_intercept": b.astype(f32),
    }


def _ratings(rng, user, item, t, sigma):
    out = np.empty(user.size, dtype=np.float32)
    for s in range(0, user.size, CHUNK):
        u, i = user[s : s + CHUNK], item[s : s + CHUNK]
        r = np.einsum("ij,ij->i", t["U"][u], t["V"][i])
        r += MU + t["user_intercept"][u] + t["item_intercept"][i]
        r += sigma * rng.standard_normal(u.size, dtype=np.float32)
        out[s : s + CHUNK] = r
    return out


def simulate(n_users, n_items, nnz, k=10, n_artists=None, seed=0, sigma=0.8):
    """Simulate ``nnz`` ratings of ``n_items`` items by ``n_users`` users.

    Parameters
    ----------
    n_users, n_items, nnz : int
        Sizes; ``nnz >= max(n_users, n_items)`` and ``nnz <= n_users * n_items``.
    k : int
        Number of latent factors.
    n_artists : int, optional
        Item groups of the hierarchical item prior; default ``max(1, n_items // 20)``.
    seed : int
        Seed of ``numpy.random.default_rng``.
    sigma : float
        Residual standard deviation.

    Returns
    -------
    dict of ndarray
        ``user``, ``item`` (int32), ``rating`` (float32), ``artist_of_item`` (int32), the truth
        ``U`` (n_users x k), ``V`` (n_items x k), ``W`` (n_artists x k), ``user_intercept``,
        ``item_intercept``, ``mu``, ``sigma``, and ``n_duplicates`` (repeated pairs left).
        The number of rows can fall short of ``nnz`` only when a user would exceed ``n_items``.
    """
    if not max(n_users, n_items) <= nnz <= n_users * n_items:
        raise ValueError("need max(n_users, n_items) <= nnz <= n_users * n_items")
    n_artists = n_artists or max(1, n_items // 20)
    rng = np.random.default_rng(seed)
    truth = _truth(rng, n_users, n_items, k, n_artists)
    counts = _user_counts(rng, n_users, n_items, nnz)
    user = np.repeat(np.arange(n_users, dtype=np.int32), counts)
    cdf, item_of_rank = _popularity(n_items), rng.permutation(n_items).astype(np.int32)
    item = np.concatenate(
        [
            np.arange(n_items, dtype=np.int32),
            _draw_items(rng, user.size - n_items, cdf, item_of_rank),
        ]
    )
    rng.shuffle(item)
    user, item, n_dup = _unique_pairs(rng, user, item, n_items, cdf, item_of_rank)
    rating = _ratings(rng, user, item, truth, sigma)
    return {
        "user": user,
        "item": item,
        "rating": rating,
        **truth,
        "mu": np.float32(MU),
        "sigma": np.float32(sigma),
        "n_duplicates": np.int64(n_dup),
    }


def save_npz(path, data: dict) -> None:
    """Write a :func:`simulate` result uncompressed (``numpy.savez``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)


def load_npz(path) -> dict:
    """Read a file written by :func:`save_npz` back into a dict of arrays."""
    with np.load(path) as f:
        return {name: f[name] for name in f.files}
