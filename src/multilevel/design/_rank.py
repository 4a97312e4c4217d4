"""Aliased population-level columns: lme4's rank check of the fixed-effect model matrix.

lme4 (``lmerControl(check.rankX = "message+drop.cols")``) takes R's QR decomposition of X
(LINPACK ``dqrdc2``, which moves a column to the end when what is left of it, once the
columns before it are projected out, is shorter than ``tol = 1e-7`` times its own length),
keeps the first ``rank`` columns in that order and says "fixed-effect model matrix is rank
deficient so dropping 1 column / coefficient". :func:`aliased_columns` makes the same choice:
going left to right, a column is dropped when it is (to ``tol``) a linear combination of the
columns kept before it, so ``y ~ floor + I(2 * floor)`` keeps ``floor`` and drops
``I(2 * floor)``, as lme4 does.

The test runs on the ``p x p`` triangular factor R of ``X = QR`` (``||X v|| = ||R v||`` for
every ``v``), computed by blocks of rows, so it needs no copy of ``X``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["TOLERANCE", "aliased_columns", "describe_aliased"]

#: lme4's (and R's ``qr``) tolerance.
TOLERANCE = 1e-7

_BLOCK = 1 << 16  # rows per block of the QR decomposition


def _triangular_factor(X: np.ndarray) -> np.ndarray:
    """R of ``X = QR``, ``(p, p)``, from QR decompositions of blocks of rows."""
    n, p = X.shape
    R = np.zeros((0, p))
    for start in range(0, n, _BLOCK):
        block = np.asarray(X[start : start + _BLOCK], dtype=float)
        R = np.linalg.qr(np.vstack([R, block]), mode="r")
    return R


def aliased_columns(X: np.ndarray, *, tol: float = TOLERANCE) -> tuple[list[int], np.ndarray]:
    """Columns of ``X`` that are linear combinations of the columns before them.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, p)`` population-level design.
    tol : float
        A column is aliased when what is left of it after projecting out the kept columns is
        shorter than ``tol`` times its length (or it is 0 in every row).

    Returns
    -------
    aliased : list of int
        Positions of the columns to drop, in order.
    coefficients : numpy.ndarray
        ``(p, p)``: column ``j`` holds, for an aliased ``j``, its coefficients on the kept
        columns (least squares); zeros elsewhere.

    Examples
    --------
    >>> x = np.arange(6.0)
    >>> X = np.column_stack([np.ones(6), x, 2 * x, x**2])
    >>> aliased, coef = aliased_columns(X)
    >>> aliased, (coef[:, 2].round(6) + 0.0).tolist()
    ([2], [0.0, 2.0, 0.0, 0.0])
    """
    n, p = X.shape
    coefficients = np.zeros((p, p))
    if p == 0 or n == 0:
        return [], coefficients
    R = _triangular_factor(X)
    kept: list[int] = []
    basis = np.zeros((R.shape[0], 0))  # orthonormal basis of the kept columns of R
    aliased: list[int] = []
    for j in range(p):
        column = R[:, j]
        length = float(np.linalg.norm(column))
        rest = column - basis @ (basis.T @ column)
        rest = rest - basis @ (basis.T @ rest)  # twice is enough (Kahan, Parlett)
        left = float(np.linalg.norm(rest))
        if length == 0.0 or left < tol * length:
            aliased.append(j)
            if kept:
                solution = np.linalg.lstsq(R[:, kept], column, rcond=None)[0]
                coefficients[kept, j] = solution
            continue
        kept.append(j)
        basis = np.column_stack([basis, rest / left])
    return aliased, coefficients


def _number(value: float) -> str:
    text = f"{value:.4g}"
    return "" if text == "1" else "-" if text == "-1" else f"{text} * "


def describe_aliased(
    names: Sequence[str], aliased: Sequence[int], coefficients: np.ndarray, X: np.ndarray
) -> list[str]:
    """One phrase per aliased column: what it is a combination of.

    Examples
    --------
    >>> X = np.column_stack([np.ones(3), [0.0, 1, 2], [0.0, 2, 4], [5.0, 5, 5]])
    >>> aliased, coef = aliased_columns(X)
    >>> describe_aliased(["Intercept", "x", "x2", "c"], aliased, coef, X)
    ['x2 (= 2 * x)', 'c (= 5 * Intercept)']
    """
    out = []
    for j in aliased:
        column = np.asarray(X[:, j], dtype=float)
        if not np.any(column):
            out.append(f"{names[j]} (0 in every row)")
            continue
        scale = np.abs(coefficients[:, j]).max()
        terms = [
            f"{_number(c)}{names[k]}"
            for k, c in enumerate(coefficients[:, j])
            if abs(c) > 1e-8 * scale
        ]
        combination = " + ".join(terms).replace("+ -", "- ")
        out.append(f"{names[j]} (= {combination})")
    return out
