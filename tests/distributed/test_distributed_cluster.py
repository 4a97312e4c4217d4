"""Fits on a LocalCluster of two worker processes: the gaussian and laplace engines give the
estimates of the in-memory fit, also when a worker is killed during the fit (Dask retries its
tasks and rebuilds the partition designs it held), and a clear EngineError when Dask is told
not to retry. (fit_conjugate on a cluster: test_distributed_conjugate.py.)"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import EngineError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

FORMULA = "y ~ x + (1 + x | g)"


def _slow(part):  # each partition takes a while, so that a worker dies with work in hand
    time.sleep(0.4)
    return part


def _frame(n=3000, seed=5):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 40, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=40)[g] + 0.2 * rng.normal(size=40)[g] * x
    return pd.DataFrame({"y": y + rng.normal(size=n), "x": x, "g": g})


def _kill_one_worker(client, delay: float) -> threading.Thread:
    pids = list(client.run(os.getpid).values())

    def kill():
        time.sleep(delay)
        os.kill(pids[0], signal.SIGKILL)

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def _cluster(**config):
    import dask

    with dask.config.set(config):
        return distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )


@pytest.mark.slow
def test_two_workers_and_a_killed_worker_give_the_memory_fit():
    frame = _frame()
    local = ml.fit(FORMULA, frame, method="reml").estimate
    with _cluster() as cluster, distributed.Client(cluster) as client:
        ddf = dd.from_pandas(frame, npartitions=8).map_partitions(_slow)
        remote = ml.fit(FORMULA, ddf, method="reml").estimate
        for name, value in local.estimates.items():
            assert remote.estimates[name] == pytest.approx(value, rel=1e-5, abs=1e-6)
        assert client.run(os.getpid)  # the work ran on the cluster's processes
        killer = _kill_one_worker(client, delay=0.6)
        again = ml.fit(FORMULA, ddf, method="reml").estimate  # retried on the other worker
        killer.join()
        assert again.loglik == pytest.approx(local.loglik, rel=1e-12)


@pytest.mark.slow
def test_laplace_on_two_workers_survives_a_killed_worker():
    rng = np.random.default_rng(8)
    g = rng.integers(0, 30, 2000)
    x = rng.normal(size=2000)
    y = rng.poisson(np.exp(0.2 + 0.5 * x + 0.7 * rng.normal(size=30)[g]))
    frame = pd.DataFrame({"y": y, "x": x, "g": g})
    local = ml.fit("y ~ x + (1 | g)", frame, family="poisson", method="laplace").estimate
    with _cluster() as cluster, distributed.Client(cluster) as client:
        ddf = dd.from_pandas(frame, npartitions=6)
        killer = _kill_one_worker(client, delay=1.5)  # while PIRLS passes over the designs
        remote = ml.fit("y ~ x + (1 | g)", ddf, family="poisson", method="laplace").estimate
        killer.join()
    assert remote.loglik == pytest.approx(local.loglik, rel=1e-10)
    for name, value in local.estimates.items():
        assert remote.estimates[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name


@pytest.mark.slow
def test_lost_worker_without_retries_is_a_clear_error():
    frame = _frame(seed=6)
    with _cluster(**{"distributed.scheduler.allowed-failures": 0}) as cluster:
        with distributed.Client(cluster) as client:
            ddf = dd.from_pandas(frame, npartitions=8).map_partitions(_slow)
            killer = _kill_one_worker(client, delay=0.6)
            with pytest.raises(EngineError, match="lost the work of this fit"):
                ml.fit(FORMULA, ddf, method="reml")
            killer.join()
