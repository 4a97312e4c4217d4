"""The exact engine's compiled code is cached on everything that shapes it: a fit after a fit
of another shape gives what a fresh process gives (same seed, same draws).

Two crossed terms kept dense, b and c, with 10 and 20 levels in one data set and 20 and 10 in
the other, give arrays of the same shapes; only the columns where each term starts differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml

FORMULA = "y ~ 1 + (1 | a) + (1 | b) + (1 | c) + (1 | d)"
SETTINGS = {"method": "exact", "seed": 1, "chains": 2, "draws": 300, "progress": False}


def permuted(levels_b: int, levels_c: int, sd_b: float, sd_c: float) -> pd.DataFrame:
    """1,500 rows; a has 5 levels, d 60 (the term the engine eliminates)."""
    rng = np.random.default_rng(levels_b)
    n = 1500
    codes = {
        "a": rng.integers(0, 5, n),
        "b": rng.integers(0, levels_b, n),
        "c": rng.integers(0, levels_c, n),
        "d": rng.integers(0, 60, n),
    }
    sds = {"a": 1.0, "b": sd_b, "c": sd_c, "d": 1.0}
    y = rng.normal(0.0, 1.0, n)
    for name, code in codes.items():
        y += rng.normal(0.0, sds[name], code.max() + 1)[code]
    return pd.DataFrame({"y": y, **{k: [f"{k}{i}" for i in v] for k, v in codes.items()}})


FIRST = (10, 20, 0.3, 3.0)
SECOND = (20, 10, 3.0, 0.3)


def posterior_means(data: pd.DataFrame) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.fit(FORMULA, data, **SETTINGS)
    names = [name for name in fit.spec.parameter_names if name.startswith("sd_")]
    return {name: float(np.mean(fit.posterior.draws[name])) for name in names}


def test_a_fit_after_another_shape_equals_a_fresh_process():
    code = (
        f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import test_compiled_cache as t; "
        "print(json.dumps(t.posterior_means(t.permuted(*t.SECOND))))"
    )
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    posterior_means(permuted(*FIRST))  # compiles the first shape
    after = posterior_means(permuted(*SECOND))
    expected = json.loads(fresh.stdout.strip().splitlines()[-1])
    assert after.keys() == expected.keys()
    for name, value in expected.items():
        assert after[name] == value, name
    # and both recover the second data set's scales, not the first's
    assert after["sd_b__Intercept"] > 1.5 and after["sd_c__Intercept"] < 0.8
