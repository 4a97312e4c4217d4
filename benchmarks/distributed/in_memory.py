"""The in-memory REML fit of a Parquet dataset written by gaussian_parquet.py, in its own
process (so its peak memory is its own): the side-by-side baseline of the Dask fit.

    python benchmarks/distributed/in_memory.py ~/.cache/multilevel-bench/dask/gaussian_20000000
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

import pandas as pd  # noqa: E402

import multilevel as ml  # noqa: E402


def main() -> None:
    start = time.perf_counter()
    frame = pd.read_parquet(sys.argv[1])
    read = time.perf_counter() - start
    fit = ml.fit("y ~ x + (1 + x | g) + (1 | h)", frame, method="reml")
    total = time.perf_counter() - start
    print(
        json.dumps(
            {
                "rows": len(frame),
                "read_s": read,
                "reml_s": total - read,
                "optimize_s": fit.estimate.timings["optimize"],
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "estimates": {k: float(v) for k, v in fit.estimate.estimates.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
