"""Out-of-core gaussian and conjugate fits from a Parquet dataset on disk, on a LocalCluster.

Writes ``rows`` rows of ``y ~ x + (1 + x | g) + (1 | h)`` (and as many binomial rows for the
conjugate engine) as a Parquet dataset, then fits them with 1 and 2 worker processes
(one thread each, BLAS single-threaded), recording wall time, the peak resident memory of the
client and of each worker, and the per-partition cost from which 10^10 rows on 100 workers
are projected.

    python benchmarks/distributed/gaussian_parquet.py --rows 20000000 --in-memory \
        --out benchmarks/results/distributed_parquet_2e7.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CACHE = Path.home() / ".cache" / "multilevel-bench" / "dask"
ROWS_PER_FILE = 1_000_000
GROUPS, CROSSED, BINOMIAL_GROUPS = 10_000, 100, 100_000


def write_dataset(rows: int, seed: int = 1) -> tuple[Path, Path]:
    """Parquet datasets of ``rows`` gaussian and binomial rows (cached)."""
    gauss, binom = CACHE / f"gaussian_{rows}", CACHE / f"binomial_{rows}"
    if (gauss / "_done").exists() and (binom / "_done").exists():
        return gauss, binom
    gauss.mkdir(parents=True, exist_ok=True)
    binom.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    a = rng.normal(size=GROUPS)
    b = 0.3 * rng.normal(size=GROUPS)
    c = 0.5 * rng.normal(size=CROSSED)
    p = rng.beta(2.0, 8.0, size=BINOMIAL_GROUPS)
    for k, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        n = min(ROWS_PER_FILE, rows - start)
        g = rng.integers(0, GROUPS, n)
        h = rng.integers(0, CROSSED, n)
        x = rng.normal(size=n)
        y = 1.0 + 0.5 * x + a[g] + b[g] * x + c[h] + rng.normal(size=n)
        pd.DataFrame({"y": y, "x": x, "g": g.astype(np.int32), "h": h.astype(np.int32)}).to_parquet(
            gauss / f"part-{k:05d}.parquet", index=False
        )
        j = rng.integers(0, BINOMIAL_GROUPS, n)
        trials = rng.integers(1, 20, n)
        pd.DataFrame(
            {"group": j.astype(np.int32), "trials": trials, "successes": rng.binomial(trials, p[j])}
        ).to_parquet(binom / f"part-{k:05d}.parquet", index=False)
    (gauss / "_done").touch()
    (binom / "_done").touch()
    return gauss, binom


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(workers: int, gauss: Path, binom: Path) -> dict:
    import dask.dataframe as dd

    import distributed
    import multilevel as ml

    out = {"workers": workers}
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, memory_limit="8GiB"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        ddf = dd.read_parquet(str(gauss))
        t = time.perf_counter()
        fit = ml.fit("y ~ x + (1 + x | g) + (1 | h)", ddf, method="reml")
        out["gaussian_reml_s"] = time.perf_counter() - t
        # the optimizer works on the reduced statistics on the client; the rest is Dask's
        out["gaussian_optimize_s"] = fit.estimate.timings["optimize"]
        out["gaussian_passes_s"] = out["gaussian_reml_s"] - out["gaussian_optimize_s"]
        out["gaussian_estimates"] = {k: float(v) for k, v in fit.estimate.estimates.items()}
        out["partitions"] = ddf.npartitions
        bdf = dd.read_parquet(str(binom))
        t = time.perf_counter()
        conj = ml.fit_conjugate(
            bdf, likelihood="binomial", group="group", successes="successes", trials="trials"
        )
        out["conjugate_s"] = time.perf_counter() - t
        out["conjugate_hyper"] = conj.hyper()["mean"].to_dict()
        out["worker_peak_mb"] = sorted(client.run(peak_mb).values())
    out["client_peak_mb"] = peak_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="also fit the gaussian data in memory (pandas), in its own process: the baseline",
    )
    args = parser.parse_args()
    import dask

    import distributed
    import multilevel as ml

    t = time.perf_counter()
    gauss, binom = write_dataset(args.rows)
    written = time.perf_counter() - t
    runs = [run(w, gauss, binom) for w in (1, 2)]
    baseline = None
    if args.in_memory:
        import subprocess
        import sys

        script = Path(__file__).with_name("in_memory.py")
        done = subprocess.run(
            [sys.executable, str(script), str(gauss)], capture_output=True, text=True, check=True
        )
        baseline = json.loads(done.stdout.strip().splitlines()[-1])
    one, two = runs
    per_partition = one["gaussian_passes_s"] / one["partitions"]  # one worker: serial cost
    projection_rows, projection_workers = 10**10, 100
    partitions = projection_rows / ROWS_PER_FILE
    result = {
        "command": f"python benchmarks/distributed/gaussian_parquet.py --rows {args.rows}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {
            "python": platform.python_version(),
            "multilevel": ml.__version__,
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "numpy": np.__version__,
        },
        "rows": args.rows,
        "rows_per_partition": ROWS_PER_FILE,
        "dataset_write_s": written,
        "runs": runs,
        "in_memory": baseline,
        "speedup_2_workers_gaussian": one["gaussian_reml_s"] / two["gaussian_reml_s"],
        "speedup_2_workers_conjugate": one["conjugate_s"] / two["conjugate_s"],
        "seconds_per_partition_gaussian": per_partition,
        # passes over 10^4 partitions on 100 workers, plus the client's optimizer (its cost
        # grows with the levels, not the rows)
        "projection_10e10_rows_100_workers_s": partitions * per_partition / projection_workers
        + one["gaussian_optimize_s"],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
