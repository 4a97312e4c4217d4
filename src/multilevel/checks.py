"""Data checks: problems of a data set, for a model, that are worth a look before fitting.

None of them stops a fit (problems that do are raised as
:class:`~multilevel.errors.DataError` by :func:`multilevel.design` and
:func:`multilevel.build_spec`); each is one sentence saying what was found and what it means
(the advice names the command line's ``--family`` option). ``multilevel check`` lists them
under "Data problems".

:func:`data_problems` looks at a :class:`~multilevel.spec.model.ModelSpec` (its design holds
the data the model uses):

- a grouping factor with fewer than :data:`FEW_LEVELS` levels (its SD leans on its prior);
- levels with a single row (the first group term that has them);
- a constant population-level column other than the intercept;
- a gaussian or Student-t response that looks binary (0/1) or like counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEW_LEVELS", "data_problems"]

#: A grouping factor with fewer levels than this is reported.
FEW_LEVELS = 5


def data_problems(spec, *, structure=None) -> list[str]:
    """Non-fatal problems of the data for the model ``spec``, one sentence each.

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
