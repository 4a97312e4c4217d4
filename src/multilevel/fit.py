"""``multilevel.fit``: formula + data → :class:`~multilevel.results.fit.Fit`, the composition
of ``parse → design → build_spec → select_engine → Engine.fit``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace

# the point-estimate path (method="reml" / "ml") is imported with the package: its first fit
# then costs what later ones do. The sampling engines (JAX, NumPyro) load on first use.
import multilevel.engines.reml  # noqa: F401
from multilevel.checks import data_warnings, require_identifiable
from multilevel.design import design as make_design
from multilevel.distributed._client import is_dask_frame
from multilevel.engines import POINT_METHODS, SamplerSettings, select_engine, select_estimator
from multilevel.errors import DataWarning, EngineError, FormulaError
from multilevel.formula import parse
from multilevel.results.estimate import PointFit
from multilevel.spec.families import get_family
from multilevel.spec.model import build_spec

__all__ = ["fit", "default_priors"]


def fit(
    formula,
    data,
    *,
    family="gaussian",
    priors: Mapping | None = None,
    dpars=None,
    method: str = "auto",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int | None = None,
    progress: bool = True,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    na_action: str = "omit",
    nagq: int = 1,
):
    """Fit a Bayesian multilevel model written as an lme4/brms formula.

    Parameters
    ----------
    formula : str, Formula or sequence of str
        e.g. ``"Reaction ~ Days + (Days | Subject)"``. A sequence gives the main formula then
        formulas of family parameters (``["y ~ x + (1 | g)", "sigma ~ 1 + (1 | g)"]``).
    data : data frame, dict of columns or dask.dataframe.DataFrame
        A Dask frame (say from ``dask.dataframe.read_parquet``, larger than memory) is
        reduced partition by partition on the active ``distributed.Client`` (or Dask's
        threaded scheduler) to the statistics of a gaussian model, fitted by
        ``method="reml"``, ``"ml"`` or ``"exact"`` (``"auto"``) with the same results as
        in memory (:mod:`multilevel.distributed`, docs/scaling.md).
    family : str or Family
        ``"gaussian"``, ``"student_t"``, ``"bernoulli"``, ``"binomial"``, ``"poisson"``,
        ``"negbinomial"``, ``"gamma"``, ``"lognormal"``, ``"beta"`` (or a Family with a link).
    priors : mapping, optional
        By class (``Intercept``, ``b``, ``sd``, ``cor``, ``sigma``, ...), group class
        (``sd_county``) or exact name (``b_floor``); values are Stan strings such as
        ``"normal(0, 5)"``. ``b_Intercept`` is the intercept of the formula as written.
    dpars : str, sequence of str or mapping, optional
        Formulas of family parameters, e.g. ``{"sigma": "sigma ~ 1 + (1 | g)"}`` for
        group-specific noise (parameters ``b_sigma_Intercept``, ``sd_g__sigma_Intercept``,
        ``r_g__sigma[level,Intercept]``; the parameter takes the family's link for it,
        ``log`` for ``sigma``).
    method : {"auto", "nuts", "conjugate", "exact", "inla", "stan", "reml", "ml", "laplace"}
        The engine; ``"auto"`` picks one and the fit records why: the exact conjugate
        engine for a Normal–Normal hierarchy (``y ~ 1 + (1 | g)``, ``y | se(s) ~ 1 + (1 |
        g)``, gaussian), the exact gaussian engine for other gaussian models (group effects
        integrated out exactly, MCMC on the few remaining parameters, exact draws of the
        group effects), the nested Laplace (``"inla"``) for bernoulli, binomial, poisson and
        negative binomial models from 20,000 rows (not binary responses with fewer than 20 rows
        per group, where it underestimates the SDs), NUTS otherwise. ``"inla"``: independent
        draws from the nested-Laplace approximation of the posterior (Rue, Martino & Chopin
        2009; :class:`multilevel.engines.inla.InlaEngine`). ``"stan"``: the model's Stan
        program (:func:`multilevel.stan_code`) compiled and sampled by Stan (CmdStanPy, else
        PyStan; the extra ``multilevel[stan]``), never picked by ``"auto"``. ``"reml"`` and
        ``"ml"`` give lme4's point estimates from the exact gaussian engine, ``"laplace"``
        lme4's ``glmer`` estimates of bernoulli, binomial, poisson and negative binomial
        models (a :class:`PointFit`).
    chains, draws, warmup : int
        Number of chains, draws per chain kept, warmup iterations per chain.
    seed : int, optional
        Random seed (None: a fresh one).
    progress : bool
        Show a progress bar.
    target_accept, max_tree_depth
        NUTS settings (Stan's ``adapt_delta`` and ``max_treedepth``).
    na_action : {"omit", "error"}
        Rows with a missing value in a column the model uses: left out with a warning that
        counts them (default, as lme4 and brms), or a DataError naming them.
    nagq : int
        With ``method="laplace"``: 1 (default) for the Laplace approximation, more for
        adaptive Gauss–Hermite quadrature with that many nodes (one scalar grouping term
        such as ``(1 | g)``, as glmer's ``nAGQ``).

    Returns
    -------
    Fit or PointFit

    Raises
    ------
    FormulaSyntaxError, FormulaError, DataError, PriorError, EngineError
        A DataError also when the model is not identifiable, where lme4 refuses it too
        (:func:`multilevel.checks.identifiability`: a gaussian model with one row per level
        of a grouping factor).

    Warns
    -----
    DataWarning
        Rows left out for missing values, collinear columns dropped, a numeric predictor
        that looks like category codes, a response with one value
        (:func:`multilevel.checks.data_warnings`).
    ConvergenceWarning
        When R-hat, ESS, divergences, tree depth or E-BFMI show a problem.

    Examples
    --------
    >>> import multilevel as ml
    >>> f = ml.fit("y | se(sigma) ~ 1 + (1 | school)", ml.datasets.load("eight_schools"),
    ...            chains=2, draws=300, warmup=300, seed=1, progress=False)  # doctest: +SKIP
    """
    if nagq != 1 and method != "laplace":
        raise EngineError(
            f"nagq={nagq!r} is an option of method='laplace' (glmer's nAGQ), not of "
            f"method={method!r}"
        )
    if method in POINT_METHODS:  # point estimates need no priors and no sampling machinery
        if priors:
            warnings.warn(
                f"method={method!r} gives lme4's point estimates, which use no priors: "
                "`priors` is ignored (use method='exact' or 'nuts' for a posterior)",
                UserWarning,
                stacklevel=2,
            )
        spec = _spec(formula, data, family, None, dpars, with_priors=False, na_action=na_action)
        _check_data(spec)
        estimator, _ = select_estimator(spec, method)
        options = {"nagq": nagq} if method == "laplace" else {}
        estimate = estimator.estimate(spec, method=method, **options)
        if spec.statistics is not None:
            estimate = replace(estimate, reason=f"{estimate.reason}; {spec.statistics.describe()}")
        return PointFit(spec, estimate)
    settings = SamplerSettings(
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=seed,
        progress=progress,
        target_accept=target_accept,
        max_tree_depth=max_tree_depth,
    )
    spec = _spec(formula, data, family, priors, dpars, na_action=na_action)
    _check_data(spec)

    from multilevel.results.diagnostics import warn_convergence
    from multilevel.results.fit import Fit

    engine, reason = select_engine(spec, method)
    if spec.statistics is not None:
        reason = f"{reason}; {spec.statistics.describe()}"
    posterior = engine.fit(spec, settings, reason=reason)
    result = Fit(spec, posterior)
    warn_convergence(result.diagnostics())
    return result


def _formula(formula, dpars):
    """A parsed Formula from a string, a Formula or a sequence of strings, plus ``dpars``."""
    if isinstance(formula, str):
        return parse(formula, dpars=dpars)
    if isinstance(formula, (list, tuple)) and formula and all(isinstance(f, str) for f in formula):
        extra = list(formula[1:])
        if dpars is not None:
            extra += (
                [dpars]
                if isinstance(dpars, str)
                else list(dpars.values() if isinstance(dpars, Mapping) else dpars)
            )
        return parse(formula[0], dpars=extra or None)
    if dpars is None and hasattr(formula, "dpars"):
        return formula
    raise FormulaError(
        f"formula must be a string such as 'y ~ x + (1 | g)' or a list of strings, "
        f"got {type(formula).__name__}"
    )


def _spec(formula, data, family, priors, dpars=None, *, with_priors=True, na_action="omit"):
    """parse -> design -> build_spec."""
    fam = get_family(family)
    parsed = _formula(formula, dpars)
    if is_dask_frame(data):  # statistics reduced over the partitions, on the cluster
        from multilevel.distributed import dask_spec

        return dask_spec(parsed, data, fam, priors, with_priors=with_priors, na_action=na_action)
    design = make_design(parsed, data, family=fam.name, na_action=na_action)
    return build_spec(design, fam, priors, with_priors=with_priors)


def _check_data(spec) -> None:
    """Refuse what lme4 refuses; warn about the rest of :func:`checks.data_warnings` (the
    design stage has given its own notes already)."""
    require_identifiable(spec)
    if spec.statistics is not None:  # the rest reads rows (on Dask: checked per partition)
        return
    for message in data_warnings(spec, notes=False):
        warnings.warn(message, DataWarning, stacklevel=3)


def default_priors(
    formula,
    data,
    *,
    family="gaussian",
    priors: Mapping | None = None,
    dpars=None,
    na_action: str = "omit",
):
    """The prior of every parameter that :func:`fit` would use, as a table.

    Defaults are weakly informative and scaled to the data (see
    :mod:`multilevel.spec.defaults`); ``priors`` shows the effect of your own. The data are
    read as :func:`fit` reads them (``na_action``: rows with missing values left out or
    refused).

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter name, with the column ``prior`` (Stan syntax, truncation shown
        as ``T[0, ]``).

    Examples
    --------
    >>> import multilevel as ml
    >>> table = ml.default_priors("Reaction ~ Days + (Days | Subject)",
    ...                           ml.datasets.load("sleepstudy"))
    >>> table.loc["sd_Subject__Days", "prior"]
    'student_t(3, 0, 59.3) T[0, ]'
    """
    import pandas as pd

    spec = _spec(formula, data, family, priors, dpars, na_action=na_action)
    table = pd.DataFrame(
        {"prior": [p.to_stan() for p in spec.priors.values()]}, index=list(spec.priors)
    )
    table.index.name = "parameter"
    return table
