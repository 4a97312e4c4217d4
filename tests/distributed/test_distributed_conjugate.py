"""fit_conjugate on a Dask frame equals the in-memory fit of the same rows (issue 21).

Each partition is validated and reduced to per-group statistics, the statistics are merged
on the cluster (Chan's formula for the normal sum of squares, precisions for known SEs),
and the client fits the merged statistics. The statistics agree with the in-memory ones to
rounding (sums added in another order), and the fitted tables to 1e-10.

Empirical Bayes is the exception: its mode and standard errors come from finite-difference
Newton steps and Hessians, which turn a change of the statistics in the last bit into a
relative change of about 1e-8 to 1e-7 (the in-memory fit of the same rows in another order
moves as much). So EB tables are compared to 1e-10 where the sums are exact in any order
(whole numbers and dyadic fractions: then the statistics agree bit for bit) and to
``EB_RTOL`` otherwise.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_index_equal

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import multilevel as ml  # noqa: E402
from multilevel.distributed.conjugate import conjugate_spec  # noqa: E402
from multilevel.errors import DataError, PriorError  # noqa: E402
from multilevel.spec.conjugate import build_conjugate_spec  # noqa: E402

RTOL = 1e-10
STATS_RTOL = 1e-13  # sums of 2000 rows added in another order
EB_RTOL = 1e-6  # empirical Bayes on statistics that differ in the last bit (see above)
N_ROWS, N_GROUPS, N_PARTITIONS = 2000, 40, 7


def _labels(rng, n_groups=N_GROUPS, n_rows=N_ROWS):
    return rng.integers(0, n_groups, n_rows)


def normal_known(seed=1):
    rng = np.random.default_rng(seed)
    g = _labels(rng)
    se = rng.uniform(0.5, 3.0, N_ROWS)
    theta = rng.normal(2.0, 1.5, N_GROUPS)
    y = rng.normal(theta[g], se)
    columns = {"y": "y", "se": "se"}
    return pd.DataFrame({"g": g, "y": y, "se": se}), "normal", columns


def normal_unknown(seed=2):
    """Rows of single observations mixed with rows summarising n > 1 (mean y, SD sd)."""
    rng = np.random.default_rng(seed)
    g = _labels(rng)
    n = np.where(rng.random(N_ROWS) < 0.3, rng.integers(2, 6, N_ROWS), 1)
    theta = rng.normal(10.0, 2.0, N_GROUPS)
    y = rng.normal(theta[g], 3.0 / np.sqrt(n))
    sd = np.where(n > 1, rng.uniform(1.0, 5.0, N_ROWS), 0.0)
    columns = {"y": "y", "n": "n", "sd": "sd"}
    return pd.DataFrame({"g": g, "y": y, "n": n, "sd": sd}), "normal", columns


def binomial(seed=3):
    rng = np.random.default_rng(seed)
    g = _labels(rng)
    p = rng.beta(4.0, 12.0, N_GROUPS)
    trials = rng.integers(1, 30, N_ROWS)
    successes = rng.binomial(trials, p[g])
    columns = {"successes": "s", "trials": "t"}
    return pd.DataFrame({"g": g, "s": successes, "t": trials}), "binomial", columns


def poisson(seed=4):
    rng = np.random.default_rng(seed)
    g = _labels(rng)
    rate = rng.gamma(3.0, 0.5, N_GROUPS)
    exposure = rng.uniform(0.2, 4.0, N_ROWS)
    counts = rng.poisson(rate[g] * exposure)
    columns = {"counts": "c", "exposure": "e"}
    return pd.DataFrame({"g": g, "c": counts, "e": exposure}), "poisson", columns


def gamma(seed=5):
    rng = np.random.default_rng(seed)
    g = _labels(rng)
    rate = rng.gamma(5.0, 0.4, N_GROUPS)
    y = rng.gamma(2.0, 1.0 / rate[g])
    columns = {"y": "y", "shape": 2.0}
    return pd.DataFrame({"g": g, "y": y}), "gamma", columns


CASES = {
    "normal_known": normal_known,
    "normal": normal_unknown,
    "binomial": binomial,
    "poisson": poisson,
    "gamma": gamma,
}


def _fits(frame, likelihood, columns, npartitions=N_PARTITIONS, **kw):
    memory = ml.fit_conjugate(frame, likelihood=likelihood, group="g", **columns, **kw)
    ddf = dd.from_pandas(frame, npartitions=npartitions)
    assert ddf.npartitions == npartitions
    return memory, ml.fit_conjugate(ddf, likelihood=likelihood, group="g", **columns, **kw)


def _assert_same_fit(memory, dask_fit, rtol=RTOL):
    assert dask_fit.spec.chain == memory.spec.chain
    assert dask_fit.spec.n_rows == memory.spec.n_rows
    assert dask_fit.treatment == memory.treatment
    assert_index_equal(dask_fit.spec.labels, memory.spec.labels)
    assert list(dask_fit.spec.stats.values) == list(memory.spec.stats.values)
    for name, values in memory.spec.stats.values.items():
        np.testing.assert_allclose(dask_fit.spec.stats[name], values, rtol=STATS_RTOL, err_msg=name)
    assert_frame_equal(dask_fit.groups(), memory.groups(), rtol=rtol, atol=0)
    assert_frame_equal(dask_fit.hyper(), memory.hyper(), rtol=rtol, atol=0)


@pytest.mark.parametrize("hyper", ["bayes", "eb"])
@pytest.mark.parametrize("case", list(CASES))
def test_dask_fit_equals_in_memory_fit(case, hyper):
    frame, likelihood, columns = CASES[case]()
    memory, dask_fit = _fits(frame, likelihood, columns, hyper=hyper)
    assert len(memory.spec.labels) == N_GROUPS
    exact = case == "binomial"  # whole numbers: sums exact in any order
    _assert_same_fit(memory, dask_fit, rtol=RTOL if hyper == "bayes" or exact else EB_RTOL)


def _dyadic(frame, columns):
    """The data rounded to multiples of 1/64, SEs to powers of 2: every sum is exact."""
    frame = frame.copy()
    for role, name in columns.items():
        if role == "se":
            frame[name] = 2.0 ** np.round(np.log2(frame[name]))
        elif isinstance(name, str) and frame[name].dtype.kind == "f":
            frame[name] = np.maximum(np.round(frame[name] * 64) / 64, 1 / 64)
    return frame


@pytest.mark.parametrize("case", ["normal_known", "binomial", "poisson", "gamma"])
def test_eb_fit_is_identical_when_the_sums_are_exact(case):
    frame, likelihood, columns = CASES[case]()
    frame = _dyadic(frame, columns)
    memory, dask_fit = _fits(frame, likelihood, columns, hyper="eb")
    for name, values in memory.spec.stats.values.items():
        np.testing.assert_array_equal(dask_fit.spec.stats[name], values, err_msg=name)
    _assert_same_fit(memory, dask_fit)


def test_chan_merge_of_sums_of_squares_is_exact_for_a_group_in_every_partition():
    # one group per partition boundary would hide a wrong merge: here every group is in
    # every partition and the group means are far from zero (cancellation would show)
    rng = np.random.default_rng(7)
    g = np.tile(np.arange(3), 700)
    frame = pd.DataFrame({"g": g, "y": 1e3 + rng.normal(g, 1.0)})
    spec_memory = build_conjugate_spec(frame, likelihood="normal", group="g", y="y")
    spec_dask = conjugate_spec(
        dd.from_pandas(frame, npartitions=N_PARTITIONS), likelihood="normal", group="g", y="y"
    )
    for name in ("ybar", "n", "ss"):
        np.testing.assert_allclose(spec_dask.stats[name], spec_memory.stats[name], rtol=RTOL)


def test_groups_in_some_partitions_and_text_labels_sort_as_in_memory():
    frame, likelihood, columns = poisson(seed=11)
    frame["g"] = "g" + (frame["g"] + 1).astype(str)  # "g1" ... "g40"
    frame = frame.sort_values("g", kind="stable").reset_index(drop=True)
    ddf = dd.from_pandas(frame, npartitions=N_PARTITIONS)
    # sorted by group, most groups live in a single partition
    per_partition = [set(ddf.partitions[k]["g"].compute()) for k in range(ddf.npartitions)]
    assert all(len(groups) < N_GROUPS / 2 for groups in per_partition)
    memory = ml.fit_conjugate(frame, likelihood=likelihood, group="g", hyper="bayes", **columns)
    dask_fit = ml.fit_conjugate(ddf, likelihood=likelihood, group="g", hyper="bayes", **columns)
    labels = list(memory.spec.labels)
    assert labels.index("g10") < labels.index("g2")  # the in-memory (lexicographic) order
    _assert_same_fit(memory, dask_fit)


def test_empty_partitions_and_integer_labels():
    frame, likelihood, columns = binomial(seed=12)
    frame["g"] = frame["g"] * 7 + 100  # sparse integer labels
    frame["keep"] = frame.index % 1000 >= 300  # drops rows 0..299 and 1000..1299
    ddf = dd.from_pandas(frame, npartitions=N_PARTITIONS)
    ddf = ddf[ddf["keep"]]  # the first partition (rows 0..285) is left empty
    kept = frame[frame["keep"]]
    assert (ddf.map_partitions(len).compute() == 0).any()
    memory = ml.fit_conjugate(kept, likelihood=likelihood, group="g", hyper="eb", **columns)
    dask_fit = ml.fit_conjugate(ddf, likelihood=likelihood, group="g", hyper="eb", **columns)
    assert dask_fit.spec.labels.dtype == memory.spec.labels.dtype
    _assert_same_fit(memory, dask_fit)


def test_categorical_labels_keep_their_category_order():
    frame, likelihood, columns = gamma(seed=13)
    order = [f"site{k}" for k in range(N_GROUPS)][::-1]
    frame["g"] = pd.Categorical(np.asarray(order)[frame["g"]], categories=order)
    memory, dask_fit = _fits(frame, likelihood, columns, hyper="bayes")
    assert list(memory.spec.labels) == order
    _assert_same_fit(memory, dask_fit)


def _partition_of(ddf, row):
    for k in range(ddf.npartitions):
        if row in set(ddf.partitions[k].index.compute()):
            return k
    raise AssertionError(row)


def test_bad_value_in_one_partition_names_the_partition_and_rows():
    frame, likelihood, columns = poisson(seed=14)
    frame.loc[1234, "c"] = -1
    ddf = dd.from_pandas(frame, npartitions=N_PARTITIONS)
    k = _partition_of(ddf, 1234)
    with pytest.raises(DataError) as in_memory:
        ml.fit_conjugate(frame, likelihood=likelihood, group="g", **columns)
    with pytest.raises(DataError) as on_dask:
        ml.fit_conjugate(ddf, likelihood=likelihood, group="g", **columns)
    assert type(on_dask.value) is type(in_memory.value)
    assert str(on_dask.value) == f"partition {k} of {N_PARTITIONS}: {in_memory.value}"
    assert "row 1234" in str(on_dask.value)


def test_argument_and_column_errors_are_those_of_the_in_memory_path():
    frame, likelihood, columns = binomial(seed=15)
    ddf = dd.from_pandas(frame, npartitions=3)
    single = frame.assign(g=1)
    cases = [
        (frame, {"likelihood": "binomial", "group": "g", "successes": "s", "trials": "tt"}),
        (frame, {"likelihood": "binomial", "group": "group", "successes": "s", "trials": "t"}),
        (frame, {"likelihood": "binomial", "group": "g", "successes": "s"}),
        (frame, {"likelihood": "binomal", "group": "g", "successes": "s", "trials": "t"}),
        (frame, {"likelihood": "normal", "group": "g", "y": "s", "se": "t", "sd": "t"}),
        (single, {"likelihood": "binomial", "group": "g", "successes": "s", "trials": "t"}),
    ]
    for data, kwargs in cases:
        with pytest.raises(DataError) as in_memory:
            ml.fit_conjugate(data, **kwargs)
        with pytest.raises(DataError, match=re.escape(str(in_memory.value))):
            ml.fit_conjugate(dd.from_pandas(data, npartitions=3), **kwargs)
    with pytest.raises(PriorError, match="unknown prior target 'tau'"):
        ml.fit_conjugate(ddf, likelihood="binomial", group="g", successes="s", trials="t",
                         priors={"tau": "normal(0, 1)"})  # fmt: skip


def test_fit_on_a_local_cluster_of_processes_equals_the_in_memory_fit():
    frame, likelihood, columns = normal_unknown(seed=16)
    bad = frame.copy()
    bad.loc[1500, "sd"] = -1.0
    memory = ml.fit_conjugate(frame, likelihood=likelihood, group="g", hyper="bayes", **columns)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        ddf = dd.from_pandas(frame, npartitions=N_PARTITIONS)
        dask_fit = ml.fit_conjugate(ddf, likelihood=likelihood, group="g", hyper="bayes", **columns)
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
        assert any("partition_stats" in p for p in prefixes)  # the work ran on the cluster
        assert any("combine" in p for p in prefixes)
        bad_ddf = dd.from_pandas(bad, npartitions=N_PARTITIONS)
        k = _partition_of(bad_ddf, 1500)
        with pytest.raises(DataError, match=rf"^partition {k} of {N_PARTITIONS}: .*row 1500"):
            ml.fit_conjugate(bad_ddf, likelihood=likelihood, group="g", **columns)
    _assert_same_fit(memory, dask_fit)
