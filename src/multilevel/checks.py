"""Data checks: problems of a data set, for a model, that are worth a look before fitting.

Each is one sentence saying what was found, what it means and what to do (the advice names
the command line's ``--family`` option and the formula to write). Three kinds:

:func:`data_warnings`
    What :func:`multilevel.fit` warns about (:class:`~multilevel.errors.DataWarning`, shown
    by the command line as ``warning: ...``) and what a report of the fit shows: the design
    stage's notes (``Design.info.notes``: rows left out for missing values, collinear
    population-level columns dropped), a numeric predictor that holds a few whole numbers
    (codes of categories: write ``factor(x)``), a response with a single value (all 0 for
    bernoulli: the intercept runs off to its prior) and, outside the gaussian family, more
    group effects than rows.
:func:`identifiability`
    Why the model cannot be fitted, as lme4 refuses it (``check.nobs.vs.nlev``,
    ``check.nobs.vs.nRE``): a gaussian model whose grouping factor has as many levels as rows
    (its group effects and the residual are confounded), or as many group effects as rows.
    :func:`multilevel.fit` raises it as a :class:`~multilevel.errors.DataError`
    (:func:`require_identifiable`); ``multilevel check`` lists it.
:func:`data_problems`
    What ``multilevel check`` lists under "Data problems": all of the above, and a grouping
    factor with fewer than :data:`FEW_LEVELS` levels (its SD leans on its prior), levels with
    a single row (the first group term that has them), a constant population-level column
    other than the intercept, a gaussian or Student-t response that looks binary (0/1) or like
    counts.

All look at a :class:`~multilevel.spec.model.ModelSpec` (its design holds the data the model
uses), so a loaded fit can be checked again.
"""

from __future__ import annotations

import numpy as np

from multilevel.errors import DataError
from multilevel.formula.ast import Name

__all__ = [
    "FEW_LEVELS",
    "FEW_CODES",
    "data_problems",
    "data_warnings",
    "identifiability",
    "require_identifiable",
]

#: A grouping factor with fewer levels than this is reported.
FEW_LEVELS = 5

#: A numeric predictor with 3 to this many distinct whole numbers looks like category codes.
FEW_CODES = 6

#: Families whose residual SD is confounded with one group effect per row (lme4's lmer).
_RESIDUAL_FAMILIES = ("gaussian", "lognormal")


def _formula_parts(design):
    """``(parameter, formula, part info, X, X names)`` of the main and distributional parts."""
    info = design.info
    parts = [("mu", info.formula, info.parts[0], design.X, design.X_names)]
    for k, (name, sub) in enumerate(info.formula.dpars.items(), start=1):
        dpar = design.dpars[name]
        parts.append((name, sub, info.parts[k], dpar.X, dpar.X_names))
    return parts


def _integer_codes(design) -> list[str]:
    """Numeric predictors (a column named as it is) with 3 to FEW_CODES whole numbers."""
    out = []
    for parameter, formula, part, X, names in _formula_parts(design):
        for j, name in enumerate(names):
            factor = part.factors.get(name)
            if factor is None or factor.kind != "numeric":
                continue
            if not isinstance(formula.expressions.get(name), Name):
                continue
            values = np.unique(np.asarray(X[:, j], dtype=float))
            if not (3 <= len(values) <= FEW_CODES and np.all(values == np.round(values))):
                continue
            shown = ", ".join(f"{v:g}" for v in values)
            where = "" if parameter == "mu" else f" in the formula for {parameter}"
            out.append(
                f"{name}{where} is used as a number (one slope), but it holds only "
                f"{len(values)} distinct whole numbers ({shown}): if they are codes of "
                f"categories, write factor({name}) in the formula (as in R) for one "
                "coefficient per category"
            )
    return out


def _single_valued_response(spec) -> list[str]:
    design = spec.design
    y = design.y
    if y is None or len(y) < 2:
        return []
    family = spec.family.name
    name = design.response
    trials = design.trials
    if spec.family.needs_trials and trials is not None:
        if not y.any():
            return [_no_variation(name, "0 in every row (no successes)", "minus")]
        if np.array_equal(y, trials):
            return [_no_variation(name, "equal to trials() in every row (no failures)", "plus")]
        return []
    if np.ptp(y) != 0:
        return []
    value = float(y[0])
    if family == "bernoulli":
        sign = "minus" if value == 0 else "plus"
        return [_no_variation(name, f"{value:g} in every row", sign)]
    if family in ("poisson", "negbinomial"):
        return [_no_variation(name, "0 in every row", "minus")] if value == 0 else []
    return [
        f"the response {name} is {value:g} in every row: there is no variation for the model "
        "to explain; check the data (a filter that kept one value?)"
    ]


