"""The command line as users run it: ``multilevel fit DATA FORMULA --out RUN_DIR`` timed in a
fresh process, wall clock around the whole command (interpreter start, imports, reading the
data, compiling, sampling, writing the run folder), with an empty and then a warm cache.

Run from the repository root with the package installed:

    python benchmarks/cli/cold_start.py                                   # 3 repeats, 4 cases
    python benchmarks/cli/cold_start.py --repeats 1 --cases radon,cbpp    # a few minutes
    git -C . worktree add /tmp/baseline-a77a400 a77a400                   # the code before
    python benchmarks/cli/cold_start.py --baseline-src /tmp/baseline-a77a400/src
    python benchmarks/cli/cold_start.py --neighbours 2 --baseline-src /tmp/baseline-a77a400/src

Cases (bundled data, ``--seed 1 --no-progress``, 4 chains x (1000 warmup + 1000 draws)):
``radon`` (``log_radon ~ floor + log_uppm + (1 | county)``, exact gaussian engine),
``sleepstudy`` (``Reaction ~ Days + (Days | Subject)``, exact), ``cbpp`` (``incidence |
trials(size) ~ period + (1 | herd)``, binomial, ``--method nuts``) and ``eight_schools``
(``y | se(sigma) ~ 1 + (1 | school)``, conjugate). The engine each run used is read from the
command's output and recorded.

Per case and repeat, each in a new process:

- ``baseline``: with ``--baseline-src PATH`` (the ``src`` folder of an older checkout), the
  same command with ``PYTHONPATH=PATH``, with an empty cache (the old code's first run);
- ``first``: the command with ``MULTILEVEL_CACHE`` a new empty folder;
- ``second``: the same command again with the same cache (new ``--out`` folder);
- ``warm``: one Python process fits the model twice with ``multilevel.fit`` (same settings, no
  run folder); the second fit's time is the in-process floor a cache can approach.

Goals: NUTS, second run <= 2 x warm in-process + 1 s; exact and conjugate, second run <= 2 s;
first run no slower than the baseline's (within ``--tolerance``, 10%). Medians over
``--repeats`` (each first run with its own empty cache); every value is kept.

Every run folder's ``run.json`` timings (``read_data``, ``fit``, ``engine_*``), the ``files``
time the command prints, and the rest of the wall clock (``other_s``: interpreter start,
imports and what the command does around the fit) are recorded, with the process's CPU seconds
and the size of the cache after the run. The commands get one BLAS thread
(``OMP/OPENBLAS/MKL/VECLIB/NUMEXPR_NUM_THREADS=1``: the data are small, and BLAS threads beside
XLA's and beside busy neighbours only spin) and no ``XLA_FLAGS`` or ``JAX_*`` cache settings
(XLA's own thread pool, as a user gets it); ``--user-env`` leaves the environment as it is.
``MULTILEVEL_JAX_CACHE`` and ``MULTILEVEL_JAX_CACHE_MB`` are removed (``--env
MULTILEVEL_JAX_CACHE=0`` sets one again, say).
``--neighbours N`` keeps N CPU-bound processes spinning throughout. Writes
``benchmarks/cli/results/cold_start.json`` (``cold_start_busy.json`` with neighbours): machine,
versions, git commit, source hashes, command line, environment and every run; rewritten after
every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT / "src" / "multilevel" / "datasets" / "data"
sys.path.insert(0, str(HERE.parent))
from gaussian_vs_peers import busy_neighbours, git_info, machine  # noqa: E402

CHAINS, DRAWS, WARMUP, SEED = 4, 1000, 1000, 1

#: name -> (data file, formula, family, method, expected engine)
CASES = {
    "radon": ("radon.csv", "log_radon ~ floor + log_uppm + (1 | county)", None, None, "exact"),
    "sleepstudy": ("sleepstudy.csv", "Reaction ~ Days + (Days | Subject)", None, None, "exact"),
    "cbpp": (
        "cbpp.csv",
        "incidence | trials(size) ~ period + (1 | herd)",
        "binomial",
        "nuts",
        "nuts",
    ),
    "eight_schools": (
        "eight_schools.csv",
        "y | se(sigma) ~ 1 + (1 | school)",
        None,
        None,
        "conjugate",
    ),
}

#: One BLAS thread for the commands (see the module docstring).
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
#: Removed from the commands' environment: settings that would change what is cached or how.
DROPPED = (
    "XLA_FLAGS",
    "JAX_COMPILATION_CACHE_DIR",
    "JAX_ENABLE_COMPILATION_CACHE",
    "MULTILEVEL_JAX_CACHE",
    "MULTILEVEL_JAX_CACHE_MB",
    "MULTILEVEL_CACHE",
)
RECORDED_ENV = (
    *THREAD_ENV,
    *DROPPED,
    "MULTILEVEL_BLAS_THREADS",
    "PYTHONPATH",
    "XDG_CACHE_HOME",
)
PACKAGES = ("multilevel", "numpy", "scipy", "pandas", "jax", "jaxlib", "numpyro", "arviz")


# ----------------------------------------------------------------------------- helpers
def cli_args(case: str, out: Path) -> list[str]:
    data, formula, family, method, _ = CASES[case]
    args = ["fit", str(DATA / data), formula, "--out", str(out)]
    if family:
        args += ["--family", family]
    if method:
        args += ["--method", method]
    return args + ["--seed", str(SEED), "--no-progress"]


def src_hash(src: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(src.rglob("*.py")):
        h.update(str(f.relative_to(src)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def versions() -> dict:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def folder_size(path: Path) -> dict:
    files = [p for p in path.rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def with_src(env: dict, src: Path | None) -> dict:
    env = dict(env)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return env


def imported_from(env: dict) -> str:
    """Where ``import multilevel`` finds the package with ``env``."""
    code = "import multilevel, pathlib; print(pathlib.Path(multilevel.__file__).parent)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def load() -> float:
    return round(os.getloadavg()[0], 2)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ----------------------------------------------------------------------------- one run
def timed(command: list[str], env: dict, timeout: float):
    """Run ``command``: (the completed process or None on a timeout, wall s, CPU s)."""
    cpu0 = child_cpu()
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        done = None
    return done, time.perf_counter() - t0, child_cpu() - cpu0


def run_cli(case: str, env: dict, cache: Path, out: Path, timeout: float) -> dict:
    env = {**env, "MULTILEVEL_CACHE": str(cache)}
    command = [sys.executable, "-m", "multilevel.cli", *cli_args(case, out)]
    done, wall, cpu = timed(command, env, timeout)
    if done is None:
        return {"status": "timeout", "wall_s": wall}
    rec = {
        "status": "ok" if done.returncode == 0 else f"exit {done.returncode}",
        "wall_s": wall,
        "cpu_s": cpu,
        "cache": folder_size(cache),
    }
    if done.returncode != 0:
        rec["stderr_tail"] = done.stderr[-3000:]
        return rec
    engine = re.search(r"^\s*engine: (\S+)", done.stdout, re.MULTILINE)
    rec["engine"] = engine.group(1) if engine else None
    # "seed 1; fit 4.8 s (31 programs compiled, 2 loaded from the cache), files 3.0 s"
    line = re.search(r"; fit [\d.]+ s(?: \((.*)\))?, files ([\d.]+) s", done.stdout)
    rec["files_s_printed"] = float(line.group(2)) if line else None
    rec["fit_note"] = line.group(1) if line else None
    try:
        log = json.loads((out / "run.json").read_text())
    except (OSError, ValueError) as err:
        rec["status"] = f"no run.json: {err}"
        return rec
    rec["timings"] = log.get("timings", {})
    if "compiled_programs" in log:  # the compilation cache's counts, where the run has them
        rec["compiled_programs"] = log["compiled_programs"]
    rec["versions"] = {k: log.get("versions", {}).get(k) for k in ("multilevel", "jax")}
    known = rec["timings"].get("read_data", 0.0) + rec["timings"].get("fit", 0.0)
    rec["other_s"] = wall - known - (rec["files_s_printed"] or 0.0)
    if done.stderr.strip():
        rec["stderr_tail"] = done.stderr[-1500:]
    return rec


def run_warm(case: str, env: dict, cache: Path, timeout: float) -> dict:
    """Two ``multilevel.fit`` calls in one new process (``--worker``)."""
    env = {**env, "MULTILEVEL_CACHE": str(cache)}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", case]
    done, wall, cpu = timed(command, env, timeout)
    if done is None:
        return {"status": "timeout", "wall_s": wall}
    rec = {"wall_s": wall, "cpu_s": cpu}
    if done.returncode != 0:
        return {**rec, "status": f"exit {done.returncode}", "stderr_tail": done.stderr[-3000:]}
    return {**rec, "status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def worker(case: str) -> None:
    """In this process: import, read, fit twice; one JSON line on stdout."""
    import warnings

    t0 = time.perf_counter()
    import multilevel as ml
    from multilevel.tables import read_table

    import_s = time.perf_counter() - t0
    data, formula, family, method, _ = CASES[case]
    frame = read_table(DATA / data)
    fits = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            fit = ml.fit(
                formula,
                frame,
                family=family or "gaussian",
                method=method or "auto",
                chains=CHAINS,
                draws=DRAWS,
                warmup=WARMUP,
                seed=SEED,
                progress=False,
            )
            wall = time.perf_counter() - t0
        engine = fit.posterior if hasattr(fit, "posterior") else fit.estimate
        fits.append({"fit_s": wall, "engine_timings": dict(getattr(engine, "timings", {}))})
    out = {
        "import_s": import_s,
        "engine": getattr(engine, "engine", None),
        "first_fit_s": fits[0]["fit_s"],
        "warm_fit_s": fits[1]["fit_s"],
        "fits": fits,
        "multilevel_path": str(Path(ml.__file__).parent),
    }
    print(json.dumps(out))


# ----------------------------------------------------------------------------- summary
def summarise(case: str, runs: list[dict], tolerance: float) -> dict:
    def values(kind, key="wall_s"):
        return [r.get(key) for r in runs if r["kind"] == kind and r["status"] == "ok"]

    s = {
        "baseline_first_s": values("baseline"),
        "first_s": values("first"),
        "second_s": values("second"),
        "warm_in_process_s": values("warm", "warm_fit_s"),
        "first_in_process_s": values("warm", "first_fit_s"),
    }
    med = {f"median_{k}": median(v) for k, v in s.items()}
    for part in ("fit", "read_data"):
        med[f"median_second_{part}_s"] = median(
            [r["timings"].get(part) for r in runs if r["kind"] == "second" and "timings" in r]
        )
    for part in ("files_s_printed", "other_s"):
        med[f"median_second_{part}"] = median(values("second", part))
    engines = {r.get("engine") for r in runs if r["kind"] in ("first", "second") and "engine" in r}
    engine = engines.pop() if len(engines) == 1 else (sorted(map(str, engines)) or None)
    second, warm = med["median_second_s"], med["median_warm_in_process_s"]
    if engine == "nuts":
        goal = "second <= 2 x warm + 1 s"
        limit = None if warm is None else 2 * warm + 1
    else:
        goal = "second <= 2 s"
        limit = 2.0
    met = None if second is None or limit is None else second <= limit
    first, base = med["median_first_s"], med["median_baseline_first_s"]
    ratio = None if first is None or not base else first / base
    return {
        "engine": engine,
        "expected_engine": CASES[case][4],
        **s,
        **med,
        "goal": goal,
        "goal_limit_s": limit,
        "goal_met": met,
        "first_over_baseline": ratio,
        "first_no_slower": None if ratio is None else ratio <= 1 + tolerance,
    }


def table(summary: dict) -> str:
    def f(v, fmt="{:.2f}"):
        return "-" if v is None else fmt.format(v)

    head = (
        f"{'case':<14} {'engine':<10} {'baseline 1st':>12} {'first':>7} {'1st/base':>8} "
        f"{'second':>7} {'(fit/files/other)':>17} {'warm in-proc':>12} {'goal':<26} {'met?':<5}"
    )
    lines = [head, "-" * len(head)]
    for case, s in summary.items():
        met = {True: "yes", False: "NO", None: "-"}[s["goal_met"]]
        keys = ("fit_s", "files_s_printed", "other_s")
        parts = "/".join(f(s[f"median_second_{k}"], "{:.1f}") for k in keys)
        lines.append(
            f"{case:<14} {str(s['engine']):<10} {f(s['median_baseline_first_s']):>12} "
            f"{f(s['median_first_s']):>7} {f(s['first_over_baseline'], '{:.2f}x'):>8} "
            f"{f(s['median_second_s']):>7} {parts:>17} {f(s['median_warm_in_process_s']):>12} "
            f"{s['goal'] + ' (' + f(s['goal_limit_s']) + ')':<26} {met:<5}"
        )
    lines.append(
        "medians in seconds: wall clock of the whole command; (fit/files/other): the second run's "
        "fit, files written and the rest (start, imports, ...); warm in-proc: a second "
        "multilevel.fit in one process"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated subset of {','.join(CASES)}",
    )
    p.add_argument("--neighbours", type=int, default=0, help="CPU-bound processes beside the runs")
    p.add_argument(
        "--baseline-src",
        type=Path,
        help="the src folder of an older checkout: its first runs (PYTHONPATH=PATH) are the "
        "baseline",
    )
    p.add_argument(
        "--src",
        type=Path,
        help="a src folder for the measured runs (default: the installed multilevel)",
    )
    p.add_argument("--tolerance", type=float, default=0.10, help="first run vs baseline")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    p.add_argument("--user-env", action="store_true", help="leave the thread settings alone")
    p.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="set in every run"
    )
    p.add_argument("--no-warm", action="store_true", help="skip the in-process fits")
    p.add_argument("--keep", action="store_true", help="keep the run folders and caches")
    p.add_argument("--out", type=Path)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(args.cases) - set(CASES)
    if unknown:
        p.error(f"unknown cases {sorted(unknown)}; known: {', '.join(CASES)}")
    if args.out is None:
        name = "cold_start_busy.json" if args.neighbours else "cold_start.json"
        args.out = HERE / "results" / name
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.worker:
        worker(args.worker)
        return
    env = dict(os.environ)
    for key in DROPPED:
        env.pop(key, None)
    if not args.user_env:
        env.update(THREAD_ENV)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    current_env = with_src(env, args.src and args.src.resolve())
    current_src = Path(imported_from(current_env))
    sources = {"current": {"path": str(current_src), "src_sha256": src_hash(current_src)}}
    baseline_env = None
    if args.baseline_src:
        baseline = args.baseline_src.resolve()
        baseline_env = with_src(env, baseline)
        found = Path(imported_from(baseline_env))
        if not found.is_relative_to(baseline):
            raise SystemExit(f"with PYTHONPATH={baseline}, multilevel imports from {found}")
        commit = subprocess.run(
            ["git", "-C", str(baseline), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        sources["baseline"] = {
            "path": str(found),
            "src_sha256": src_hash(found),
            "commit": commit or None,
        }

    work = Path(tempfile.mkdtemp(prefix="ml_cold_start_"))
    meta = {
        "benchmark": "cli cold start",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine(),
        "versions": versions(),
        "git": git_info(),
        "sources": sources,
        "neighbours": args.neighbours,
        "repeats": args.repeats,
        "tolerance": args.tolerance,
        "settings": {"chains": CHAINS, "draws": DRAWS, "warmup": WARMUP, "seed": SEED},
        "env": {k: env.get(k) for k in RECORDED_ENV},
        "commands": {
            case: "multilevel " + shlex.join(cli_args(case, Path("RUN_DIR"))) for case in args.cases
        },
    }
    runs: list[dict] = []

    def save(final=False):
        summary = {
            c: summarise(c, [r for r in runs if r["case"] == c], args.tolerance) for c in args.cases
        }
        if final:
            meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
            meta["loadavg_at_end"] = list(os.getloadavg())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"meta": meta, "summary": summary, "runs": runs}
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        return summary

    def record(case, repeat, kind, rec):
        rec = {"case": case, "repeat": repeat, "kind": kind, "loadavg_1min_after": load(), **rec}
        runs.append(rec)
        wall = rec.get("warm_fit_s", rec.get("wall_s"))
        print(
            f"[{datetime.now(UTC):%H:%M:%S}] {case:<13} #{repeat} {kind:<8} "
            f"{wall:7.2f} s  {rec['status']}  (load {rec['loadavg_1min_after']:.1f})",
            file=sys.stderr,
            flush=True,
        )
        if rec["status"] != "ok" and rec.get("stderr_tail"):
            print(rec["stderr_tail"], file=sys.stderr)
        save()

    started = time.perf_counter()
    try:
        with busy_neighbours(args.neighbours):
            for repeat in range(args.repeats):
                for case in args.cases:
                    folder = work / f"{case}_{repeat}"
                    if baseline_env is not None:
                        cache = folder / "cache_baseline"
                        cache.mkdir(parents=True)
                        rec = run_cli(case, baseline_env, cache, folder / "run_b", args.timeout)
                        record(case, repeat, "baseline", rec)
                    cache = folder / "cache"
                    cache.mkdir(parents=True)
                    for kind in ("first", "second"):
                        out = folder / f"run_{kind}"
                        rec = run_cli(case, current_env, cache, out, args.timeout)
                        record(case, repeat, kind, rec)
                    if not args.no_warm:
                        cache = folder / "cache_warm"
                        cache.mkdir(parents=True)
                        rec = run_warm(case, current_env, cache, args.timeout)
                        record(case, repeat, "warm", rec)
                    if not args.keep:
                        shutil.rmtree(folder, ignore_errors=True)
    finally:
        meta["total_s"] = time.perf_counter() - started
        summary = save(final=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"run folders and caches kept in {work}", file=sys.stderr)
    print(table(summary))
    print(f"\n{meta['total_s']:.0f} s in all; wrote {args.out}")


if __name__ == "__main__":
    main()
