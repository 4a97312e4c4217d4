"""Run folders shared by the command-line, report and bad-input tests: each is written once
per test session by ``multilevel fit`` (in process) and only read afterwards.

- :func:`nuts_run`: ``y ~ 1 + x + (1 | g)`` with ``--method nuts`` (2 chains x 200 draws),
  so the report has trace plots and sampler statistics;
- :func:`exact_run`: ``y ~ 1 + (1 | g)`` from Parquet, fitted by the exact conjugate engine
  (independent draws, no sampler statistics).

The data (80 rows, 6 groups) are small because compiling the sampler dominates the cost.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multilevel.cli import main

FORMULA = "y ~ 1 + x + (1 | g)"
EXACT_FORMULA = "y ~ 1 + (1 | g)"
SAMPLING = ["--chains", "2", "--draws", "200", "--warmup", "200"]


@dataclass(frozen=True)
class Result:
    """Exit status and printed text of one ``main(argv)`` call."""

    status: int
    out: str
    err: str


def run_cli(*argv) -> Result:
    """``main(argv)`` with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return Result(status, out.getvalue(), err.getvalue())


def simulated(n: int = 80, seed: int = 5) -> pd.DataFrame:
    """Gaussian data: intercepts varying over 6 groups (g1..g6, unequal sizes) and a slope."""
    rng = np.random.default_rng(seed)
    g = rng.choice(6, size=n, p=[0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    g[:6] = np.arange(6)  # every group present
    x = rng.normal(size=n)
    u = rng.normal(0, 0.8, size=6)
    y = 1.0 + 0.5 * x + u[g] + rng.normal(0, 0.5, n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i + 1}" for i in g]})


@functools.cache
def workdir() -> Path:
    """A folder for the session's shared files, removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="multilevel-cli-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def data_csv() -> Path:
    path = workdir() / "data.csv"
    simulated().to_csv(path, index=False)
    return path


@functools.cache
def data_parquet() -> Path:
    path = workdir() / "data.parquet"
    simulated().to_parquet(path)
    return path


@functools.cache
def nuts_run() -> tuple[Result, Path]:
    """``multilevel fit data.csv FORMULA --method nuts ... --out nuts_run``."""
    out = workdir() / "nuts_run"
    result = run_cli(
        "fit", data_csv(), FORMULA, "--method", "nuts", *SAMPLING, "--seed", "7",
        "--prior", "sd=normal(0, 1)", "--out", out,
    )  # fmt: skip
    return result, out


@functools.cache
def exact_run() -> tuple[Result, Path]:
    """``multilevel fit data.parquet EXACT_FORMULA --out exact_run`` (conjugate engine)."""
    out = workdir() / "exact_run"
    result = run_cli("fit", data_parquet(), EXACT_FORMULA, *SAMPLING, "--seed", "3", "--out", out)
    return result, out
