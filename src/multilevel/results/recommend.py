"""Recommendations from a factor model: every item scored for one user from every draw
(:func:`recommend`), and the ranking metrics recall@k and NDCG@k."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from multilevel.design._labels import label_text, match_levels
from multilevel.errors import DataError
from multilevel.results.predict import linear_predictor

__all__ = ["recommend", "recall_at_k", "ndcg_at_k"]


def _first_rows(index: np.ndarray, n_levels: int) -> np.ndarray:
    first = np.full(n_levels, -1, dtype=np.int64)
    first[index[::-1]] = np.arange(index.size)[::-1]
    return first


def _constant_within(values: np.ndarray, index: np.ndarray, first: np.ndarray) -> bool:
    return bool(np.allclose(values, values[first[index]]))


def _candidates(spec, user: int):
    """The training design reduced to one row per item (its first row), the user's levels
    put in: valid when the predictors and the other group terms are constant within items."""
    d = spec.design
    users, items = d.factors.users, d.factors.items
    first = _first_rows(items.index, items.n_levels)
    if not _constant_within(d.X, items.index, first):
        raise DataError(
            f"recommend scores each {items.name} with the predictors of its rows, but they "
            f"vary within {items.name}s (a predictor of the {users.name} or of the rating "
            f"itself); score your own candidate rows with predict(newdata)"
        )
    blocks = []
    for block in d.blocks:
        if block.columns == (users.name,):
            index = np.full((items.n_levels, 1), user, dtype=np.int32)
        elif _constant_within(block.index[:, 0], items.index, first):
            index = block.index[first]
        else:
            raise DataError(
                f"the group term {block.source or block.name} varies within {items.name}s; "
                f"score your own candidate rows with predict(newdata)"
            )
        Z = block.Z[first]
        blocks.append(replace(block, index=index, Z=Z, weights=block.weights[: items.n_levels]))
    factors = replace(
        d.factors,
        users=replace(users, index=np.full(items.n_levels, user, dtype=np.int32)),
        items=replace(items, index=np.arange(items.n_levels, dtype=np.int32)),
    )
    return replace(
        d,
        X=d.X[first],
        offset=d.offset[first],
        blocks=tuple(blocks),
        factors=factors,
        y=None,
        trials=None,
        se=None,
        weights=None,
    )


def recommend(spec, posterior, user, *, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
    """The ``n`` items with the highest posterior mean predicted rating for ``user``.

    Returns
    -------
    pandas.DataFrame
        Indexed by item, best first: ``mean, sd, q5, q95`` of the expected rating over the
        draws and ``p_top``, the share of draws in which the item is among that draw's ``n``
        best (how sure the ranking is).

    Raises
    ------
    DataError
        A user the model does not know, or predictors that vary within items.
    """
    d = spec.design
    users, items = d.factors.users, d.factors.items
    position = match_levels(users.levels, pd.Series([user], dtype=object))[0]
    if position < 0:
        raise DataError(
            f"{users.name} {user!r} is not in the model; for a new {users.name} call "
            f"fit.fold_in(ratings) with a few of its ratings first"
        )
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, not {n!r}")
    candidates = _candidates(spec, int(position))
    eta = linear_predictor(spec, posterior.draws, candidates)
    scores = np.asarray(spec.family.inverse_link(eta), dtype=float)
    keep = np.ones(items.n_levels, dtype=bool)
    if exclude_seen:
        keep[np.unique(items.index[users.index == position])] = False
        seen = posterior.settings.get("fold_in_seen", {}).get(label_text(users.levels[position]))
        if seen:
            keep[match_levels(items.levels, pd.Series(seen, dtype=object))] = False
    scores = scores[:, keep]
    labels = items.levels[keep]
    n = min(int(n), scores.shape[1])
    mean = scores.mean(axis=0)
    best = np.argsort(-mean, kind="stable")[:n]
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    p_top = np.bincount(top.ravel(), minlength=scores.shape[1]) / scores.shape[0]
    q = np.quantile(scores[:, best], [0.05, 0.95], axis=0)
    return pd.DataFrame(
        {
            "mean": mean[best],
            "sd": scores[:, best].std(axis=0, ddof=1),
            "q5": q[0],
            "q95": q[1],
            "p_top": p_top[best],
        },
        index=pd.Index(labels[best], name=items.name),
    )


def recall_at_k(recommended, relevant, k: int) -> float:
    """Mean over users of ``|top k ∩ relevant| / min(k, |relevant|)``.

    Parameters
    ----------
    recommended : sequence of sequences
        Per user, items best first.
    relevant : sequence of sets
        Per user, the held-out items; users without any are skipped.

    Examples
    --------
    >>> recall_at_k([["a", "b", "c"], ["x", "y"]], [{"b", "z"}, {"q"}], 2)
    0.25
    """
    scores = [
        len(set(list(rec)[:k]) & set(rel)) / min(k, len(rel))
        for rec, rel in zip(recommended, relevant, strict=True)
        if len(rel)
    ]
    return float(np.mean(scores)) if scores else float("nan")


def ndcg_at_k(recommended, relevant, k: int) -> float:
    """Mean over users of the normalised discounted cumulative gain of the top ``k`` (binary
    relevance, gain ``1 / log2(rank + 1)``).

    Examples
    --------
    >>> round(ndcg_at_k([["a", "b"]], [{"b"}], 2), 4)  # (1 / log2 3) / 1
    0.6309
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for rec, rel in zip(recommended, relevant, strict=True):
        if not len(rel):
            continue
        rel = set(rel)
        gain = sum(discounts[i] for i, item in enumerate(list(rec)[:k]) if item in rel)
        scores.append(gain / discounts[: min(k, len(rel))].sum())
    return float(np.mean(scores)) if scores else float("nan")
