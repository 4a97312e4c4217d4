"""Data and models shared by the Stan tests: one small data set with a column for every
design feature, and a model for each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multilevel.engines.stan import stan_backend, stanc_path


def feature_data(n: int = 120, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "g": rng.integers(0, 8, n).astype(str),
            "h": rng.integers(0, 4, n).astype(str),
            "g2": rng.integers(0, 8, n).astype(str),
            "w": rng.uniform(0.5, 2.0, n),
            "w1": rng.uniform(0.2, 0.8, n),
            "s": rng.uniform(0.5, 1.0, n),
            "t": rng.integers(5, 10, n),
            "o": rng.normal(scale=0.1, size=n),
        }
    )
    df["w2"] = 1 - df["w1"]
    df["y"] = 1 + 0.5 * df.x + rng.normal(size=n)
    df["yb"] = rng.integers(0, 2, n)
    df["yk"] = rng.binomial(df.t, 0.4)
    df["yc"] = rng.poisson(3, n)
    df["yp"] = rng.gamma(2.0, 1.0, n)
    df["yu"] = rng.uniform(0.05, 0.95, n)
    return df


#: (formula, family, priors): every design feature a Stan program writes.
FEATURES = {
    "correlated": ("y ~ x + (x | g)", "gaussian", None),
    "uncorrelated": ("y ~ x + (x || g) + (1 | h)", "gaussian", None),
    "nested, no intercept": ("y ~ 0 + x + (1 | h/g)", "gaussian", None),
    "crossed": ("y ~ x + (1 | g) + (1 | h)", "gaussian", None),
    "three coefficients": ("y ~ x + z + (1 + x + z | g)", "gaussian", None),
    "se": ("y | se(s) ~ 1 + (1 | g)", "gaussian", None),
    "weights": ("y | weights(w) ~ x + (1 | g)", "student_t", None),
    "trials": ("yk | trials(t) ~ x + (1 | g)", "binomial", None),
    "offset": ("yc ~ x + offset(o) + (1 | g)", "poisson", None),
    "mm": ("y ~ x + (1 | mm(g, g2))", "gaussian", None),
    "weighted mm": ("y ~ x + (1 | mm(g, g2, weights = cbind(w1, w2)))", "gaussian", None),
    "dpar": (["y ~ x + (1 | g)", "sigma ~ x + (1 | h)"], "gaussian", None),
    "truncated and bounded priors": (
        "y ~ x + z + (1 + x | g)",
        "gaussian",
        {
            "b_x": "uniform(-5, 5)",
            "b_z": "normal(0, 1)",
            "b_Intercept": "normal(0, 3)",
            "sd_g__x": "exponential(1)",
            "sd_g__Intercept": "normal(0, 1)",
            "sigma": "gamma(2, 1)",
            "cor": "lkj(3)",
        },
    ),
}

_backend, _why = stan_backend()
#: Skip unless Stan can compile and sample here.
needs_stan = pytest.mark.skipif(_backend is None, reason=f"no Stan backend: {_why}")
#: Skip unless stanc (CmdStan's or PyStan's) is here to translate programs.
needs_stanc = pytest.mark.skipif(
    stanc_path() is None, reason="no stanc: install multilevel[stan] (PyStan ships stanc)"
)
