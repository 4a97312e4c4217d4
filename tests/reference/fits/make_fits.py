"""Write the golden fit files of the current format version into this folder.

Run from the repository root, once per format version, when the version is new::

    PYTHONPATH=src python tests/reference/fits/make_fits.py

It refuses to overwrite files (a golden file is never regenerated: files written by every
version must keep loading). For each model ``v<VERSION>_<name>``: ``.mlfit`` (the fit),
``.summary.csv`` (its summary), ``.newdata.csv`` and ``.predict.csv`` (rows to predict and
the predictions). tests/results/test_golden_fits.py loads every file and compares.

``v1_conjugate.mlfit`` (the old pickle format) was written by multilevel at commit 6c3a1c2
with ``Fit.save`` for the model ``conjugate`` below, ``chains=2, draws=50, seed=11``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml
from multilevel.results.storage import VERSION

HERE = Path(__file__).resolve().parent
SMALL = dict(chains=2, draws=50, warmup=50, progress=False)


def _simulated(n: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "x": rng.normal(size=n).round(3),
            "z": rng.uniform(1, 3, n).round(3),
            "cat": rng.choice(["a", "b", "c"], n),
            "flag": rng.choice([True, False], n),
            "o": rng.uniform(1, 2, n).round(3),
            "a": rng.choice([3, 10, 2], n),
            "b": rng.choice(["p", "q"], n),
            "m1": rng.choice(["u", "v", "s"], n),
            "m2": rng.choice(["u", "v", "t"], n),
            "w1": rng.uniform(0.2, 1, n).round(3),
            "w2": rng.uniform(0.2, 1, n).round(3),
            "t": rng.integers(4, 9, n),
        }
    )
    data["y"] = (1 + 0.5 * data["x"] + rng.normal(size=n)).round(3)
    data["k"] = rng.binomial(data["t"], 0.4)
    return data


def models():
    """name -> (make the fit, rows to predict)."""
    schools = ml.datasets.load("eight_schools")
    sleep = ml.datasets.load("sleepstudy")
    data = _simulated()
    new = _simulated(6, seed=9)
    return {
        "conjugate": (
            lambda: ml.fit("y | se(sigma) ~ 1 + (1 | school)", schools, seed=11, **SMALL),
            pd.DataFrame({"school": ["A", "D", "Elsewhere"]}),
        ),
        "exact": (
            lambda: ml.fit(
                "y ~ scale(x) + poly(z, 2) + C(cat, Treatment('b')) + flag + offset(log(o))"
                " + (1 + x || cat) + (1 | a/b)",
                data,
                method="exact",
                seed=12,
                **SMALL,
            ),
            new,
        ),
        "nuts": (
            lambda: ml.fit(
                "k | trials(t) ~ x + center(z)"
                " + (1 | mm(m1, m2, weights = cbind(w1, w2), scale = TRUE))",
                data,
                family="binomial",
                method="nuts",
                seed=13,
                **SMALL,
            ),
            new,
        ),
        "nuts_dpar": (
            lambda: ml.fit(
                "y ~ x + (1 | cat)",
                data,
                dpars=["sigma ~ 1 + flag + (1 | a)"],
                method="nuts",
                seed=14,
                **SMALL,
            ),
            new,
        ),
        "reml": (
            lambda: ml.fit("Reaction ~ Days + (Days | Subject)", sleep, method="reml"),
            pd.DataFrame({"Days": [0, 4, 9], "Subject": [308, 351, 1000]}),
        ),
    }


def predictions(fit, newdata: pd.DataFrame) -> pd.DataFrame:
    """What the golden test compares: expected means, new levels left at the population."""
    out = fit.predict(newdata, new_groups="population")
    return out.to_frame() if isinstance(out, pd.Series) else out


def main() -> int:
    for name, (make, newdata) in models().items():
        stem = HERE / f"v{VERSION}_{name}"
        if stem.with_suffix(".mlfit").exists():
            print(f"{stem.name}.mlfit exists: left as it is")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = make()
        fit.save(stem.with_suffix(".mlfit"))
        fit.summary().to_csv(f"{stem}.summary.csv", float_format="%.17g")
        newdata.to_csv(f"{stem}.newdata.csv", index=False)
        predictions(fit, newdata).to_csv(f"{stem}.predict.csv", float_format="%.17g")
        size = stem.with_suffix(".mlfit").stat().st_size
        engine = getattr(getattr(fit, "posterior", None), "engine", "reml")
        print(f"{stem.name}: {engine}, {size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
