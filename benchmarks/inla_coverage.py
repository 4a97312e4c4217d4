"""Interval coverage of the nested Laplace (``method="inla"``) against NUTS (issue 18): data
simulated from known parameters, both engines fitted with the same (default brms) priors, and
how often each one's central 90% interval holds the truth.

Cells: bernoulli and poisson ``y ~ x + (1 | g)`` with 30 groups of 4 and of 20 rows, and a
bernoulli ``y ~ x + (1 + x | g)`` with 40 groups of 20 rows (three variance parameters: the
central composite design). Every replicate simulates new group effects and data from
:data:`TRUTH`. A Bayesian interval under a fixed truth need not cover 90% (the prior pulls
small-data posteriors), so NUTS's coverage of the same replicates is the yardstick: where the
nested Laplace covers less than NUTS, the approximation is to blame. Coverage is reported with
its binomial standard error.

Run from the repository root (``--reps`` replicates per cell for inla, ``--nuts-reps`` of them
also by NUTS)::

    python benchmarks/inla_coverage.py --reps 100 --nuts-reps 30
    python benchmarks/inla_coverage.py --report
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "results" / "inla_coverage.json"
TRUTH = {"b_Intercept": -0.3, "b_x": 0.6, "sd_g__Intercept": 0.8, "sd_g__x": 0.4}
#: name -> (formula, family, groups, rows per group)
CELLS = {
    "bernoulli_4": ("y ~ x + (1 | g)", "bernoulli", 30, 4),
    "bernoulli_20": ("y ~ x + (1 | g)", "bernoulli", 30, 20),
    "poisson_4": ("y ~ x + (1 | g)", "poisson", 30, 4),
    "poisson_20": ("y ~ x + (1 | g)", "poisson", 30, 20),
    "bernoulli_slope_20": ("y ~ x + (1 + x | g)", "bernoulli", 40, 20),
}
LEVEL = 0.9


def simulate(cell: str, seed: int) -> pd.DataFrame:
    formula, family, groups, per = CELLS[cell]
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    eta = TRUTH["b_Intercept"] + TRUTH["b_x"] * x
    eta = eta + rng.normal(0.0, TRUTH["sd_g__Intercept"], groups)[g]
    if "1 + x" in formula:
        eta = eta + rng.normal(0.0, TRUTH["sd_g__x"], groups)[g] * x
    if family == "bernoulli":
        y = (rng.uniform(size=g.size) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    else:
        y = rng.poisson(np.exp(eta))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in g]})


def covered(fit, names) -> dict:
    out = {}
    for name in names:
        draws = np.asarray(fit.posterior.draws[name], dtype=float).ravel()
        low, high = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        out[name] = {"covered": bool(low <= TRUTH[name] <= high), "width": float(high - low)}
    return out


def run(args) -> dict:
    import multilevel as ml

    results = {"meta": meta(args), "cells": {}}
    for cell, (formula, family, _, _) in CELLS.items():
        names = [n for n in TRUTH if n != "sd_g__x" or "1 + x" in formula]
        rows = []
        for rep in range(args.reps):
            data = simulate(cell, seed=1000 * rep + 7)
            row = {"rep": rep}
            for method in ("inla", "nuts"):
                if method == "nuts" and rep >= args.nuts_reps:
                    continue
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = ml.fit(formula, data, family=family, method=method, chains=4,
                                 draws=1000, seed=rep + 1, progress=False)  # fmt: skip
                row[method] = covered(fit, names)
                row[f"{method}_seconds"] = time.perf_counter() - start
            rows.append(row)
            print(f"{cell} rep {rep}: " + ", ".join(
                f"{m} {sum(v['covered'] for v in row[m].values())}/{len(names)}"
                for m in ("inla", "nuts") if m in row), flush=True)  # fmt: skip
        results["cells"][cell] = {"formula": formula, "family": family, "rows": rows}
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return results


def meta(args) -> dict:
    import jax
    import numpyro

    return {
        "command": "python " + " ".join(sys.argv),
        "truth": TRUTH,
        "level": LEVEL,
        "cells": {k: list(v) for k, v in CELLS.items()},
        "reps": args.reps,
        "nuts_reps": args.nuts_reps,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "jax": jax.__version__,
            "numpyro": numpyro.__version__,
        },
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def report(results: dict) -> str:
    """Markdown: per cell and parameter, the coverage of inla on all replicates, and of inla
    and NUTS on the replicates both fitted, each with its binomial standard error."""
    lines = [
        "| cell | parameter | inla, all reps | inla, reps NUTS fitted | NUTS "
        "| mean width inla / NUTS |",
        "|---|---|---:|---:|---:|---:|",
    ]

    def rate(values):
        k = np.mean(values)
        return f"{k:.2f} ± {np.sqrt(k * (1 - k) / len(values)):.2f} ({len(values)})"

    for cell, c in results["cells"].items():
        rows = c["rows"]
        both = [r for r in rows if "nuts" in r]
        for name in rows[0]["inla"]:
            inla = [r["inla"][name]["covered"] for r in rows]
            pair = [r["inla"][name]["covered"] for r in both]
            nuts = [r["nuts"][name]["covered"] for r in both]
            widths = "–"
            if both:
                widths = (
                    f"{np.mean([r['inla'][name]['width'] for r in both]):.3f} / "
                    f"{np.mean([r['nuts'][name]['width'] for r in both]):.3f}"
                )
            lines.append(
                f"| {cell} | {name} | {rate(inla)} | {rate(pair) if pair else '–'} | "
                f"{rate(nuts) if nuts else '–'} | {widths} |"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--nuts-reps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="print the table from --out")
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.loads(args.out.read_text())))
        return
    print(report(run(args)))


if __name__ == "__main__":
    main()
