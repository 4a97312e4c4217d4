"""``multilevel.fit``: formula + data → :class:`~multilevel.results.fit.Fit`, the composition
of ``parse → design → build_spec → select_engine → Engine.fit``."""

from __future__ import annotations

from collections.abc import Mapping

from multilevel.errors import EngineError

__all__ = ["fit", "default_priors"]


def fit(
    formula,
    data,
    *,
    family="gaussian",
    priors: Mapping | None = None,
    method: str = "auto",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int | None = None,
    progress: bool = True,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
):
    """Fit a Bayesian multilevel model written as an lme4/brms formula.

    Parameters
    ----------
    formula : str or Formula
        e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : data frame or dict of columns
    family : str or Family
        ``"gaussian"``, ``"student_t"``, ``"bernoulli"``, ``"binomial"``, ``"poisson"``,
        ``"negbinomial"``, ``"gamma"``, ``"lognormal"``, ``"beta"`` (or a Family with a link).
    priors : mapping, optional
        By class (``Intercept``, ``b``, ``sd``, ``cor``, ``sigma``, ...), group class
        (``sd_county``) or exact name (``b_floor``); values are Stan strings such as
        ``"normal(0, 5)"``. ``b_Intercept`` is the intercept of the formula as written.
    method : {"auto", "nuts"}
        The engine; ``"auto"`` picks one and the fit records why.
    chains, draws, warmup : int
        Number of chains, draws per chain kept, warmup iterations per chain.
    seed : int, optional
        Random seed (None: a fresh one).
    progress : bool
        Show a progress bar.
    target_accept, max_tree_depth
        NUTS settings (Stan's ``adapt_delta`` and ``max_treedepth``).

    Returns
    -------
    Fit

    Raises
    ------
    FormulaSyntaxError, FormulaError, DataError, PriorError, EngineError

    Warns
    -----
    ConvergenceWarning
        When R-hat, ESS, divergences, tree depth or E-BFMI show a problem.

    Examples
    --------
    >>> import multilevel as ml
    >>> f = ml.fit("y | se(sigma) ~ 1 + (1 | school)", ml.datasets.load("eight_schools"),
    ...            chains=2, draws=300, warmup=300, seed=1, progress=False)  # doctest: +SKIP
    """
    from multilevel.engines.base import select_engine
    from multilevel.engines.nuts import NutsEngine
    from multilevel.results.diagnostics import warn_convergence
    from multilevel.results.fit import Fit

    spec = _spec(formula, data, family, priors)
    engine, reason = select_engine(spec, method)
    if isinstance(engine, NutsEngine):
        engine = NutsEngine(target_accept=target_accept, max_tree_depth=max_tree_depth)
    else:  # pragma: no cover - only NUTS for now
        raise EngineError(f"engine {engine.name!r} is not wired into fit() yet")
    posterior = engine.fit(
        spec,
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=seed,
        progress=progress,
        reason=reason,
    )
    result = Fit(spec, posterior)
    warn_convergence(result.diagnostics())
    return result


def _spec(formula, data, family, priors):
    """parse -> design -> build_spec."""
    from multilevel.design import design as make_design
    from multilevel.formula import parse
    from multilevel.spec.families import get_family
    from multilevel.spec.model import build_spec

    fam = get_family(family)
    parsed = parse(formula) if isinstance(formula, str) else formula
    return build_spec(make_design(parsed, data, family=fam.name), fam, priors)


def default_priors(formula, data, *, family="gaussian", priors: Mapping | None = None):
    """The prior of every parameter that :func:`fit` would use, as a table.

    Defaults are weakly informative and scaled to the data (see
    :mod:`multilevel.spec.defaults`); ``priors`` shows the effect of your own.

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

    spec = _spec(formula, data, family, priors)
    table = pd.DataFrame(
        {"prior": [p.to_stan() for p in spec.priors.values()]}, index=list(spec.priors)
    )
    table.index.name = "parameter"
    return table
