"""multilevel's NUTS engine against a hand-written NumPyro model and bambi (PyMC's NUTS, nutpie).

Same data, same priors (multilevel's data-scaled defaults made explicit and translated to each
peer), 4 chains x (1000 warmup + 1000 draws), on

- ``radon``: ``log_radon ~ floor + (floor | county)`` (919 rows, 85 counties);
- ``sleepstudy``: ``Reaction ~ Days + (Days | Subject)`` (180 rows, 18 subjects);

and their uncorrelated versions ``(x || g)`` (``<model>_uncor``), the only ones bambi fits.

Every (engine, model) case runs in a fresh process (``benchmarks/peers/worker.py``) with the
benchmark venv's python and fits twice: the first fit is **cold** (JIT / compilation
included), the second **warm** (same process, new seed; whatever the engine caches is reused).
Cases are interleaved (every round visits every case once, in a rotated order) so that machine
noise spreads over all engines. Scored by the minimum bulk and tail ESS (ArviZ) over all
parameters *including every group's deviations r* (and, separately, over the named parameters
alone), divided by the wall time of the fit call.

Needs a venv with bambi, pymc, nutpie, numpyro, jax, arviz and multilevel::

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install "matplotlib<3.11" bambi pymc nutpie numpyro jax arviz
    /work/bench-venv/bin/pip install -e .

(``--setup`` runs exactly that when the venv is missing; matplotlib 3.11 breaks the imports of
bambi / PyMC.) Usage::

    python3 benchmarks/nuts_vs_peers.py                       # everything, 1 round
    python3 benchmarks/nuts_vs_peers.py --rounds 3 --models sleepstudy
    python3 benchmarks/nuts_vs_peers.py --quick               # 200 + 200 iterations, smoke test
    python3 benchmarks/nuts_vs_peers.py --src /tmp/snap/src   # benchmark an exported commit

Results: a table on stdout, ``benchmarks/results/nuts_vs_peers.json`` (rewritten after every case).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "peers" / "worker.py"
PACKAGES = ["matplotlib<3.11", "bambi", "pymc", "nutpie", "numpyro", "jax", "arviz"]

# engine -> (models it runs, worker options). Both hand-written NumPyro variants run the same
# non-centred model with parallel chains on 4 XLA host devices: "numpyro" through
# numpyro.infer.MCMC (what a user writes), "numpyro_scan" through our own compiled loop over
# NumPyro's NUTS kernel (peers/numpyro_driver.py), see docs/decisions.md.
ENGINES = {
    "multilevel": {"models": ["{m}", "{m}_uncor"], "options": {}},
    "numpyro": {"models": ["{m}"], "options": {"chain_method": "parallel"}},
    "numpyro_scan": {
        "models": ["{m}", "{m}_uncor"],
        "options": {"chain_method": "parallel", "init_intercept": True},
    },
    "bambi_pymc": {"models": ["{m}_uncor"], "options": {}},
    "bambi_nutpie": {"models": ["{m}_uncor"], "options": {}},
}


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--venv", type=Path, default=Path("/work/bench-venv"))
    p.add_argument("--setup", action="store_true", help="create the venv if it is missing")
    p.add_argument(
        "--models",
        nargs="+",
        default=["sleepstudy", "radon"],
        choices=["sleepstudy", "radon", "bernoulli"],
    )
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    p.add_argument(
        "--only-correlated",
        action="store_true",
        help="skip the (x || g) cases of multilevel and NumPyro",
    )
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--fits", type=int, default=2, help="fits per process (1 cold + warm ones)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--quick", action="store_true", help="200 warmup + 200 draws")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--src",
        type=Path,
        default=None,
        help="put this multilevel source folder first on PYTHONPATH",
    )
    p.add_argument(
        "--options",
        default="{}",
        help="JSON {engine: {option: value}} merged into the engines' options",
    )
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--out", type=Path, default=HERE / "results" / "nuts_vs_peers.json")
    p.add_argument(
        "--append",
        action="store_true",
        help="add this run's cases (as later rounds) to the results already in --out",
    )
    a = p.parse_args()
    if a.quick:
        a.draws = a.warmup = 200
    return a


def _run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def ensure_venv(venv: Path, setup: bool) -> Path:
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import bambi, pymc, nutpie, numpyro, jax, arviz, multilevel"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    if not setup:
        sys.exit(
            f"the benchmark venv {venv} is missing or incomplete: rerun with --setup, or\n"
            f"  python3 -m venv {venv}\n"
            f"  {py} -m pip install {' '.join(shlex.quote(x) for x in PACKAGES)}\n"
            f"  {py} -m pip install -e {ROOT}"
        )
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", *PACKAGES], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-e", str(ROOT)], check=True)
    subprocess.run(check, check=True)
    return py


def machine() -> dict:
    out = {"platform": platform.platform(), "nproc": os.cpu_count()}
    try:
        lscpu = _run(["lscpu"])
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor"):
                out[k.strip()] = v.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        with open("/proc/meminfo") as f:
            out["MemTotal"] = f.readline().split(":")[1].strip()
    except OSError:
        pass
    return out


def git_info() -> dict:
    try:
        return {
            "commit": _run(["git", "rev-parse", "HEAD"], cwd=ROOT),
            "subject": _run(["git", "log", "-1", "--format=%s"], cwd=ROOT),
            "dirty_src": bool(_run(["git", "status", "--porcelain", "src"], cwd=ROOT)),
        }
    except (OSError, subprocess.CalledProcessError):
        return {}


def src_hash(src: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(src.rglob("*.py")):
        h.update(str(f.relative_to(src)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cases(args) -> list[tuple[str, str]]:
    out = []
    for m in args.models:
        for e in args.engines:
            for pattern in ENGINES[e]["models"]:
                model = pattern.format(m=m)
                if (
                    args.only_correlated
                    and e != "bambi_pymc"
                    and e != "bambi_nutpie"
                    and "_uncor" in model
                ):
                    continue
                out.append((e, model))
    return out


def run_case(py, engine, model, args, seed, extra_opts, env):
    opts = {**ENGINES[engine]["options"], **extra_opts.get(engine, {})}
    cmd = [
        str(py),
        str(WORKER),
        "--engine",
        engine,
        "--model",
        model,
        "--fits",
        str(args.fits),
        "--chains",
        str(args.chains),
        "--draws",
        str(args.draws),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(seed),
        "--options",
        json.dumps(opts),
    ]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, text=True, capture_output=True, env=env, timeout=args.timeout, cwd=ROOT
    )
    wall = time.perf_counter() - start
    for line in proc.stderr.splitlines():
        if line.startswith("# "):
            print(line, flush=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {
            "engine": engine,
            "model": model,
            "options": opts,
            "ok": False,
            "error": proc.stderr[-3000:],
            "process_s": wall,
        }
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(ok=True, process_s=wall, command=shlex.join(cmd))
    return res


def table(results: list[dict]) -> str:
    """Median over rounds per (model, engine); ratios to multilevel on the same model."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        if r.get("ok"):
            groups.setdefault((r["model"], r["engine"]), []).append(r)

    def med(rs, kind, key):
        vals = [f[key] for r in rs for f in r["fits"] if f["kind"] == kind]
        return statistics.median(vals) if vals else float("nan")

    rows = [
        "| model | engine | runs | cold s | warm s | min ESS bulk / tail (all) | "
        "ESS/s cold | ESS/s warm | warm ESS/s vs multilevel | warm CPU s | "
        "ESS/CPU-s warm | steps/draw |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    models = sorted({m for m, _ in groups}, key=lambda m: (m.removesuffix("_uncor"), m))
    for m in models:
        base = groups.get((m, "multilevel"))
        base_rate = med(base, "warm", "ess_per_s_bulk_all") if base else float("nan")
        for e in ENGINES:
            rs = groups.get((m, e))
            if not rs:
                continue
            warm_rate = med(rs, "warm", "ess_per_s_bulk_all")
            steps = [
                f.get("mean_tree_size")
                for r in rs
                for f in r["fits"]
                if f.get("mean_tree_size") is not None
            ]
            rows.append(
                f"| {m} | {e} | {len(rs)} | {med(rs, 'cold', 'wall_s'):.1f} | "
                f"{med(rs, 'warm', 'wall_s'):.1f} | "
                f"{med(rs, 'warm', 'min_ess_bulk_all'):.0f} / "
                f"{med(rs, 'warm', 'min_ess_tail_all'):.0f} | "
                f"{med(rs, 'cold', 'ess_per_s_bulk_all'):.1f} | {warm_rate:.1f} | "
                f"{warm_rate / base_rate:.2f}x | {med(rs, 'warm', 'cpu_s'):.1f} | "
                f"{med(rs, 'warm', 'ess_per_cpu_s_bulk_all'):.1f} | "
                f"{statistics.median(steps) if steps else float('nan'):.1f} |"
            )
    return "\n".join(rows)


def main():
    args = _parse()
    py = ensure_venv(args.venv, args.setup)
    env = dict(os.environ)
    src = args.src or ROOT / "src"
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    env.pop("XLA_FLAGS", None)
    extra = json.loads(args.options)
    meta = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine(),
        "git": git_info(),
        "src": str(src),
        "src_sha256": src_hash(src),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    todo = cases(args)
    results = []
    first_round = 0
    if args.append and args.out.exists():
        old = json.loads(args.out.read_text())
        results = old["results"]
        meta = {**meta, "earlier_runs": old["meta"].get("earlier_runs", []) + [old["meta"]]}
        first_round = 1 + max((r.get("round", 0) for r in results), default=-1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for rnd in range(first_round, first_round + args.rounds):
        k = rnd % len(todo)
        order = todo[k:] + todo[:k]  # rotate so no engine always runs first / last
        for engine, model in order:
            res = run_case(py, engine, model, args, args.seed + 100 * rnd, extra, env)
            res["round"] = rnd
            results.append(res)
            meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
            args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print()
    print(table(results))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
