"""Running the simulations of a calibration: one simulate-and-fit step, in this process or
in worker processes.

Each step is a function of the run's :class:`Job` and the simulation's seeds only, so the
results do not depend on ``n_jobs`` or on the order the steps finish. A worker process is
started with the "spawn" method (JAX does not survive ``fork``), with one thread for BLAS and
XLA each (set in the environment it inherits, before it imports numpy or JAX), builds the
model once (:func:`_initialise`) and then runs steps.

A fit is the composition that :func:`multilevel.fit` makes (``select_engine`` then
``Engine.fit``), on the spec built once from the user's data with its response replaced by
the simulated one and its priors frozen (:mod:`._priors`); its convergence warnings are
silenced and its diagnostics recorded instead.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from multilevel.calibration._priors import check_simulable, fitting_spec
from multilevel.calibration._ranks import suggested_thin
from multilevel.calibration._simulate import effect_names, simulate_once
from multilevel.errors import ConvergenceWarning, DataWarning

__all__ = ["Job", "Context", "Outcome", "prepare", "run_serial", "run_parallel"]

#: Environment of a worker process: one thread each for BLAS and XLA.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


@dataclass(frozen=True)
class Job:
    """What every step needs: the model as the user gave it, the fitting options."""

    formula: object
    data: object
    family: object
    priors: Mapping | None
    dpars: object
    fit_priors: Mapping | None
    method: str
    chains: int
    draws: int
    warmup: int
    group_effects: int


@dataclass(frozen=True, eq=False)
class Context:
    """A job made ready in one process: the simulating and fitting specs, the engine, the
    ranked parameters."""

    job: Job
    spec: object
    fit_spec: object
    engine: object
    reason: str
    names: tuple[str, ...]
    effects: tuple[tuple[str, str, int, int], ...]


@dataclass(frozen=True, eq=False)
class Outcome:
    """One simulation: the true values of the ranked parameters, whether each posterior draw
    ``(chains, draws, P)`` lies below them (None when the fit failed), and diagnostics."""

    index: int
    truth: np.ndarray
    below: np.ndarray | None
    diagnostics: dict


def prepare(job: Job) -> Context:
    """Build the specs and pick the engine (raises what :func:`multilevel.fit` raises)."""
    from multilevel.engines import select_engine
    from multilevel.fit import _check_data, _spec

    spec = _spec(job.formula, job.data, job.family, job.priors, job.dpars)
    check_simulable(spec)
    fit_spec = fitting_spec(spec, job.fit_priors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        _check_data(fit_spec)
    engine, reason = select_engine(fit_spec, job.method)
    effects = tuple(effect_names(spec, job.group_effects))
    names = tuple(spec.parameter_names) + tuple(e[0] for e in effects)
    return Context(job, spec, fit_spec, engine, reason, names, effects)


def _posterior_draws(context: Context, posterior) -> np.ndarray:
    """``(chains, draws, P)`` of the ranked parameters."""
    columns = [np.asarray(posterior.draws[n], dtype=float) for n in context.spec.parameter_names]
    columns += [
        np.asarray(posterior.draws[key][..., j, c], dtype=float) for _, key, j, c in context.effects
    ]
    return np.stack(columns, axis=-1)


def run_one(context: Context, index: int, data_seed, fit_seed: int) -> Outcome:
    """Simulate data set ``index`` and fit it."""
    from multilevel.engines import SamplerSettings
    from multilevel.posterior.mcmc_stats import summary_statistics

    start = time.perf_counter()
    spec, job = context.spec, context.job
    truth, y, redraws = simulate_once(spec, np.random.default_rng(data_seed))
    y.setflags(write=False)  # as every array of a design
    values = [truth.values[n] for n in spec.parameter_names]
    values += [truth.effects[key][j, c] for _, key, j, c in context.effects]
    values = np.asarray(values, dtype=float)
    info = {"redraws": redraws, "fit_seed": fit_seed, "error": ""}
    sim_spec = replace(context.fit_spec, design=replace(context.fit_spec.design, y=y))
    settings = SamplerSettings(
        chains=job.chains,
        draws=job.draws,
        warmup=job.warmup,
        seed=fit_seed,
        progress=False,
        log_likelihood=False,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", DataWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            posterior = context.engine.fit(sim_spec, settings, reason=context.reason)
        draws = _posterior_draws(context, posterior)
    except Exception as err:  # noqa: BLE001 - one failed fit is recorded, the run goes on
        info.update(error=f"{type(err).__name__}: {err}", seconds=time.perf_counter() - start)
        return Outcome(index, values, None, info)
    stats = summary_statistics(draws)
    diverging = posterior.sample_stats.get("diverging")
    info.update(
        divergences=int(np.sum(diverging)) if diverging is not None else 0,
        max_r_hat=_finite(np.max, stats["r_hat"]),
        min_ess_bulk=_finite(np.min, stats["ess_bulk"]),
        suggested_thin=suggested_thin(stats["ess_bulk"], draws.shape[0] * draws.shape[1]),
        seconds=time.perf_counter() - start,
    )
    return Outcome(index, values, draws < values, info)


def _finite(reduce, values) -> float:
    """``reduce`` of the finite ``values`` (NaN if none)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(reduce(values)) if values.size else float("nan")


def run_serial(job: Job, seeds, advance) -> tuple[Context, list[Outcome]]:
    """Every simulation in this process; ``advance()`` after each."""
    context = prepare(job)
    out = []
    for index, (data_seed, fit_seed) in enumerate(seeds):
        out.append(run_one(context, index, data_seed, fit_seed))
        advance()
    return context, out


# -- worker processes -------------------------------------------------------------------------

_CONTEXT: Context | None = None  # the job, made ready once per worker process


def _initialise(job: Job) -> None:
    global _CONTEXT
    os.environ.update(WORKER_ENV)  # for JAX, which reads XLA_FLAGS when first used
    with warnings.catch_warnings():  # the main process has shown the model's warnings
        warnings.simplefilter("ignore")
        _CONTEXT = prepare(job)


def _step(index: int, data_seed, fit_seed: int) -> Outcome:
    return run_one(_CONTEXT, index, data_seed, fit_seed)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]):
    """``os.environ`` with ``values`` set, restored afterwards (spawned processes inherit
    the environment of the moment they start)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_parallel(job: Job, seeds, advance, n_jobs: int) -> tuple[Context, list[Outcome]]:
    """Every simulation in ``n_jobs`` spawned worker processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = prepare(job)  # errors in the model surface here, before any process starts
    out = []
    with (
        _environment(WORKER_ENV),
        ProcessPoolExecutor(
            max_workers=n_jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_initialise,
            initargs=(job,),
        ) as pool,
    ):
        futures = [
            pool.submit(_step, index, data_seed, fit_seed)
            for index, (data_seed, fit_seed) in enumerate(seeds)
        ]
        try:
            for future in as_completed(futures):
                out.append(future.result())
                advance()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return context, sorted(out, key=lambda o: o.index)
