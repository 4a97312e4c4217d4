"""Did a change slow the library down? The same fits with two source trees, interleaved.

Each round runs every case once with the "before" tree and once with the "after" tree (in
alternating order, each in a fresh process, so both see the same load), and reports per case
the median over rounds of each tree and their ratio. Cases (the headline numbers of
docs/benchmarks.md):

- ``nuts_sleepstudy``: ``Reaction ~ Days + (Days | Subject)``, ``method="nuts"``, 4 chains x
  1000 draws after 1000 warmup: ESS/s (minimum bulk ESS of the named parameters over the
  wall time of the fit call), cold (first fit in the process, compilation included) and warm
  (the second);
- ``exact_sleepstudy``, ``exact_radon`` (``log_radon ~ floor + (floor | county)``):
  ``method="exact"``, same settings, ESS/s cold and warm;
- ``reml_insteval`` (``y ~ 1 + (1 | s) + (1 | d) + (1 | dept)``), ``reml_sleepstudy``:
  ``method="reml"``, seconds, cold and warm (the median of 9 warm fits).

Usage (from the repository root)::

    git archive <before-commit> src | tar -x -C /tmp/before
    python benchmarks/before_after.py --before /tmp/before/src --after src --rounds 3 \\
        --out benchmarks/results/before_after.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "nuts_sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "nuts"),
    "exact_sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "exact"),
    "exact_radon": ("radon", "log_radon ~ floor + (floor | county)", "exact"),
    "reml_insteval": ("insteval", "y ~ 1 + (1 | s) + (1 | d) + (1 | dept)", "reml"),
    "reml_sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "reml"),
}


def worker(case: str, chains: int, draws: int) -> dict:
    """Two fits of ``case`` in this process: cold and warm."""
    import warnings

    import arviz  # noqa: F401  (imported before timing, as a user's session would have it)

    import multilevel as ml

    data, formula, method = CASES[case]
    frame = ml.datasets.load(data)
    out = {}
    kwargs = {} if method == "reml" else dict(chains=chains, draws=draws, warmup=draws)
    for label in ("cold", "warm"):
        times = []
        # a point estimate can take milliseconds: the warm time is the median of 9 fits
        for _ in range(9 if method == "reml" and label == "warm" else 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                fit = ml.fit(formula, frame, method=method, seed=1, progress=False, **kwargs)
                times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        row = {"seconds": seconds}
        if method != "reml":
            summary = fit.summary()
            named = [n for n in summary.index if not n.startswith("r_")]
            row["min_ess_bulk"] = float(summary.loc[named, "ess_bulk"].min())
            row["ess_per_s"] = row["min_ess_bulk"] / seconds
        out[label] = row
    return out


def _run(src: Path, case: str, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src.resolve()), MPLBACKEND="Agg")
    cmd = [sys.executable, __file__, "--worker", case, "--chains", str(args.chains)]
    cmd += ["--draws", str(args.draws)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _metric(case: str) -> tuple[str, bool]:
    """The number compared and whether higher is better."""
    return ("seconds", False) if case.startswith("reml") else ("ess_per_s", True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, help="source folder of the earlier version")
    p.add_argument("--after", type=Path, default=Path("src"))
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=1200.0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.chains, args.draws)))
        return
    trees = {"before": args.before, "after": args.after}
    runs = {case: {"before": [], "after": []} for case in args.cases}
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for case in args.cases:
            for tree in order:
                result = _run(trees[tree], case, args)
                runs[case][tree].append(result)
                print(f"round {r + 1} {case} {tree}: {json.dumps(result)[:160]}", flush=True)
    table = {}
    for case in args.cases:
        name, higher = _metric(case)
        table[case] = {}
        for label in ("cold", "warm"):
            medians = {
                tree: statistics.median(
                    x[label][name] for x in runs[case][tree] if "error" not in x
                )
                for tree in trees
                if any("error" not in x for x in runs[case][tree])
            }
            if len(medians) == 2:
                ratio = medians["after"] / medians["before"]
                speed = ratio if higher else 1.0 / ratio
                medians["after_speed_vs_before"] = round(speed, 3)
            table[case][label] = medians
            print(f"{case:18s} {label}: {name} {medians}")
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                    "python": sys.version.split()[0],
                    "command": " ".join(sys.argv),
                    "load_average_end": os.getloadavg(),
                    "settings": {"chains": args.chains, "draws": args.draws},
                    "table": table,
                    "runs": runs,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