def _no_variation(name: str, what: str, sign: str) -> str:
    return (
        f"the response {name} is {what}: the data cannot estimate the intercept (on the link "
        f"scale it runs off towards {sign} infinity and only its prior stops it) nor any "
        "effect; check the data (a filter that kept one outcome?)"
    )


def _group_effects(block) -> int:
    return block.q * block.n_levels


def _too_many_effects(spec) -> list[str]:
    """Outside the residual families: more group effects than rows (lme4's glmer refuses)."""
    if spec.family.name in _RESIDUAL_FAMILIES and not spec.known_sigma:
        return []
    n = spec.design.n
    out = []
    for block in spec.design.blocks:
        if block.multiple_membership:
            continue
        effects = _group_effects(block)
        if effects > n:
            out.append(
                f"the group term {block.source or block.name} has {effects:,} group effects "
                f"({block.q} per level x {block.n_levels:,} levels) for {n:,} rows: the data "
                "cannot tell them apart and their SDs lean on the priors (lme4 refuses this: "
                "'number of observations < number of random effects'); simplify the term, "
                f"e.g. (1 | {block.name})"
            )
    return out


def data_warnings(spec, *, notes: bool = True) -> list[str]:
    """What :func:`multilevel.fit` warns about the data of ``spec``, one sentence each.

    This is the list a report of the fit shows.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`multilevel.build_spec` (or a fit's ``spec``).
    notes : bool
        Include the design stage's notes (``spec.design.info.notes``: rows left out for
        missing values, collinear columns dropped), which :func:`multilevel.design` has
        already given as warnings.

    Returns
    -------
    list of str
        Empty when nothing was found.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.checks import data_warnings
    >>> cbpp = ml.datasets.load("cbpp").assign(period=lambda d: d["period"].astype(int))
    >>> d = ml.design("incidence | trials(size) ~ period + (1 | herd)", cbpp)
    >>> for warning in data_warnings(ml.build_spec(d, "binomial")):
    ...     print("-", warning)  # doctest: +NORMALIZE_WHITESPACE
    - period is used as a number (one slope), but it holds only 4 distinct whole numbers
      (1, 2, 3, 4): if they are codes of categories, write factor(period) in the formula
      (as in R) for one coefficient per category
    """
    design = spec.design
    out = list(getattr(design.info, "notes", ())) if notes else []
    out += _integer_codes(design)
    out += _single_valued_response(spec)
    out += _too_many_effects(spec)
    return out


def identifiability(spec) -> str | None:
    """Why lme4 would refuse to fit ``spec``, in words with what to do; None if it would not.

    A gaussian (or lognormal) model with an estimated residual SD cannot tell a group effect
    per row from the residual: lme4 requires that each grouping factor have fewer levels
    than there are rows (``check.nobs.vs.nlev``) and each group term fewer group effects
    (``check.nobs.vs.nRE``). Multiple-membership terms are not checked.

    Examples
    --------
    >>> import numpy as np, multilevel as ml
    >>> from multilevel.checks import identifiability
    >>> data = {"y": np.arange(6.0), "g": list("abcdef")}
    >>> print(identifiability(ml.build_spec(ml.design("y ~ 1 + (1 | g)", data))))
    ... # doctest: +NORMALIZE_WHITESPACE
    the grouping factor g has 6 levels for 6 rows (one row per level): in a gaussian model
    its group effects cannot be told apart from the residual noise (sd_g__Intercept and
    sigma are not identifiable), and lme4 refuses it too ('number of levels of each grouping
    factor must be < number of observations'); remove (1 | g), or use data with several rows
    per level of g (that is what partial pooling needs)
    """
    if spec.family.name not in _RESIDUAL_FAMILIES or spec.known_sigma:
        return None
    design = spec.design
    n = spec.n_rows  # (the rows its statistics sum, for data on Dask)
    for block, covariance in zip(design.blocks, spec.covariance, strict=True):
        if block.multiple_membership:
            continue
        source = block.source or f"(1 | {block.name})"
        if block.n_levels >= n:
            sds = " and ".join(covariance.sd_names)
            return (
                f"the grouping factor {block.name} has {block.n_levels:,} levels for {n:,} rows "
                f"(one row per level): in a {spec.family.name} model its group effects cannot "
                f"be told apart from the residual noise ({sds} and sigma are not "
                "identifiable), and lme4 refuses it too ('number of levels of each grouping "
                f"factor must be < number of observations'); remove {source}, or use data with "
                f"several rows per level of {block.name} (that is what partial pooling needs)"
            )
        effects = _group_effects(block)
        if effects >= n:
            return (
                f"the group term {source} has {effects:,} group effects ({block.q} per level x "
                f"{block.n_levels:,} levels) for {n:,} rows: they cannot be told apart from "
                "the residual noise, and lme4 refuses it too ('number of observations <= "
                "number of random effects ... the random-effects parameters and the residual "
                "variance are probably unidentifiable'); simplify the term, e.g. "
                f"(1 | {block.name})"
            )
    return None


