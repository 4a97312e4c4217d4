"""Top-k ranking metrics for implicit-feedback recommenders (pure numpy).

``recs`` is either an integer array ``(n_users, >= k)`` of ranked item indices per user (best
first), or a float array ``(n_users, n_items)`` of scores, from which the top ``k`` items are
taken after masking the items each user has in train (``train_user``, ``train_item``). Test
pairs are ``(test_user, test_item)``; users without test items are not scored. Relevance is
binary and duplicate test pairs count once.
"""

from __future__ import annotations

import numpy as np


def top_k(scores, k: int = 20, train_user=None, train_item=None) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first, train items excluded.

    Parameters
    ----------
    scores : ndarray, shape (n_users, n_items)
    k : int
    train_user, train_item : int arrays, optional
        Pairs whose score is set to ``-inf`` before ranking.

    Returns
    -------
    ndarray of int64, shape (n_users, k)
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if train_user is not None:
        scores[np.asarray(train_user), np.asarray(train_item)] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _hits(recs, test_user, test_item, k, train_user, train_item):
    """Per scored user: hit matrix ``(n_scored, k)`` and number of distinct test items."""
    recs = np.asarray(recs)
    if np.issubdtype(recs.dtype, np.floating):
        recs = top_k(recs, k, train_user, train_item)
    recs = recs[:, :k]
    test_user = np.asarray(test_user, dtype=np.int64)
    test_item = np.asarray(test_item, dtype=np.int64)
    n_items = int(max(recs.max(initial=0), test_item.max(initial=0))) + 1
    pairs = np.unique(test_user * n_items + test_item)
    users, n_test = np.unique(pairs // n_items, return_counts=True)
    keys = users[:, None] * n_items + recs[users]
    hits = np.isin(keys, pairs)
    return hits, n_test


def recall_at_k(recs, test_user, test_item, k: int = 20, train_user=None, train_item=None):
    """Mean over test users of ``|top-k ∩ test items| / min(k, |test items|)``.

    Parameters
    ----------
    recs : ndarray
        Ranked item indices (int, ``(n_users, >= k)``) or scores (float, ``(n_users, n_items)``).
    test_user, test_item : int arrays
        Held-out pairs.
    k : int
    train_user, train_item : int arrays, optional
        Seen pairs, masked when ``recs`` are scores.

    Returns
    -------
    float
    """
    hits, n_test = _hits(recs, test_user, test_item, k, train_user, train_item)
    return float(np.mean(hits.sum(axis=1) / np.minimum(k, n_test)))


def ndcg_at_k(recs, test_user, test_item, k: int = 20, train_user=None, train_item=None):
    """Mean over test users of binary NDCG@k: DCG = sum over hits of ``1 / log2(rank + 1)``
    (rank from 1), divided by the DCG of ``min(k, |test items|)`` hits at the top.

    Parameters and return as :func:`recall_at_k`.
    """
    hits, n_test = _hits(recs, test_user, test_item, k, train_user, train_item)
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = hits @ discount
    ideal = np.cumsum(discount)[np.minimum(k, n_test) - 1]
    return float(np.mean(dcg / ideal))


if __name__ == "__main__":
    # 3 users x 5 items. user 0: recs [0, 1, 2], test {1, 4} -> 1 hit at rank 2.
    # user 1: recs [3, 2, 1], test {3} -> hit at rank 1. user 2: no test items (not scored).
    recs = np.array([[0, 1, 2], [3, 2, 1], [0, 1, 2]])
    tu, ti = np.array([0, 0, 1]), np.array([1, 4, 3])
    # recall: user 0: 1 / min(2, 2) = 0.5; user 1: 1 / 1 = 1 -> 0.75
    assert np.isclose(recall_at_k(recs, tu, ti, k=2), 0.75)
    # k=3: user 0: 1 / min(3, 2) = 0.5; user 1: 1 -> 0.75
    assert np.isclose(recall_at_k(recs, tu, ti, k=3), 0.75)
    # k=1: user 0: 0 / 1; user 1: 1 / 1 -> 0.5
    assert np.isclose(recall_at_k(recs, tu, ti, k=1), 0.5)
    # ndcg k=2: user 0: (1/log2 3) / (1 + 1/log2 3); user 1: 1 / 1
    u0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert np.isclose(ndcg_at_k(recs, tu, ti, k=2), (u0 + 1) / 2)
    # scores path with train masking: user 0 has item 0 in train, user 1 item 3.
    scores = np.array([[9.0, 1, 5, 0, 4], [0, 2, 1, 9, 3], [1, 1, 1, 1, 1]])
    assert top_k(scores, 2, [0, 1], [0, 3]).tolist() == [[2, 4], [4, 1], [0, 1]]
    # user 0: top-2 [2, 4] hits item 4 at rank 2; user 1: top-2 [4, 1] misses 3 (masked).
    assert np.isclose(recall_at_k(scores, tu, ti, 2, [0, 1], [0, 3]), (0.5 + 0.0) / 2)
    assert np.isclose(ndcg_at_k(scores, tu, ti, 2, [0, 1], [0, 3]), u0 / 2)
    # duplicate test pairs count once
    assert np.isclose(recall_at_k(recs, [0, 0, 0, 1], [1, 1, 4, 3], k=2), 0.75)
    print("metrics: all checks passed")
