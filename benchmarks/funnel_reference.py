"""The hard-funnel test case of the NUTS engine (issue 19) and its long reference run.

The data imitate Gelman & Hill's 1988 election poll model (their chapter 14): 10,000
bernoulli rows with crossed intercepts for age (4 levels), education (4), age x education
(16), state (51, of very unequal sizes) and region (5), population effects for black,
female, their interaction and the state's previous vote, and ``uniform(0, 100)`` priors on
the SDs. Written to ``tests/reference/poll_funnel/data.csv.gz``.

The reference is a long run of the engine *without* its warm start (Stan's uniform start,
non-centred effects: the parameterisation the test does not use) at ``target_accept=0.99``:
4 chains x (1,000 warmup + 3,000 draws). Its summary (mean, SD, 5% / 95% quantiles and their
Monte Carlo standard errors) goes to ``tests/reference/poll_funnel/reference.json``.

``--compare`` fits the model at the defaults (4 chains x (1000 + 1000)) with and without the
warm start (``SamplerSettings(warm_start=...)``; without it is the engine as it was before
issue 19), one fresh process per fit, for several seeds, optionally beside CPU-bound
neighbours, and writes ``benchmarks/results/nuts_funnel.json``: wall seconds, divergences,
leapfrog steps per draw, minimum bulk / tail ESS over every parameter, maximum R-hat.

Usage::

    python benchmarks/funnel_reference.py            # data + reference (~15 min here)
    python benchmarks/funnel_reference.py --data     # the data only
    python benchmarks/funnel_reference.py --compare --seeds 1 2 3 [--neighbours 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "reference" / "poll_funnel"
FORMULA = (
    "y ~ black * female + v_prev + (1 | age) + (1 | edu) + (1 | age_edu) + (1 | state)"
    " + (1 | region)"
)
PRIORS = {"sd": "uniform(0, 100)"}


def poll_data(seed: int = 1, n: int = 10_000) -> pd.DataFrame:
    """Simulated poll: see the module docstring."""
    rng = np.random.default_rng(seed)
    n_state, n_region = 51, 5
    region_of = np.arange(n_state) % n_region
    v_prev = rng.normal(0, 1, n_state)
    size = rng.lognormal(0, 1.0, n_state)
    state = rng.choice(n_state, size=n, p=size / size.sum())
    age, edu = rng.integers(0, 4, n), rng.integers(0, 4, n)
    black = (rng.uniform(size=n) < 0.12).astype(int)
    female = (rng.uniform(size=n) < 0.52).astype(int)
    a_age, a_edu = rng.normal(0, 0.2, 4), rng.normal(0, 0.3, 4)
    a_age_edu = rng.normal(0, 0.15, (4, 4))
    a_state, a_region = rng.normal(0, 0.3, n_state), rng.normal(0, 0.25, n_region)
    eta = (
        0.4
        - 1.7 * black
        - 0.1 * female
        - 0.2 * black * female
        + 0.5 * v_prev[state]
        + a_age[age]
        + a_edu[edu]
        + a_age_edu[age, edu]
        + a_state[state]
        + a_region[region_of[state]]
    )
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame(
        {
            "y": y,
            "black": black,
            "female": female,
            "v_prev": v_prev[state].round(6),
            "age": [f"a{a}" for a in age],
            "edu": [f"e{e}" for e in edu],
            "age_edu": [f"a{a}e{e}" for a, e in zip(age, edu, strict=True)],
            "state": [f"s{s:02d}" for s in state],
            "region": [f"r{region_of[s]}" for s in state],
        }
    )


def quantile_mcse(draws: np.ndarray, prob: float) -> float:
    """ArviZ's Monte Carlo SE of a quantile of ``(chains, draws)`` draws (both ArviZ lines)."""
    import arviz as az

    return float(np.asarray(az.mcse(draws, method="quantile", prob=prob)))


