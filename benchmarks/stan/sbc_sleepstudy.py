"""Simulation-based calibration on the sleepstudy design, for docs/stan.md: the exact gaussian
engine on ``Reaction ~ Days + (Days | Subject)`` with the reference priors (calibrated: nothing
should be flagged), and a negative control fitted with an SD prior far below the simulating
one (should be flagged). Writes the ECDF-difference figures and a JSON summary.

    PYTHONPATH=src python benchmarks/stan/sbc_sleepstudy.py [--sims 200] [--method exact]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import multilevel as ml  # noqa: E402

PRIORS = {
    "Intercept": "normal(250, 50)",
    "b": "normal(10, 10)",
    "sd": "normal(0, 30)",
    "sigma": "normal(0, 30)",
    "cor": "lkj(2)",
}
FORMULA = "Reaction ~ Days + (Days | Subject)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--method", default="exact")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    data = ml.datasets.load("sleepstudy")
    out = {}
    for label, fit_priors in (
        ("calibrated", None),
        ("negative_control", {"sd_Subject__Days": "normal(0, 1)"}),
    ):
        start = time.perf_counter()
        result = ml.sbc(
            FORMULA,
            data,
            priors=PRIORS,
            fit_priors=fit_priors,
            n_sims=args.sims if label == "calibrated" else args.sims // 2,
            method=args.method,
            seed=2026,
            progress=False,
            n_jobs=args.jobs,
            group_effects=1,
        )
        seconds = time.perf_counter() - start
        summary = result.summary()
        print(label, f"{seconds:.0f} s", result.miscalibrated)
        print(summary.to_string())
        figure = result.plot("ecdf_diff")
        figure.savefig(Path(args.out) / f"sbc-sleepstudy-{label.replace('_', '-')}.png", dpi=90)
        out[label] = {
            "seconds": round(seconds, 1),
            "n_sims": len(result.ranks),
            "L": result.L,
            "miscalibrated": list(result.miscalibrated),
            "p_value": {k: float(v) for k, v in summary["p_value"].items()},
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
