"""The REML/ML optimizer runs single-threaded BLAS where it factors large dense matrices
(OpenBLAS threads spin on a busy machine: InstEval took 15-25 s instead of 2-3 s), leaves BLAS
alone for small models, and follows MULTILEVEL_BLAS_THREADS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

import multilevel as ml
import multilevel.engines.reml as gaussian
from multilevel.linalg.threads import THREADED_COLUMNS

CROSSED = "y ~ 1 + (1 | a) + (1 | b)"


def _crossed(levels_b: int) -> pd.DataFrame:
    """b keeps ``levels_b`` dense columns beside the eliminated a (more levels)."""
    rng = np.random.default_rng(3)
    n = 4000
    a, b = rng.integers(0, 400, n), rng.integers(0, levels_b, n)
    y = rng.normal(size=400)[a] + 0.5 * rng.normal(size=levels_b)[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "a": a.astype(str), "b": b.astype(str)})


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def threads_seen(monkeypatch):
    seen = []
    optimize = gaussian.bobyqa

    def recording(*args, **kwargs):
        seen.append(_blas_threads())
        return optimize(*args, **kwargs)

    monkeypatch.setattr(gaussian, "bobyqa", recording)
    return seen


def test_large_dense_factors_run_on_one_blas_thread(threads_seen, monkeypatch):
    monkeypatch.delenv("MULTILEVEL_BLAS_THREADS", raising=False)
    before = _blas_threads()
    fit = ml.fit(CROSSED, _crossed(THREADED_COLUMNS + 50), method="reml")
    assert threads_seen == [{1}]
    assert _blas_threads() == before  # restored afterwards
    assert fit.estimate.converged


def test_small_models_and_the_environment_leave_blas_alone(threads_seen, monkeypatch):
    before = _blas_threads()
    ml.fit(CROSSED, _crossed(20), method="reml")
    monkeypatch.setenv("MULTILEVEL_BLAS_THREADS", "0")
    ml.fit(CROSSED, _crossed(THREADED_COLUMNS + 50), method="reml")
    assert threads_seen == [before, before]
    monkeypatch.setenv("MULTILEVEL_BLAS_THREADS", "two")
    with pytest.raises(ml.EngineError, match="MULTILEVEL_BLAS_THREADS"):
        ml.fit(CROSSED, _crossed(THREADED_COLUMNS + 50), method="reml")