def reference(data: pd.DataFrame, draws: int = 3000, warmup: int = 1000) -> dict:
    import multilevel as ml
    from multilevel.engines.nuts import NutsEngine
    from multilevel.engines.protocol import SamplerSettings
    from multilevel.fit import _spec
    from multilevel.results.fit import Fit

    spec = _spec(FORMULA, data, "bernoulli", PRIORS)
    settings = SamplerSettings(
        chains=4,
        draws=draws,
        warmup=warmup,
        seed=2026,
        progress=False,
        target_accept=0.99,
        warm_start=False,
        log_likelihood=False,
    )
    start = time.perf_counter()
    posterior = NutsEngine().fit(spec, settings)
    elapsed = time.perf_counter() - start
    fit = Fit(spec, posterior)
    summary = fit.summary()
    rows = {}
    for name in summary.index:
        row = summary.loc[name]
        keys = ("mean", "sd", "q5", "q95", "mcse_mean", "mcse_sd", "ess_bulk", "r_hat")
        rows[name] = {k: float(row[k]) for k in keys}
        if name.startswith(("b_", "sd_")):
            values = np.asarray(posterior.draws[name], dtype=float)
            rows[name]["mcse_q5"] = quantile_mcse(values, 0.05)
            rows[name]["mcse_q95"] = quantile_mcse(values, 0.95)
    stats = posterior.sample_stats
    return {
        "formula": FORMULA,
        "family": "bernoulli",
        "priors": PRIORS,
        "settings": {
            "chains": 4,
            "draws": draws,
            "warmup": warmup,
            "seed": 2026,
            "target_accept": 0.99,
            "warm_start": False,
        },
        "divergent": int(np.sum(stats["diverging"])),
        "seconds": round(elapsed, 1),
        "versions": {"multilevel": ml.__version__, "python": platform.python_version()},
        "summary": rows,
    }


def one_fit(warm: bool, seed: int) -> dict:
    """One fit at the defaults (run in a fresh process by ``--compare``)."""
    from multilevel.engines.nuts import NutsEngine
    from multilevel.engines.protocol import SamplerSettings
    from multilevel.fit import _spec
    from multilevel.results.fit import Fit

    data = pd.read_csv(OUT / "data.csv.gz")
    start = time.perf_counter()
    spec = _spec(FORMULA, data, "bernoulli", PRIORS)
    settings = SamplerSettings(seed=seed, progress=False, warm_start=warm)
    posterior = NutsEngine().fit(spec, settings)
    summary = Fit(spec, posterior).summary()
    wall = time.perf_counter() - start
    stats = posterior.sample_stats
    return {
        "warm_start": warm,
        "seed": seed,
        "wall_s": round(wall, 2),
        "timings": {k: round(float(v), 2) for k, v in posterior.timings.items()},
        "divergent": int(np.sum(stats["diverging"])),
        "steps_per_draw": float(np.mean(stats["n_steps"])),
        "min_ess_bulk": float(summary["ess_bulk"].min()),
        "argmin_ess_bulk": str(summary["ess_bulk"].idxmin()),
        "min_ess_tail": float(summary["ess_tail"].min()),
        "max_rhat": float(summary["r_hat"].max()),
        "parameterisation": posterior.settings.get("parameterisation", {}),
    }


def compare(seeds, neighbours: int) -> None:
    import contextlib
    import subprocess

    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(neighbours)
    ]
    runs = []
    with contextlib.ExitStack() as stack:
        for spinner in spinners:
            stack.callback(spinner.wait)
            stack.callback(spinner.kill)
        for seed in seeds:
            for warm in (True, False):
                code = (
                    "import json, sys; sys.path.insert(0, sys.argv[1]); "
                    "import funnel_reference as f; "
                    "print(json.dumps(f.one_fit(sys.argv[2] == '1', int(sys.argv[3]))))"
                )
                out = subprocess.run(
                    [sys.executable, "-c", code, str(Path(__file__).parent), str(int(warm)),
                     str(seed)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                run = json.loads(out.stdout.strip().splitlines()[-1])
                print(json.dumps({k: v for k, v in run.items() if k != "parameterisation"}))
                runs.append(run)
    import multilevel as ml

    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "neighbours": neighbours,
        "versions": {"multilevel": ml.__version__, "python": platform.python_version()},
        "command": " ".join(sys.argv),
        "runs": runs,
    }
    name = "nuts_funnel_busy.json" if neighbours else "nuts_funnel.json"
    (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(result, indent=1) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="store_true", help="write the data only")
    parser.add_argument("--compare", action="store_true", help="defaults, warm start or not")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--neighbours", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100 + 100 draws, to /tmp")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.seeds, args.neighbours)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    data = poll_data()
    data.to_csv(OUT / "data.csv.gz", index=False)
    if args.data:
        return
    data = pd.read_csv(OUT / "data.csv.gz")
    result = reference(data, 100, 100) if args.quick else reference(data)
    path = Path("/tmp/funnel_reference_quick.json") if args.quick else OUT / "reference.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['divergent']} divergent, {result['seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
