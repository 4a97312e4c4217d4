"""JAX's persistent compilation cache across processes (:mod:`multilevel.engines._compile_cache`).

Each fit runs in a fresh process with its own cache folder (``MULTILEVEL_CACHE``): a second
process fitting the same model loads every program from the cache and draws exactly what the
first drew; a process fitting the permuted-shapes data (same array shapes, other term
offsets: tests/engines/gaussian/test_compiled_cache.py) compiles its own programs and draws
exactly what a process without a cache draws; two processes writing an empty cache at once
both finish, and a third then compiles nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multilevel import user_cache
from multilevel.engines import _compile_cache

HERE = Path(__file__).parent
# a process's fit: posterior means, and the programs loaded from the cache and compiled
SCRIPT = """
import json, sys, warnings
sys.path.insert(0, {gaussian!r})
import numpy as np
import multilevel as ml
import test_compiled_cache as t
from multilevel.engines import _compile_cache
case = sys.argv[1]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if case == "nuts":
        data = ml.datasets.load("sleepstudy")
        fit = ml.fit("Reaction ~ Days + (1 | Subject)", data, method="nuts", seed=3, chains=2,
                     draws=150, warmup=150, progress=False)
    else:
        data = t.permuted(*(t.FIRST if case == "first" else t.SECOND))
        fit = ml.fit(t.FORMULA, data, **t.SETTINGS)
means = {{n: float(np.mean(fit.posterior.draws[n])) for n in fit.spec.parameter_names}}
loaded, compiled = _compile_cache.counts()
print(json.dumps({{"means": means, "loaded": loaded, "compiled": compiled,
                  "folder": str(_compile_cache.enabled_folder()),
                  "timings": dict(fit.posterior.timings)}}))
"""


def _env(cache: Path, **extra) -> dict:
    env = {**os.environ, "MULTILEVEL_CACHE": str(cache), **extra}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return env


def _start(case: str, cache: Path, **extra) -> subprocess.Popen:
    code = SCRIPT.format(gaussian=str(HERE / "gaussian"))
    return subprocess.Popen(
        [sys.executable, "-c", code, case],
        env=_env(cache, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "cache" not in err.lower(), err  # JAX warns when it cannot read or write an entry
    return json.loads(out.strip().splitlines()[-1])


def _fit(case: str, cache: Path, **extra) -> dict:
    return _result(_start(case, cache, **extra))


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "jax").rglob("*-cache"))


def test_a_second_process_loads_every_program_and_draws_the_same(tmp_path):
    first = _fit("first", tmp_path)
    assert first["compiled"] > 0  # (a program met twice in one process is loaded the 2nd time)
    assert first["folder"].startswith(str(tmp_path / "jax"))
    written = _entries(tmp_path)
    assert len(written) == first["compiled"]
    second = _fit("first", tmp_path)
    assert second["compiled"] == 0 and second["loaded"] > 0
    assert second["means"] == first["means"]
    assert _entries(tmp_path) == written


def test_another_shape_misses_the_cache_and_draws_what_no_cache_draws(tmp_path):
    _fit("first", tmp_path / "shared")
    permuted = _fit("second", tmp_path / "shared")
    uncached = _fit("second", tmp_path / "off", MULTILEVEL_JAX_CACHE="0")
    assert permuted["compiled"] > 0  # the programs that read the term offsets are new
    assert permuted["means"] == uncached["means"]
    assert uncached["loaded"] == uncached["compiled"] == 0
    assert uncached["folder"] == "None" and not (tmp_path / "off" / "jax").exists()
    # and they recover the second data set's scales, not the first's
    assert permuted["means"]["sd_b__Intercept"] > 1.5
    assert permuted["means"]["sd_c__Intercept"] < 0.8


@pytest.mark.slow
def test_two_processes_writing_an_empty_cache_at_once(tmp_path):
    runs = [_start("first", tmp_path) for _ in range(2)]
    results = [_result(run) for run in runs]
    assert results[0]["means"] == results[1]["means"]
    after = _fit("first", tmp_path)
    assert after["compiled"] == 0 and after["means"] == results[0]["means"]


def test_nuts_programs_with_progress_callbacks_come_from_the_cache(tmp_path):
    first = _fit("nuts", tmp_path)
    second = _fit("nuts", tmp_path)
    assert first["compiled"] > 0
    assert second["compiled"] == 0 and second["loaded"] > 0
    assert second["means"] == first["means"]
    # the sampler's compile time (until its loop first reports) is timed apart (how much
    # shorter it is from the cache is the benchmark's to say: benchmarks/cli)
    for run in (first, second):
        assert {"compile", "warmup_and_sampling"} <= set(run["timings"])
        assert run["timings"]["compile"] > 0 and run["timings"]["warmup_and_sampling"] > 0


def test_a_size_bound_that_is_not_a_number_is_refused(monkeypatch):
    from multilevel.errors import EngineError

    monkeypatch.setenv(_compile_cache.ENV_SIZE, "1GB")
    with pytest.raises(EngineError, match="MULTILEVEL_JAX_CACHE_MB='1GB' is not a number"):
        _compile_cache._size_bytes()
    monkeypatch.setenv(_compile_cache.ENV_SIZE, "2.5")
    assert _compile_cache._size_bytes() == int(2.5 * (1 << 20))


def test_the_cache_folder_follows_the_environment_and_clears(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTILEVEL_CACHE", str(tmp_path))
    assert user_cache.root() == tmp_path
    assert _compile_cache.host_folder().parent == tmp_path / "jax"
    entry = _compile_cache.host_folder() / "jit_f-0123-cache"
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"x" * 100)
    assert user_cache.usage()["jax"]["bytes"] == 100
    assert user_cache.clear(["jax"]) == 100
    assert not (tmp_path / "jax").exists()
    with pytest.raises(ValueError, match="no cache kind 'numba'"):
        user_cache.folder("numba")
