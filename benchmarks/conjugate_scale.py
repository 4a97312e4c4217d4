"""Scale benchmark of the exact conjugate engine (``multilevel.fit_conjugate``).

For every conjugate chain and every number of groups G, simulate one row per group from the
model (fixed seed), then time ``fit = ml.fit_conjugate(...)`` and ``fit.groups()`` separately
for ``hyper="bayes"`` and ``hyper="eb"``. "All group posteriors" = fit + groups().

Each case runs in a FRESH subprocess so that memory high-water marks do not contaminate each
other. Inside the worker, ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is read after the
imports, after the data are built (generated in chunks so generation temporaries stay
small), after the fit and after ``groups()``. The parent enforces a wall-clock limit and a
resident-memory limit per case and records a time-out / memory kill instead of skipping.

Usage::

    python benchmarks/conjugate_scale.py                       # all chains, 1e5 1e6 1e7
    python benchmarks/conjugate_scale.py --quick               # 1e3 1e4, fast smoke run
    python benchmarks/conjugate_scale.py --chains binomial --sizes 1e7 --hyper bayes
    python benchmarks/conjugate_scale.py --profile --chains poisson --sizes 1e6

Results: a markdown table on stdout and ``benchmarks/results/conjugate_scale.json``
(``--out`` to change; runs with ``--merge`` update an existing JSON file case by case).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHAINS = ("normal_known", "normal", "binomial", "poisson", "gamma")
SIZES = (100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (1_000, 10_000)
CHUNK = 1_000_000
SEED = 20240601

#: simulation truth of the hyperparameters, per chain
TRUTH = {
    "normal_known": {"mu": 1.0, "tau": 0.5},
    "normal": {"mu": 1.0, "tau": 0.5, "sigma": 2.0},
    "binomial": {"alpha": 2.0, "beta": 30.0},
    "poisson": {"alpha": 3.0, "beta": 2.0},
    "gamma": {"alpha": 4.0, "beta": 2.0},
}
GAMMA_SHAPE = 3.0


# ----------------------------------------------------------------------------- simulation
def simulate(chain: str, G: int, seed: int = SEED):
    """One row per group, drawn from the model; columns as numpy arrays (float64, int64 id).

    Drawn chunk by chunk into preallocated arrays so that the memory high-water mark after
    generation is close to the size of the data themselves.
    """
    import numpy as np

    t = TRUTH[chain]
    names = {
        "normal_known": ("y", "se"),
        "normal": ("y", "n", "sd"),
        "binomial": ("successes", "trials"),
        "poisson": ("counts", "exposure"),
        "gamma": ("y", "n"),
    }[chain]
    cols = {"g": np.arange(G, dtype=np.int64)}
    cols.update({k: np.empty(G) for k in names})
    rng = np.random.default_rng([seed, CHAINS.index(chain), G])
    for start in range(0, G, CHUNK):
        m = min(CHUNK, G - start)
        sl = slice(start, start + m)
        if chain == "normal_known":
            theta = rng.normal(t["mu"], t["tau"], m)
            se = rng.lognormal(np.log(0.5), 0.5, m)
            cols["se"][sl] = se
            cols["y"][sl] = rng.normal(theta, se)
        elif chain == "normal":
            n = 1 + rng.poisson(5, m)
            theta = rng.normal(t["mu"], t["tau"], m)
            sigma = t["sigma"]
            cols["n"][sl] = n
            cols["y"][sl] = rng.normal(theta, sigma / np.sqrt(n))
            dof = np.maximum(n - 1, 1)
            sd = sigma * np.sqrt(rng.chisquare(dof) / dof)
            cols["sd"][sl] = np.where(n > 1, sd, 0.0)
        elif chain == "binomial":
            trials = np.maximum(np.round(rng.lognormal(np.log(20), 1.2, m)), 1)
            p = rng.beta(t["alpha"], t["beta"], m)
            cols["trials"][sl] = trials
            cols["successes"][sl] = rng.binomial(trials.astype(np.int64), p)
        elif chain == "poisson":
            exposure = rng.lognormal(np.log(10), 1.0, m)
            rate = rng.gamma(t["alpha"], 1.0 / t["beta"], m)
            cols["exposure"][sl] = exposure
            cols["counts"][sl] = rng.poisson(rate * exposure)
        elif chain == "gamma":
            n = 1 + rng.poisson(5, m)
            rate = rng.gamma(t["alpha"], 1.0 / t["beta"], m)
            cols["n"][sl] = n
            # sum of n Gamma(k, rate) draws is Gamma(n k, rate); y is their mean
            cols["y"][sl] = rng.gamma(n * GAMMA_SHAPE, 1.0 / rate) / n
    return cols


def fit_arguments(chain: str) -> dict:
    return {
        "normal_known": {"likelihood": "normal", "y": "y", "se": "se"},
        "normal": {"likelihood": "normal", "y": "y", "n": "n", "sd": "sd"},
        "binomial": {"likelihood": "binomial", "successes": "successes", "trials": "trials"},
        "poisson": {"likelihood": "poisson", "counts": "counts", "exposure": "exposure"},
        "gamma": {"likelihood": "gamma", "y": "y", "shape": GAMMA_SHAPE, "n": "n"},
    }[chain]


def source_hash() -> str:
    """Short hash of the imported package's sources (the library changes under development)."""
    import hashlib

    import multilevel

    digest = hashlib.sha256()
    for path in sorted(Path(multilevel.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- worker
def _maxrss_bytes() -> int:
    # Linux reports kilobytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(chain: str, G: int, hyper: str, profile: str | None) -> dict:
    """Run one case in this (fresh) process; return a JSON-able record."""
    import gc
    import warnings

    load_start = os.getloadavg()[0]

    rss_start = _maxrss_bytes()
    import numpy as np
    import pandas as pd

    import multilevel as ml

    rss_imports = _maxrss_bytes()
    t0 = time.perf_counter()
    cols = simulate(chain, G)
    frame = pd.DataFrame(cols, copy=False)
    del cols
    gc.collect()
    t_sim = time.perf_counter() - t0
    data_bytes = int(frame.memory_usage(deep=True, index=True).sum())
    rss_data = _maxrss_bytes()
    rss_data_current = _rss_bytes()

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    caught = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c0, t0 = _cpu_seconds(), time.perf_counter()
        fit = ml.fit_conjugate(frame, group="g", hyper=hyper, **fit_arguments(chain))
        t_fit, c_fit = time.perf_counter() - t0, _cpu_seconds() - c0
        rss_fit = _maxrss_bytes()
        c0, t0 = _cpu_seconds(), time.perf_counter()
        table = fit.groups()
        t_groups, c_groups = time.perf_counter() - t0, _cpu_seconds() - c0
        caught = [f"{x.category.__name__}: {x.message}" for x in w]
    rss_groups = _maxrss_bytes()
    if profiler is not None:
        import pstats

        profiler.disable()
        profiler.dump_stats(profile)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)

    hyper_table = fit.hyper()
    truth = TRUTH[chain]
    recovery = {}
    for name, row in hyper_table.iterrows():
        z = (row["mean"] - truth[name]) / row["sd"] if row["sd"] > 0 else None
        recovery[name] = {
            "truth": truth[name],
            "mean": float(row["mean"]),
            "sd": float(row["sd"]),
            "q5": float(row["q5"]),
            "q95": float(row["q95"]),
            "z": None if z is None else float(z),
        }
    out_bytes = int(table.memory_usage(deep=True, index=True).sum())
    finite = bool(np.all(np.isfinite(table[["mean", "sd", "q5", "q50", "q95"]].to_numpy())))
    ordered = bool(np.all((table["q5"] <= table["q50"]) & (table["q50"] <= table["q95"])))
    grid = len(fit.hyper_posterior.weights)
    return {
        "status": "ok",
        "chain": chain,
        "groups": G,
        "hyper": hyper,
        "seconds_simulate": t_sim,
        "seconds_fit": t_fit,
        "seconds_groups": t_groups,
        "seconds_total": t_fit + t_groups,
        # CPU seconds of this process: well below the wall time means it waited for the CPU
        # (other processes on the machine), so the wall time overstates the library's cost
        "cpu_seconds_fit": c_fit,
        "cpu_seconds_groups": c_groups,
        "loadavg_1min_at_start": load_start,
        "grid_points": grid,
        "reason": fit.reason,
        "src_sha256": source_hash(),
        "warnings": caught,
        "data_bytes": data_bytes,
        "groups_table_bytes": out_bytes,
        "maxrss_start": rss_start,
        "maxrss_after_imports": rss_imports,
        "maxrss_after_data": rss_data,
        "rss_after_data": rss_data_current,
        "maxrss_after_fit": rss_fit,
        "maxrss_after_groups": rss_groups,
        "peak_bytes": rss_groups,
        "peak_over_data_bytes": rss_groups - rss_data,
        "fit_peak_over_data_bytes": rss_fit - rss_data,
        "table_finite": finite,
        "quantiles_ordered": ordered,
        "hyper_recovery": recovery,
    }


# ----------------------------------------------------------------------------- parent
def run_case(chain, G, hyper, *, timeout, mem_limit_gb, profile_dir=None) -> dict:
    """Run one case in a fresh interpreter, killing it on time-out or memory excess."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--chains",
        chain,
        "--sizes",
        str(G),
        "--hyper",
        hyper,
    ]
    if profile_dir:
        cmd += ["--profile-file", str(Path(profile_dir) / f"{chain}_{G}_{hyper}.prof")]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    limit = mem_limit_gb * 2**30
    peak_seen = 0
    killed = None
    while proc.poll() is None:
        time.sleep(0.1)
        try:
            with open(f"/proc/{proc.pid}/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (FileNotFoundError, ProcessLookupError):
            rss = 0
        peak_seen = max(peak_seen, rss)
        if rss > limit:
            killed = "memory"
            proc.kill()
        elif time.perf_counter() - start > timeout:
            killed = "timeout"
            proc.kill()
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - start
    base = {
        "chain": chain,
        "groups": G,
        "hyper": hyper,
        "wall_seconds": elapsed,
        "peak_rss_seen_by_parent": peak_seen,
    }
    if killed == "timeout":
        return {**base, "status": f"timeout after {timeout:.0f} s"}
    if killed == "memory":
        return {**base, "status": f"killed: resident memory above {mem_limit_gb} GB"}
    if proc.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or [""]
        return {
            **base,
            "status": f"failed (exit {proc.returncode}): {tail[0].strip()}",
            "stderr_tail": stderr.strip().splitlines()[-6:],
        }
    if profile_dir:
        (Path(profile_dir) / f"{chain}_{G}_{hyper}.txt").write_text(stderr)
    record = json.loads(stdout.strip().splitlines()[-1])
    return {**base, **record}


def _mb(x):
    x = x / 2**20
    return f"{x:,.1f}" if abs(x) < 10 else f"{x:,.0f}"


def _fmt_s(x):
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _gs(G) -> str:
    return f"1e{len(str(G)) - 1}" if str(G).strip("0") == "1" else f"{G:,}"


def markdown(records) -> str:
    lines = [
        "| chain | groups | hyper | fit s | groups() s | total s | grid pts | data MB "
        "| peak RSS MB | peak − (imports+data) MB | status |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        if r.get("status") != "ok":
            seen = r.get("peak_rss_seen_by_parent")
            seen = f"≥{_mb(seen)}" if seen else "–"
            lines.append(
                f"| {r['chain']} | {_gs(r['groups'])} | {r['hyper']} | – | – | – | – | – "
                f"| {seen} | – | {r['status']} |"
            )
            continue
        lines.append(
            f"| {r['chain']} | {_gs(r['groups'])} | {r['hyper']} | {_fmt_s(r['seconds_fit'])} "
            f"| {_fmt_s(r['seconds_groups'])} | **{_fmt_s(r['seconds_total'])}** "
            f"| {r['grid_points']} | {_mb(r['data_bytes'])} | {_mb(r['peak_bytes'])} "
            f"| {_mb(r['peak_over_data_bytes'])} | ok |"
        )
    return "\n".join(lines)


def recovery_markdown(records) -> str:
    lines = [
        "| chain | groups | hyper | parameter | truth | mean | sd | z = (mean − truth)/sd |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in records:
        if r.get("status") != "ok":
            continue
        for name, v in r["hyper_recovery"].items():
            z = "–" if v["z"] is None else f"{v['z']:+.2f}"
            lines.append(
                f"| {r['chain']} | {_gs(r['groups'])} | {r['hyper']} | {name} "
                f"| {v['truth']:g} | {v['mean']:.5g} | {v['sd']:.3g} | {z} |"
            )
    return "\n".join(lines)


def environment() -> dict:
    import numpy
    import pandas
    import scipy

    cpu = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
            ).stdout.strip()
            or "no commit"
        )
    except OSError:
        rev = "unknown"
    import multilevel

    return {
        "python": platform.python_version(),
        "multilevel_path": multilevel.__file__,
        "src_sha256": source_hash(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "git": rev,
        "ram_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
    }


def _size(text: str) -> int:
    return int(float(text))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chains", nargs="+", default=list(CHAINS), choices=CHAINS)
    p.add_argument("--sizes", nargs="+", type=_size, default=None)
    p.add_argument("--hyper", nargs="+", default=["bayes", "eb"], choices=["bayes", "eb"])
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per case (default 600)")
    p.add_argument("--mem-limit-gb", type=float, default=18.0, help="RSS limit per case")
    p.add_argument(
        "--no-skip",
        action="store_true",
        help="run a size even if a smaller one of the same case failed / timed out",
    )
    p.add_argument("--out", type=Path, default=HERE / "results" / "conjugate_scale.json")
    p.add_argument("--merge", action="store_true", help="update existing JSON results by case")
    p.add_argument(
        "--resume",
        action="store_true",
        help="like --merge, and skip cases the JSON file already has as ok",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="cProfile each case; .prof and .txt files in benchmarks/results/profiles",
    )
    p.add_argument("--profile-dir", type=Path, default=HERE / "results" / "profiles")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--profile-file", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)

    if args.worker:
        record = worker(args.chains[0], sizes[0], args.hyper[0], args.profile_file)
        print(json.dumps(record))
        return

    profile_dir = None
    if args.profile:
        profile_dir = args.profile_dir
        profile_dir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = []
    if (args.merge or args.resume) and args.out.exists():
        previous = json.loads(args.out.read_text()).get("cases", [])
    key = lambda r: (r["chain"], r["groups"], r["hyper"])  # noqa: E731
    done = {key(r) for r in previous if r.get("status") == "ok"} if args.resume else set()

    def save(records):
        new_keys = {key(r) for r in records}
        merged = [r for r in previous if key(r) not in new_keys] + records
        merged.sort(key=lambda r: (CHAINS.index(r["chain"]), r["groups"], r["hyper"] != "bayes"))
        payload = {"environment": environment(), "command": " ".join(sys.argv), "cases": merged}
        args.out.write_text(json.dumps(payload, indent=1))
        return merged

    records = []
    for chain in args.chains:
        for G in sorted(sizes):
            for hyper in args.hyper:
                if (chain, G, hyper) in done:
                    continue
                smaller = [
                    r
                    for r in records
                    if r["chain"] == chain
                    and r["hyper"] == hyper
                    and r["groups"] < G
                    and r["status"] != "ok"
                ]
                if smaller and not args.no_skip:
                    r = {
                        "chain": chain,
                        "groups": G,
                        "hyper": hyper,
                        "status": f"not run: {_gs(smaller[-1]['groups'])} groups already "
                        f"{smaller[-1]['status']}",
                    }
                else:
                    r = run_case(
                        chain,
                        G,
                        hyper,
                        timeout=args.timeout,
                        mem_limit_gb=args.mem_limit_gb,
                        profile_dir=profile_dir,
                    )
                records.append(r)
                if r["status"] == "ok":
                    print(
                        f"{chain:>12} G={G:.0e} {hyper:>5}: fit {r['seconds_fit']:.2f} s, "
                        f"groups {r['seconds_groups']:.2f} s, peak {_mb(r['peak_bytes'])} MB "
                        f"(data {_mb(r['data_bytes'])} MB)",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    print(
                        f"{chain:>12} G={G:.0e} {hyper:>5}: {r['status']}",
                        file=sys.stderr,
                        flush=True,
                    )
                save(records)  # after every case, so an interrupted run keeps what it measured
    merged = save(records)
    print(markdown(merged))
    print()
    print(recovery_markdown(merged))


if __name__ == "__main__":
    main()
