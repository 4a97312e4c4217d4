"""lme4's accessors, shared by :class:`~multilevel.results.fit.Fit` and
:class:`~multilevel.results.estimate.PointFit`: ``VarCorr`` as lme4's
``as.data.frame(VarCorr(m))``, and ``coef`` / ``ranef`` of every grouping factor at once.

Examples
--------
>>> import multilevel as ml
>>> fit = ml.fit("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"),
...              method="reml")
>>> print(fit.VarCorr().round(3).to_string())  # doctest: +NORMALIZE_WHITESPACE
        grp       var1  var2     vcov   sdcor
0   Subject  Intercept   NaN  612.090  24.740
1   Subject       Days   NaN   35.072   5.922
2   Subject  Intercept  Days    9.604   0.066
3  Residual        NaN   NaN  654.941  25.592
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from multilevel.spec.covariance import correlation_pairs

__all__ = ["VARCORR_COLUMNS", "per_group", "varcorr_table"]

#: Columns of :func:`varcorr_table`, as lme4's ``as.data.frame(VarCorr(m))``.
VARCORR_COLUMNS = ("grp", "var1", "var2", "vcov", "sdcor")


def varcorr_table(spec, values: Mapping[str, np.ndarray | float]) -> pd.DataFrame:
    """Variance components in lme4's ``as.data.frame(VarCorr(m))`` layout.

    One row per SD (``var2`` missing: ``vcov`` the variance, ``sdcor`` the SD), then one per
    correlation of each grouping term (``vcov`` the covariance, ``sdcor`` the correlation),
    then ``Residual`` when the family has a ``sigma`` without its own formula.
    Coefficients are named as in the parameter names (``Intercept`` for lme4's
    ``(Intercept)``); a distributional formula's carry its parameter (``sigma_Intercept``).

    Parameters
    ----------
    spec : ModelSpec
    values : mapping
        brms name -> a number (point estimates) or an array of draws (each row is then the
        mean over the draws of that draw's variance, SD, covariance or correlation).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`VARCORR_COLUMNS`.
    """
    rows = []

    def mean(v) -> float:
        return float(np.mean(np.asarray(v, dtype=float)))

    for block in spec.all_covariance:
        coefs = [c if block.dpar is None else f"{block.dpar}_{c}" for c in block.coefficients]
        sds = [np.asarray(values[n], dtype=float) for n in block.sd_names]
        for coef, sd in zip(coefs, sds, strict=True):
            rows.append((block.group, coef, np.nan, mean(sd**2), mean(sd)))
        for name, (a, b) in zip(block.cor_names, correlation_pairs(block.q), strict=False):
            cor = np.asarray(values[name], dtype=float)
            rows.append((block.group, coefs[a], coefs[b], mean(cor * sds[a] * sds[b]), mean(cor)))
    if "sigma" in spec.parameter_names and spec.family.name in ("gaussian", "student_t"):
        sigma = np.asarray(values["sigma"], dtype=float)
        rows.append(("Residual", np.nan, np.nan, mean(sigma**2), mean(sigma)))
    return pd.DataFrame(rows, columns=list(VARCORR_COLUMNS))


def per_group(
    groups, one: Callable[[str], pd.DataFrame], group: str | None
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """``one(group)``, or ``{group: one(group)}`` for every grouping factor when ``group``
    is None (lme4's ``coef(m)`` and ``ranef(m)``: a list with one table per factor)."""
    if group is None:
        return {g: one(g) for g in groups}
    return one(group)
