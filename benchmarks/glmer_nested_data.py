"""Simulate the nested Bernoulli data set used by the lme4 glmer reference fits.

Writes ``tests/reference/lme4/glmer/nested_bernoulli.csv`` (or the path given as the first
argument): 40 schools x 5 classes x 12 pupils = 2,400 rows with columns

- ``y`` (0/1): the Bernoulli outcome,
- ``x`` (float): a pupil-level standard normal predictor,
- ``school`` (text, ``"S01"`` to ``"S40"``): school label,
- ``class`` (text, ``"c1"`` to ``"c5"``): class label, unique only *within* a school (class
  ``c1`` of school S01 is not class ``c1`` of S02), so the model needs ``(1 | school/class)``.

The generating model is

    logit P(y = 1) = -0.4 + 0.7 * x + u_school + v_class,
    u_school ~ N(0, 0.8^2),  v_class ~ N(0, 0.5^2),

with ``numpy.random.default_rng(20261204)``, so the file is the same on every run (numpy's
PCG64 generator and its ``normal`` / ``random`` streams are stable across numpy versions).
Floats are written at full precision (pandas writes the shortest repr that reads back
exactly). The reference fits are made by ``benchmarks/glmer_reference.R``.

Usage::

    PYTHONPATH=src python benchmarks/glmer_nested_data.py [OUT_CSV]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261204
N_SCHOOLS = 40
N_CLASSES = 5
N_PUPILS = 12
INTERCEPT = -0.4
SLOPE = 0.7
SD_SCHOOL = 0.8
SD_CLASS = 0.5

DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "reference"
    / "lme4"
    / "glmer"
    / "nested_bernoulli.csv"
)


def simulate(seed: int = SEED) -> pd.DataFrame:
    """Return the simulated data set (rows ordered by school, class, pupil)."""
    rng = np.random.default_rng(seed)
    u_school = rng.normal(0.0, SD_SCHOOL, size=N_SCHOOLS)
    v_class = rng.normal(0.0, SD_CLASS, size=(N_SCHOOLS, N_CLASSES))
    n = N_SCHOOLS * N_CLASSES * N_PUPILS
    school = np.repeat(np.arange(N_SCHOOLS), N_CLASSES * N_PUPILS)
    klass = np.tile(np.repeat(np.arange(N_CLASSES), N_PUPILS), N_SCHOOLS)
    x = rng.normal(0.0, 1.0, size=n)
    eta = INTERCEPT + SLOPE * x + u_school[school] + v_class[school, klass]
    p = 1.0 / (1.0 + np.exp(-eta))
    y = (rng.random(n) < p).astype(np.int64)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "school": [f"S{s + 1:02d}" for s in school],
            "class": [f"c{c + 1}" for c in klass],
        }
    )


def main(argv: list[str]) -> None:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = simulate()
    frame.to_csv(out, index=False, lineterminator="\n")
    print(f"wrote {out}: {len(frame)} rows, mean y = {frame['y'].mean():.4f}")


if __name__ == "__main__":
    main(sys.argv)
