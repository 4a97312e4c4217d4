"""Run multilevel's factor models (ours.py) and the peers (myFM, cornac PMF, hpfrec, implicit
ALS) on the same data in one run, one process per case.

Environment (Python 3.13, all peers have wheels or build from source there)::

    /tmp/venvs/py3.13/bin/python -m venv /work/bench-fm-venv
    /work/bench-fm-venv/bin/pip install --upgrade pip
    /work/bench-fm-venv/bin/pip install numpy scipy pandas pyarrow myfm cornac hpfrec implicit
    /work/bench-fm-venv/bin/pip install -e .     # multilevel itself, from the repository root

(hpfrec has no wheel: pip builds it from the sdist.) MovieLens 100k is read from the RecBole
wheel, ``pip download --no-deps recbole``, cached under ``~/.cache/multilevel-bench`` (see
movielens.py; never inside the repository).

Usage (from the repository root)::

    PY=/work/bench-fm-venv/bin/python
    $PY benchmarks/factorization/run_peers.py movielens
    $PY benchmarks/factorization/run_peers.py scale --users 100000 --items 10000 --nnz 5000000
    $PY benchmarks/factorization/run_peers.py scale --users 1000000 --items 100000 --nnz 50000000

``movielens``: seeded 80/20 split (test rows of unseen users / items dropped); myFM rank 10,
200 Gibbs sweeps (without and with user / movie side features), cornac PMF (RMSE); hpfrec HPF
k = 10 and implicit ALS with 10 and 100 factors (recall / NDCG @ 20, train ratings as implicit
interactions). ``scale``: simulate.py data saved to the cache, then a few sweeps of myFM
(one-hot CSR and RelationBlock input) and hpfrec: seconds per sweep, peak memory, throughput.

Every case runs in a fresh subprocess with OMP / OPENBLAS / MKL_NUM_THREADS set to the core
count; the parent polls the resident memory of the case's process group and kills it above
``--mem-limit-gb`` or after ``--timeout`` seconds, recording that as the result. The JSON
(``benchmarks/results/factorization_peers_<what>.json``) is rewritten after every case; runs of
other sizes already in it are kept, and with ``--cases`` the other cases of the same run too.
Each case's stdout / stderr goes to ``--log-dir``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGES = [
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "myfm",
    "cornac",
    "hpfrec",
    "implicit",
    "threadpoolctl",
    "multilevel",
]
MOVIELENS_CASES = {
    "multilevel": ("ours:run_multilevel", {}),
    "multilevel_features": ("ours:run_multilevel", {"side": True}),
    "multilevel_implicit": ("ours:run_multilevel_implicit", {}),
    "myfm": ("run_myfm", {}),
    "myfm_features": ("run_myfm", {"side": True}),
    "cornac_pmf": ("run_cornac_pmf", {}),
    "hpfrec": ("run_hpfrec", {}),
    "implicit_als_f10": ("run_implicit_als", {"factors": 10}),
    "implicit_als_f100": ("run_implicit_als", {"factors": 100}),
}
SCALE_CASES = {
    "simulate": ("simulate", {}),
    "myfm_csr": ("scale_myfm", {"relational": False}),
    "myfm_relational": ("scale_myfm", {"relational": True}),
    "hpfrec": ("scale_hpfrec", {}),
    "multilevel": ("ours:scale_multilevel", {}),
    "multilevel_implicit": ("ours:scale_multilevel_implicit", {}),
}


# ----------------------------------------------------------------------------- worker side


def _movielens_case(spec: dict) -> dict:
    import peers
    from movielens import encode, load_movielens, side_features, split

    ratings, users, items = load_movielens()
    train_df, test_df = split(ratings, seed=spec["seed"])
    runner, kwargs = MOVIELENS_CASES[spec["case"]]
    if runner.startswith("ours:"):
        import ours

        run = getattr(ours, runner.split(":")[1])
        res = run(train_df, test_df, users, items, seed=spec["seed"], **kwargs)
        res.update(n_train=len(train_df), n_test=len(test_df))
        return res
    e = encode(train_df, test_df)
    train = (e["train_user"], e["train_item"], e["train_rating"])
    test = (e["test_user"], e["test_item"], e["test_rating"])
    kwargs = dict(kwargs)
    if kwargs.get("side"):
        kwargs["side"] = side_features(users, items, e["user_ids"], e["item_ids"])
    res = getattr(peers, runner)(train, test, len(e["user_ids"]), len(e["item_ids"]), **kwargs)
    res.update(
        n_train=len(train_df),
        n_test=len(test_df),
        n_test_dropped=test_df.attrs["n_dropped"],
        n_users=len(e["user_ids"]),
        n_items=len(e["item_ids"]),
    )
    return res


def _scale_case(spec: dict) -> dict:
    import peers
    from simulate import load_npz, save_npz, simulate

    path = Path(spec["data"])
    size = (spec["users"], spec["items"], spec["nnz"])
    if spec["case"] == "simulate":
        out: dict = {}
        with peers.measured(out):
            data = simulate(*size, seed=spec["seed"])
        out["peak_rss_mb"] = peers.peak_rss_mb()
        with peers.measured(out, "seconds_save"):
            save_npz(path, data)
        out.update(
            rows=int(data["user"].size),
            n_duplicates=int(data["n_duplicates"]),
            path=str(path),
            rating_var=float(data["rating"].var()),
        )
        return out
    data = load_npz(path)
    runner, kwargs = SCALE_CASES[spec["case"]]
    if runner.startswith("ours:"):
        import ours

        run = getattr(ours, runner.split(":")[1])
        res = run(data, sweeps=spec["sweeps"], seed=spec["seed"])
        res["nnz"] = int(data["user"].size)
        return res
    args = [data["user"], data["item"]]
    if runner == "scale_myfm":
        args.append(data["rating"])
    res = getattr(peers, runner)(
        *args, spec["users"], spec["items"], sweeps=spec["sweeps"], **kwargs
    )
    res["nnz"] = int(data["user"].size)
    return res


def worker(spec_json: str, result_path: str) -> None:
    """Run one case (in a fresh process) and write its result dict as JSON."""
    sys.path.insert(0, str(HERE))
    spec = json.loads(spec_json)
    res = _movielens_case(spec) if spec["what"] == "movielens" else _scale_case(spec)
    res["status"] = "ok"
    Path(result_path).write_text(json.dumps(res, default=float))


# ----------------------------------------------------------------------------- parent side


def _group_rss_mb(pgid: int) -> float:
    """Resident memory (MiB) summed over the processes of a process group."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def _busy_cpu_s() -> float:
    """CPU seconds all cores of the machine have spent busy (not idle / iowait) since boot."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _watch(proc, args, t0: float) -> tuple[float, str | None]:
    """Poll a case until it exits; kill its process group above the memory or time limit."""
    peak, why = 0.0, None
    while proc.poll() is None:
        time.sleep(0.5)
        peak = max(peak, _group_rss_mb(proc.pid))
        if peak > args.mem_limit_gb * 1024:
            why = f"killed: resident memory above {args.mem_limit_gb} GB"
        elif time.perf_counter() - t0 > args.timeout:
            why = f"killed: still running after {args.timeout} s"
        if why:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return peak, why


def _run_case(spec: dict, args, env: dict) -> dict:
    """Run one case in a subprocess, watching memory and time; return its result.

    Besides the case's own result this records the case process's wall and CPU seconds and
    ``other_busy_cores``: the mean number of cores that other processes kept busy meanwhile
    (machine busy CPU time minus the case's, over wall time), a contamination check.
    """
    stem = Path(args.log_dir) / f"{spec['label']}_{spec['case']}"
    result_path, log_path = stem.with_suffix(".json"), stem.with_suffix(".log")
    result_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "_worker", json.dumps(spec)]
    t0, busy0, cpu0 = time.perf_counter(), _busy_cpu_s(), _children_cpu_s()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*cmd, str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        peak, why = _watch(proc, args, t0)
    wall, cpu = time.perf_counter() - t0, _children_cpu_s() - cpu0
    base = {
        "process_wall_s": wall,
        "process_cpu_s": cpu,
        "other_busy_cores": (_busy_cpu_s() - busy0 - cpu) / wall,
        "loadavg_1min_end": os.getloadavg()[0],
        "process_peak_rss_mb_polled": peak,
        "log": str(log_path),
    }
    if why:
        return {"status": why, **base}
    if proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        return {"status": f"failed: exit code {proc.returncode}", "log_tail": tail, **base}
    return {**json.loads(result_path.read_text()), **base}


def _machine() -> dict:
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    return {
        "platform": platform.platform(),
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
    }


def _versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _load(out: Path) -> dict:
    if out.exists():
        return json.loads(out.read_text())
    return {"runs": {}}


def _write(out: Path, doc: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    tmp.replace(out)


def _cases(args) -> tuple[str, dict, list[str]]:
    if args.what == "movielens":
        names = args.cases or list(MOVIELENS_CASES)
        label = f"movielens_seed{args.seed}"
        return label, {"label": label, "seed": args.seed}, names
    size = {"users": args.users, "items": args.items, "nnz": args.nnz}
    label = f"{args.users}x{args.items}x{args.nnz}_seed{args.seed}"
    data = Path(args.cache_dir) / f"sim_{label}.npz"
    spec = {"label": label, "seed": args.seed, "sweeps": args.sweeps, "data": str(data), **size}
    return label, spec, args.cases or list(SCALE_CASES)


def _summary(name: str, res: dict) -> str:
    keys = [
        "status",
        "other_busy_cores",
        "rmse",
        "coverage90",
        "recall20",
        "ndcg20",
        "seconds",
        "seconds_per_sweep",
        "peak_rss_mb",
        "throughput_nnz_per_s_per_core",
    ]
    vals = [
        f"{k}={res[k]:.4g}" if isinstance(res.get(k), float) else f"{k}={res.get(k)}"
        for k in keys
        if res.get(k) is not None
    ]
    return f"{name}: " + " ".join(vals)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["movielens", "scale"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    p.add_argument("--cases", nargs="*", help="subset of the cases (default: all)")
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--nnz", type=int, default=5_000_000)
    p.add_argument("--sweeps", type=int, default=5)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--mem-limit-gb", type=float, default=18.0)
    p.add_argument("--log-dir", default="/tmp/factorization_peers_logs")
    p.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "multilevel-bench"))
    args = p.parse_args(argv)
    out = args.out or ROOT / "benchmarks" / "results" / f"factorization_peers_{args.what}.json"
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    threads = str(os.cpu_count())
    env = {
        **os.environ,
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    label, spec, names = _cases(args)
    old = _load(out)
    doc = dict(
        benchmark="factorization peers",
        machine=_machine(),
        python=platform.python_version(),
        executable=sys.executable,
        packages=_versions(),
        thread_env={
            k: env[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
    )
    command = " ".join([sys.executable, *sys.argv])
    date = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    kept = old["runs"].get(label, {}).get("cases", {}) if args.cases else {}
    run = {"command": command, "date": date, "what": args.what, **spec, "cases": dict(kept)}
    doc["runs"] = {**old["runs"], label: run}
    for name in names:
        res = _run_case({"what": args.what, "case": name, **spec}, args, env)
        res.update(command=command, date=date)
        run["cases"][name] = res
        _write(out, doc)
        print(_summary(name, res), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
