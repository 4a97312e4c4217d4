"""Ratings simulated from the factor model itself (truth known), for the factorization tests.

``rating = 3 + a_user + b_item + u_user · v_item + N(0, sigma^2)``, items' factors around
their artist's: ``v ~ N(w_artist, 0.3^2 I)``, ``w ~ N(0, 0.6^2 I)``, ``u ~ N(0, 0.7^2 I)``.
Every user rates ``per_user`` distinct items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA = "rating ~ 1 + (1 | user) + (1 | item) + factors(user, item, k = {k}, item_group = artist)"


def simulate(n_users=200, n_items=150, n_artists=15, per_user=30, k=3, sigma=0.5, seed=0):
    """``(ratings, truth)``: a frame with user, item, artist, rating and the true mean ``mu``;
    the true factors, effects and sigma."""
    rng = np.random.default_rng(seed)
    artist = rng.integers(0, n_artists, n_items)
    W = rng.normal(0, 0.6, (n_artists, k))
    V = W[artist] + rng.normal(0, 0.3, (n_items, k))
    U = rng.normal(0, 0.7, (n_users, k))
    a = rng.normal(0, 0.3, n_users)
    b = rng.normal(0, 0.3, n_items)
    pairs = np.concatenate(
        [
            np.c_[np.full(per_user, u), rng.choice(n_items, per_user, replace=False)]
            for u in range(n_users)
        ]
    )
    user, item = pairs[:, 0], pairs[:, 1]
    mu = 3.0 + a[user] + b[item] + (U[user] * V[item]).sum(1)
    frame = pd.DataFrame(
        {
            "user": [f"u{i:04d}" for i in user],
            "item": [f"i{j:04d}" for j in item],
            "artist": [f"a{artist[j]:03d}" for j in item],
            "rating": mu + rng.normal(0, sigma, user.size),
            "mu": mu,
        }
    )
    truth = {"U": U, "V": V, "W": W, "a": a, "b": b, "sigma": sigma, "artist": artist}
    return frame, truth


def split(frame: pd.DataFrame, fraction: float = 0.2, seed: int = 1):
    """A seeded random split of rows; held-out rows of unseen users or items are dropped."""
    test = np.random.default_rng(seed).random(len(frame)) < fraction
    train, held = frame[~test], frame[test]
    held = held[held.user.isin(train.user) & held.item.isin(train.item)]
    return train, held
