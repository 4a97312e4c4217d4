"""Model comparison by PSIS-LOO (brms's ``loo_compare``, ArviZ's ``compare``) and the
Pareto ``k`` diagnostics of one fit's LOO (the ``loo`` package's table).

Both read :meth:`Fit.loo <multilevel.results.fit.Fit.loo>`, which goes through
:mod:`multilevel.results.arviz_bridge`, so the numbers are ArviZ's whichever line is
installed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from multilevel.errors import ConvergenceWarning, DataError
from multilevel.results import arviz_bridge

__all__ = ["COMPARE_COLUMNS", "loo_compare", "loo_summary", "pareto_k_table"]

#: Columns of :func:`loo_compare`.
COMPARE_COLUMNS = ("elpd_loo", "se", "elpd_diff", "se_diff", "p_loo", "looic", "n_high_k")


def _named(fits, names) -> dict:
    if len(fits) == 1 and isinstance(fits[0], Mapping):
        if names is not None:
            raise ValueError("give names either as the mapping's keys or as names=, not both")
        named = dict(fits[0])
    else:
        names = list(names) if names is not None else [f"fit{i + 1}" for i in range(len(fits))]
        if len(names) != len(fits) or len(set(names)) != len(names):
            raise ValueError(f"names must be {len(fits)} distinct names, got {names!r}")
        named = dict(zip(names, fits, strict=True))
    if len(named) < 2:
        raise ValueError("loo_compare needs at least two fits")
    for name, fit in named.items():
        if not hasattr(fit, "loo"):
            raise DataError(
                f"{name} is a {type(fit).__name__}: LOO needs posterior draws (a point "
                "fit from method='reml' or 'ml' has none; compare those with their "
                "log-likelihoods or refit with method='exact')"
            )
    return named


def _loo(name: str, fit):
    """``fit.loo()``, its warnings re-issued with the model's name."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit.loo()
    for w in caught:
        message = str(w.message)
        if issubclass(w.category, ConvergenceWarning):
            message = f"{name}: {message}"
        warnings.warn(message, w.category, stacklevel=3)
    return result


def loo_compare(*fits, names=None) -> pd.DataFrame:
    """Compare fits of the same data by their expected log predictive density (PSIS-LOO).

    As brms's ``loo_compare`` and ArviZ's ``compare``: the best model (highest
    ``elpd_loo``) first, with ``elpd_diff`` 0; each other model's ``elpd_diff`` is its
    difference to the best (negative) and ``se_diff`` the standard error of that
    difference, ``sqrt(n * var(elpd_i - elpd_i,best))`` from the pointwise values. A
    difference within about two ``se_diff`` is not a clear preference.

    Parameters
    ----------
    *fits : Fit, or one mapping of name to Fit
        Two or more fits of the same rows (the same response values).
    names : sequence of str, optional
        Their names (default ``fit1``, ``fit2``, ... in the order given).

    Returns
    -------
    pandas.DataFrame
        Indexed by name, best first; columns :data:`COMPARE_COLUMNS`: ``elpd_loo`` and its
        standard error ``se``, ``elpd_diff``, ``se_diff``, ``p_loo`` (effective number of
        parameters), ``looic`` (``-2 * elpd_loo``, brms's information criterion) and
        ``n_high_k`` (rows whose Pareto ``k`` exceeds ArviZ's threshold ``good_k``).

    Raises
    ------
    DataError
        A fit without draws or without a pointwise log-likelihood, or fits of different rows.

    Warns
    -----
    ConvergenceWarning
        For each fit with rows of high Pareto ``k`` (its name first): its ELPD is unreliable.

    Examples
    --------
    >>> import multilevel as ml                                     # doctest: +SKIP
    >>> ml.loo_compare(fit_a, fit_b, names=["slopes", "intercepts"])  # doctest: +SKIP
    """
    named = _named(fits, names)
    ys = [np.asarray(f.spec.design.y, dtype=float) for f in named.values()]
    if any(y.shape != ys[0].shape or not np.array_equal(y, ys[0]) for y in ys[1:]):
        raise DataError(
            "loo_compare needs fits of the same rows and response: "
            + ", ".join(f"{n} has {len(y)} rows" for n, y in zip(named, ys, strict=True))
        )
    results = {name: _loo(name, fit) for name, fit in named.items()}
    pointwise = {n: arviz_bridge.elpd_pointwise(r) for n, r in results.items()}
    elpd = {n: float(np.sum(p)) for n, p in pointwise.items()}
    order = sorted(named, key=lambda n: -elpd[n])
    best = pointwise[order[0]]
    rows = []
    for name in order:
        diff = pointwise[name] - best
        k = np.asarray(results[name]["pareto_k"])
        rows.append(
            {
                "elpd_loo": elpd[name],
                "se": float(results[name]["se"]),
                "elpd_diff": float(np.sum(diff)),
                "se_diff": float(np.sqrt(len(diff) * np.var(diff))),
                "p_loo": arviz_bridge.effective_parameters(results[name]),
                "looic": -2.0 * elpd[name],
                "n_high_k": int(np.sum(k > float(results[name]["good_k"]))),
            }
        )
    return pd.DataFrame(rows, index=pd.Index(order, name="model"), columns=list(COMPARE_COLUMNS))


def pareto_k_table(k, good_k: float = 0.7) -> pd.DataFrame:
    """Rows by Pareto ``k`` range, as the ``loo`` package prints them: ``good`` (``k <=
    good_k``), ``bad`` (up to 1) and ``very bad`` (above 1), with counts and shares.

    Examples
    --------
    >>> pareto_k_table([0.1, 0.2, 0.8, 1.3])
                       rows  share
    range
    good (k <= 0.70)      2   0.50
    bad (0.70 < k <= 1)   1   0.25
    very bad (k > 1)      1   0.25
    """
    k = np.asarray(k, dtype=float)
    counts = [
        int(np.sum(k <= good_k)),
        int(np.sum((k > good_k) & (k <= 1.0))),
        int(np.sum(k > 1.0)),
    ]
    labels = [f"good (k <= {good_k:.2f})", f"bad ({good_k:.2f} < k <= 1)", "very bad (k > 1)"]
    share = [c / max(k.size, 1) for c in counts]
    return pd.DataFrame({"rows": counts, "share": share}, index=pd.Index(labels, name="range"))


def loo_summary(result) -> dict[str, float]:
    """``elpd_loo``, ``se``, ``p_loo``, ``looic`` and ``good_k`` of a :meth:`Fit.loo
    <multilevel.results.fit.Fit.loo>` result, as plain numbers."""
    value = arviz_bridge.elpd(result)
    return {
        "elpd_loo": value,
        "se": float(result["se"]),
        "p_loo": arviz_bridge.effective_parameters(result),
        "looic": -2.0 * value,
        "good_k": float(result["good_k"]),
    }