def require_identifiable(spec) -> None:
    """Raise :func:`identifiability`'s reason as a DataError (what :func:`multilevel.fit`
    does before fitting).

    Raises
    ------
    DataError
    """
    reason = identifiability(spec)
    if reason is not None:
        raise DataError(reason)


def data_problems(spec, *, structure=None) -> list[str]:
    """Problems of the data for the model ``spec``, one sentence each: what ``multilevel
    check`` lists (see the module docstring). The first says why the model cannot be fitted,
    when :func:`identifiability` finds a reason.

    Parameters
    ----------
    spec : ModelSpec
        From :func:`multilevel.build_spec`.
    structure : pandas.DataFrame, optional
        ``spec.design.group_structure()`` when the caller has it already (it is computed
        otherwise).

    Returns
    -------
    list of str
        Empty when nothing was found.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.checks import data_problems
    >>> d = ml.design("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("pastes"))
    >>> data_problems(ml.build_spec(d))
    []
    >>> d = ml.design("incidence ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    >>> for problem in data_problems(ml.build_spec(d)):
    ...     print("-", problem)  # doctest: +NORMALIZE_WHITESPACE
    - 1 of 15 levels of herd have a single row: their effects are mostly set by the other
      levels (that is fine, and what partial pooling is for)
    - the response incidence holds non-negative whole numbers: if they are counts, consider
      --family poisson or negbinomial
    """
    design = spec.design
    if structure is None and (design.blocks or design.dpars):
        structure = design.group_structure()
    problems = []
    reason = identifiability(spec)
    if reason is not None:
        problems.append(f"the model cannot be fitted: {reason}")
    if structure is not None:
        for factor, row in structure.iterrows():
            if row["levels"] < FEW_LEVELS:
                problems.append(
                    f"grouping factor {factor} has only {row['levels']} levels: its standard "
                    "deviation is poorly determined by the data and leans on its prior"
                )
    for block in design.blocks:
        if block.multiple_membership:
            continue
        counts = np.bincount(block.index[:, 0], minlength=block.n_levels)
        single = int((counts == 1).sum())
        if single == block.n_levels and not spec.known_sigma:
            if reason is None:
                problems.append(
                    f"every level of {block.name} has a single row: its group effects act "
                    "as one extra effect per row (overdispersion), which the data determine "
                    "only through the spread of the responses (with a 0/1 response, not at "
                    "all: the SD then leans on its prior)"
                )
            break
        if single:
            problems.append(
                f"{single} of {block.n_levels} levels of {block.name} have a single row: "
                "their effects are mostly set by the other levels (that is fine, and what "
                "partial pooling is for)"
            )
            break
    X = np.asarray(design.X, dtype=float)
    for j, name in enumerate(design.X_names):
        if name != "Intercept" and X.shape[0] > 1 and np.ptp(X[:, j]) == 0:
            problems.append(f"population-level column {name} is constant: it cannot be estimated")
    problems += data_warnings(spec)
    y = design.y
    if y is not None and spec.family.name in ("gaussian", "student_t"):
        values = np.unique(y)
        if len(values) <= 2 and set(values.tolist()) <= {0.0, 1.0}:
            problems.append(
                f"the response {design.response} takes only the values 0 and 1: consider "
                "--family bernoulli"
            )
        elif len(values) > 2 and np.all(values >= 0) and np.all(values == np.round(values)):
            problems.append(
                f"the response {design.response} holds non-negative whole numbers: if they are "
                "counts, consider --family poisson or negbinomial"
            )
    return problems
