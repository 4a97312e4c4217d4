"""brms's ``conditional_effects``: the expected response against one predictor, the other
predictors held at their mean (numbers) or reference level (categories), group effects
at the population level (left out), with posterior intervals.

As brms: the estimate is the posterior median of the expected response (brms's
``robust = TRUE``), the interval the central 95% (``prob = 0.95``), a binomial model's
number of trials is 1 (so the expected response is a probability), and ``conditions``
sets other predictors to chosen values. The fit keeps the design, not the data: a
predictor that enters through a transformation (``log(x)``, ``poly(x, 2)``) or an offset
needs ``data=`` (the data frame the model was fitted to) for its mean and range.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from multilevel.errors import DataError

__all__ = ["EFFECT_COLUMNS", "POPULATION_LEVEL", "conditional_effects"]

#: Columns added to the predictor values: the median and the interval's ends.
EFFECT_COLUMNS = ("estimate", "lower", "upper")
#: The level given to grouping factors: a new level, left out (``new_groups="population"``).
POPULATION_LEVEL = "(population)"


def _columns(formula, texts) -> list[str]:
    from multilevel.formula.terms import _expression_columns

    out: list[str] = []
    for text in texts:
        for name in _expression_columns(text, formula.expressions):
            if name not in out:
                out.append(name)
    return out


def _formulas(formula):
    yield formula
    yield from formula.dpars.values()


def _roles(formula) -> tuple[list[str], list[str], list[str]]:
    """``(predictors, grouping columns, trials columns)`` of a formula and its dpars."""
    predictors, groups = [], []
    for f in _formulas(formula):
        texts = [x for t in f.terms for x in t.factors] + list(f.offsets)
        texts += [x for block in f.groups for t in block.terms for x in t.factors]
        predictors += [c for c in _columns(formula, texts) if c not in predictors]
        for block in f.groups:
            groups += [c for c in _columns(formula, block.group) if c not in groups]
            if block.membership is not None and block.membership.weights is not None:
                weights = _columns(formula, block.membership.weights)
                predictors += [c for c in weights if c not in predictors]
    trials = [c for k, v in formula.additions if k == "trials" for c in _columns(formula, [v])]
    return predictors, [g for g in groups if g not in predictors], trials


def _categorical(info, column: str):
    """The categorical FactorInfo of the main formula that reads only ``column``, if any."""
    from multilevel.formula.terms import _expression_columns

    formula = info.formula
    for part in info.parts:
        for factor in part.factors.values():
            if factor.kind == "categorical" and _expression_columns(
                factor.text, formula.expressions
            ) == [column]:
                return factor
    return None


def _numeric_column(fit, column: str) -> np.ndarray | None:
    """The training values of a numeric predictor that is itself a column of ``X``."""
    names = list(fit.spec.design.X_names)
    if column in names:
        return np.asarray(fit.spec.design.X, dtype=float)[:, names.index(column)]
    return None


def _values(fit, column: str, data) -> tuple[np.ndarray | None, object]:
    """``(training values or None, the value others are held at)`` of one predictor."""
    factor = _categorical(fit.spec.design.info, column)
    if factor is not None:
        return None, factor.levels[factor.reference]
    if data is not None and column in data:
        values = pd.Series(data[column])
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return None, values.dropna().iloc[0]
        values = values.to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        return values, float(values.mean())
    values = _numeric_column(fit, column)
    if values is None:
        raise DataError(
            f"conditional_effects needs the values of {column!r}, which enters the model "
            "through a transformation or an offset: pass data= (the data frame the model "
            "was fitted to)"
        )
    return values, float(values.mean())


def conditional_effects(
    fit,
    effect: str,
    *,
    data=None,
    conditions: Mapping | None = None,
    resolution: int = 100,
    prob: float = 0.95,
) -> pd.DataFrame:
    """The expected response against ``effect``, other predictors at their mean or
    reference level, group effects left out (the population level), as brms's
    ``conditional_effects``.

    Parameters
    ----------
    fit : Fit
    effect : str
        A predictor column of the data (``"x"``; ``"cat"`` for a categorical one).
    data : data frame, optional
        The data the model was fitted to: needed when a predictor enters through a
        transformation or an offset; otherwise the fit's design gives every mean and range.
    conditions : mapping, optional
        Values of other predictors to hold them at instead (brms's ``conditions``).
    resolution : int
        Number of values of a numeric ``effect``, evenly spaced over its range (brms's 100).
    prob : float
        Probability of the central interval (default 0.95, as brms).

    Returns
    -------
    pandas.DataFrame
        One row per value of ``effect``: the predictor values used, then ``estimate``
        (posterior median of the expected response), ``lower`` and ``upper`` (the
        interval). ``attrs["effect"]``, ``attrs["response"]`` and ``attrs["prob"]`` name
        what it shows.

    Raises
    ------
    DataError
        ``effect`` is not a population-level predictor of the model, or a value is needed
        that only ``data=`` can give.

    Examples
    --------
    >>> import multilevel as ml                               # doctest: +SKIP
    >>> fit = ml.fit("log_radon ~ floor + log_uppm + (1 | county)",
    ...              ml.datasets.load("radon"))               # doctest: +SKIP
    >>> fit.conditional_effects("log_uppm").head()            # doctest: +SKIP
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob!r}")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution!r}")
    formula = fit.spec.design.info.formula
    predictors, groups, trials = _roles(formula)
    if effect not in predictors:
        raise DataError(
            f"{effect!r} is not a predictor of the model; its predictors are "
            + (", ".join(predictors) or "(none)")
        )
    conditions = dict(conditions or {})
    unknown = [c for c in conditions if c not in predictors]
    if unknown:
        raise DataError(
            f"conditions name {', '.join(map(repr, unknown))}, not predictors of the model "
            f"({', '.join(predictors)})"
        )
    values, _ = _values(fit, effect, data)
    if values is None:
        factor = _categorical(fit.spec.design.info, effect)
        if factor is not None:
            grid = list(factor.levels)
        else:
            grid = list(pd.unique(pd.Series(data[effect]).dropna()))
    else:
        grid = np.linspace(values.min(), values.max(), resolution)
    n = len(grid)
    table = {effect: grid}
    for column in predictors:
        if column != effect:
            value = conditions[column] if column in conditions else _values(fit, column, data)[1]
            table[column] = [value] * n
    frame = pd.DataFrame(table)
    newdata = frame.copy()
    for column in groups:
        newdata[column] = POPULATION_LEVEL
    for column in trials:
        newdata[column] = 1
    draws = fit.predict(newdata, kind="mean", new_groups="population", summary=False)
    tail = (1 - prob) / 2
    lower, median, upper = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
    frame["estimate"], frame["lower"], frame["upper"] = median, lower, upper
    frame.attrs.update(
        effect=effect,
        response=fit.spec.design.response or "response",
        prob=prob,
        trials_set_to_1=bool(trials),
    )
    return frame
