"""Simulation-based calibration of a model on the user's own design: :func:`sbc`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from multilevel.calibration._progress import progress_bar
from multilevel.calibration._ranks import ranks, run_thin
from multilevel.calibration._run import Job, run_parallel, run_serial
from multilevel.calibration._seeds import simulation_seeds
from multilevel.calibration.result import SBCResult
from multilevel.errors import EngineError

__all__ = ["sbc", "REDRAW_SHARE"]

#: Redraws per simulation above which :func:`sbc` warns that they may distort the ranks.
REDRAW_SHARE = 0.05


def _count(value, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise EngineError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def _check_method(method) -> None:
    from multilevel.engines import METHODS, POINT_METHODS

    if method in POINT_METHODS:
        raise EngineError(
            f"method={method!r} gives point estimates, and simulation-based calibration needs "
            "posterior draws: use a sampling method ('auto', 'exact', 'conjugate', 'nuts', "
            "'inla', 'gibbs', 'stan')"
        )
    if method not in METHODS:
        raise EngineError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")


def sbc(
    formula,
    data,
    *,
    family="gaussian",
    priors: Mapping | None = None,
    dpars=None,
    n_sims: int = 100,
    method: str = "auto",
    draws: int = 500,
    warmup: int = 500,
    chains: int = 2,
    thin: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    n_jobs: int = 1,
    fit_priors: Mapping | None = None,
    group_effects: int = 2,
) -> SBCResult:
    """Simulation-based calibration (SBC) of a model on the design of your data.

    Checks that fitting this model to data drawn from it recovers the truth in the way
    Bayes' theorem promises (Talts et al. 2018; Modrák et al. 2023): each of ``n_sims``
    data sets draws every parameter from its prior and a response from the model on the
    rows of ``data`` (its predictors, groups, ``trials()``, ``se()``; see
    :func:`multilevel.calibration.simulate`), is fitted with the same priors, and gives each
    parameter's *rank*: how many of the ``L`` (thinned) posterior draws lie below the true
    value. If the model is fitted right, ranks are uniform on ``0..L``; a wrong likelihood,
    prior or sampler shows as ranks that pile up at one end (biased posteriors), at both
    (too narrow) or in the middle (too wide). :meth:`SBCResult.summary` tests each
    parameter; :meth:`SBCResult.plot` draws ECDF differences with simultaneous bands
    (Säilynoja, Bürkner & Vehtari 2022) or rank histograms.

    The priors are those :func:`multilevel.fit` would use on ``data`` (default priors are
    scaled to its response), resolved once and frozen: every simulated data set is fitted
    with exactly them, not with defaults rescaled to the simulated response.

    Parameters
    ----------
    formula, data, family, priors, dpars
        The model, as in :func:`multilevel.fit`. Every prior must be proper (a ``flat``
        prior cannot be drawn from). ``weights()`` are not simulated (a weighted likelihood
        has no generative model): with unequal weights the ranks need not be uniform.
    n_sims : int
        Number of simulated data sets (100 finds gross problems; use several hundred to
        find subtle ones).
    method : str
        A sampling method of :func:`multilevel.fit` (``"auto"``, ``"exact"``,
        ``"conjugate"``, ``"nuts"``, ``"inla"``, ``"gibbs"``); the engine is chosen once.
    draws, warmup, chains : int
        Sampler settings of each fit (per chain).
    thin : int, optional
        Keep every ``thin``-th draw of each chain. Default: the median over the simulations
        of ``round(chains * draws / min ESS_bulk)``, so kept draws are roughly independent.
        ``L = chains * ceil(draws / thin)``.
    seed : int, optional
        Seed of the run (None: fresh, recorded in ``settings["seed"]``). Simulation ``i``
        depends on ``seed`` and ``i`` only: results do not depend on ``n_jobs``.
    progress : bool
        Show a progress bar over the simulations.
    n_jobs : int
        Worker processes (``-1``: one per CPU). Workers are spawned (JAX does not survive
        ``fork``) with one BLAS / XLA thread each; a script that uses ``n_jobs > 1`` needs
        the ``if __name__ == "__main__":`` guard, as every use of ``spawn`` does.
    fit_priors : mapping, optional
        Priors to fit with instead of the simulating ones, keyed as ``priors``
        (``{"sd_g": "normal(0, 0.5)"}``): a deliberately wrong prior should be flagged.
    group_effects : int
        Also rank the group effects of the first ``group_effects`` levels of each block
        (``r_g[a,Intercept]``); 0 for none.

    Returns
    -------
    SBCResult

    Raises
    ------
    FormulaSyntaxError, FormulaError, DataError
        As :func:`multilevel.fit`.
    PriorError
        An improper prior, or an invalid ``fit_priors`` entry.
    EngineError
        A bad ``n_sims``, ``thin``, ``n_jobs``, ``seed`` or sampler setting; an unknown
        method or a point-estimate one (``"reml"``, ``"ml"``, ``"laplace"`` give no draws);
        a model the engine cannot fit; a ``factors()`` term or data on Dask; priors that
        give no valid response in 100 draws in a row; every fit failing.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import multilevel as ml
    >>> from multilevel.calibration import sbc
    >>> data = pd.DataFrame({"g": np.repeat(np.arange(8), 5), "y": np.zeros(40)})
    >>> result = sbc("y ~ 1 + (1 | g)", data, method="exact", n_sims=100, seed=1,
    ...              priors={"Intercept": "normal(0, 2)", "sd": "normal(0, 1)",
    ...                      "sigma": "normal(0, 1)"}, progress=False)  # doctest: +SKIP
    >>> result.miscalibrated  # doctest: +SKIP
    ()
    >>> result.plot("ecdf_diff")  # doctest: +SKIP
    """
    from multilevel.engines import SamplerSettings

    n_sims = _count(n_sims, "n_sims")
    _check_method(method)
    SamplerSettings(chains=chains, draws=draws, warmup=warmup, seed=0)  # validates them
    if thin is not None:
        thin = _count(thin, "thin")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    n_jobs = _count(n_jobs, "n_jobs")
    group_effects = _count(group_effects, "group_effects", minimum=0)
    entropy, seeds = simulation_seeds(seed, n_sims)
    job = Job(
        formula=formula,
        data=data,
        family=family,
        priors=priors,
        dpars=dpars,
        fit_priors=fit_priors,
        method=method,
        chains=int(chains),
        draws=int(draws),
        warmup=int(warmup),
        group_effects=group_effects,
    )
    with progress_bar(progress, n_sims) as advance:
        if n_jobs == 1 or n_sims == 1:
            context, outcomes = run_serial(job, seeds, advance)
        else:
            context, outcomes = run_parallel(job, seeds, advance, min(n_jobs, n_sims))
    _warn(context, outcomes, n_sims)
    return _result(context, outcomes, thin, entropy, n_sims)


def _warn(context, outcomes, n_sims: int) -> None:
    """Warn of what makes ranks non-uniform for a calibrated model: many redraws (the prior
    conditioned on valid data) and weights (not simulated)."""
    redraws = sum(o.diagnostics["redraws"] for o in outcomes)
    if redraws > REDRAW_SHARE * n_sims:
        warnings.warn(
            f"the priors gave invalid data (see SBCResult.diagnostics['redraws']) in {redraws} "
            f"draws for {n_sims} simulations: the simulations follow the priors conditioned "
            "on valid data, which the fits do not know, so the ranks may look miscalibrated; "
            "tighter priors avoid this",
            UserWarning,
            stacklevel=3,
        )
    failed = [o for o in outcomes if o.below is None]
    if failed:
        warnings.warn(
            f"{len(failed)} of {n_sims} fits failed and have no ranks (see "
            f"SBCResult.diagnostics['error']); the first: {failed[0].diagnostics['error']}",
            UserWarning,
            stacklevel=3,
        )
    weights = context.spec.design.weights
    if weights is not None and not np.all(weights == weights.flat[0]):
        warnings.warn(
            "weights() are not simulated (a weighted likelihood has no generative model): "
            "with unequal weights the ranks need not be uniform even for a calibrated fit",
            UserWarning,
            stacklevel=3,
        )


def _result(context, outcomes, thin, entropy, n_sims) -> SBCResult:
    names = list(context.names)
    done = [o for o in outcomes if o.below is not None]
    if not done:
        raise EngineError(f"every fit failed; the first: {outcomes[0].diagnostics['error']}")
    if thin is None:
        thin = run_thin(o.diagnostics["suggested_thin"] for o in done)
    table, L = [], 0
    for o in done:
        r, L = ranks(o.below, thin)
        table.append(r)
    index = pd.Index([o.index for o in done], name="simulation")
    rank_table = pd.DataFrame(np.asarray(table, dtype=np.int64), index=index, columns=names)
    all_index = pd.Index([o.index for o in outcomes], name="simulation")
    truth = pd.DataFrame([o.truth for o in outcomes], index=all_index, columns=names)
    columns = [
        "redraws",
        "divergences",
        "max_r_hat",
        "min_ess_bulk",
        "suggested_thin",
        "seconds",
        "fit_seed",
        "error",
    ]
    diagnostics = pd.DataFrame([o.diagnostics for o in outcomes], index=all_index, columns=columns)
    job = context.job
    settings = {
        "method": job.method,
        "engine": context.engine.name,
        "reason": context.reason,
        "chains": job.chains,
        "draws": job.draws,
        "warmup": job.warmup,
        "seed": entropy,
        "n_sims": n_sims,
        "fit_priors": dict(job.fit_priors or {}),
    }
    return SBCResult(rank_table, L, truth, diagnostics, int(thin), settings)
