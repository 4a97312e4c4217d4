"""Terms → model-matrix columns: R's rules for treatment contrasts and column names.

For each term and each categorical factor in it, R (``model.matrix``) uses treatment
contrasts — one column per level except the reference — when the term without that factor is
already spanned (it is empty, or contained in an earlier term), and full dummy coding
otherwise. Without an intercept, the first categorical factor of the first term that has one
is dummy coded. So ``~ cat`` gives ``Intercept, catb, catc``; ``~ 0 + cat`` gives ``cata, catb,
catc``; ``~ x + x:cat`` gives ``x, x:catb, x:catc`` and ``~ x:cat`` gives ``x:cata, x:catb,
x:catc``.

Columns of an interaction are the products of its factors' columns, the first factor varying
fastest (as in R); their names join the factors' column names with ``:``. A numeric factor's
column is named by its text (``x``, ``log(x)``; ``poly(x, 2)1`` and ``poly(x, 2)2`` for several
columns), a categorical one by its text and the level (``catb``, ``C(cat)b``, ``I(x > 1)True``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from multilevel.design._evaluate import CATEGORICAL, FactorInfo
from multilevel.formula.terms import INTERCEPT_NAME, Term

__all__ = ["TermCoding", "plan_terms", "build_columns"]


@dataclass(frozen=True)
class TermCoding:
    """How one term becomes columns.

    Parameters
    ----------
    term : str
        The term's name (``"Intercept"``, ``"x:cat"``).
    factors : tuple of str
        Its factors, in the order written.
    contrasts : tuple of bool
        Per factor: True for treatment contrasts (the reference level dropped), False for full
        dummy coding. Ignored for numeric factors.
    names : tuple of str
        Names of the term's columns.
    """

    term: str
    factors: tuple[str, ...]
    contrasts: tuple[bool, ...]
    names: tuple[str, ...]


def _levels_kept(info: FactorInfo, contrast: bool) -> list[int]:
    if info.kind != CATEGORICAL or not contrast:
        return list(range(info.width))
    return [i for i in range(info.width) if i != info.reference]


def _column_names(factors: Sequence[FactorInfo], contrasts: Sequence[bool]) -> tuple[str, ...]:
    names = [""]
    for info, contrast in zip(factors, contrasts, strict=True):
        own = [info.text + info.suffixes[i] for i in _levels_kept(info, contrast)]
        names = [f"{prev}:{cur}" if prev else cur for cur in own for prev in names]
    return tuple(names)


def plan_terms(
    terms: Sequence[Term], intercept: bool, infos: Mapping[str, FactorInfo]
) -> tuple[TermCoding, ...]:
    """Coding of every term, the intercept first when present (R's ``model.matrix`` rules).

    Parameters
    ----------
    terms : sequence of Term
        Terms without the intercept, in order.
    intercept : bool
        Whether the intercept column is there.
    infos : mapping of str to FactorInfo
        The learned factors.

    Returns
    -------
    tuple of TermCoding
    """
    plans: list[TermCoding] = []
    if intercept:
        plans.append(TermCoding(INTERCEPT_NAME, (), (), (INTERCEPT_NAME,)))
    earlier: list[frozenset[str]] = []
    codes: list[list[bool]] = []
    for term in terms:
        factors = set(term.factors)
        row = []
        for factor in term.factors:
            rest = factors - {factor}
            row.append(not rest or any(rest <= e for e in earlier))
        codes.append(row)
        earlier.append(frozenset(factors))
    if not intercept:
        done = False
        for t, term in enumerate(terms):
            for f, factor in enumerate(term.factors):
                if infos[factor].kind == CATEGORICAL:
                    codes[t][f] = False
                    done = True
                    break
            if done:
                break
    for term, row in zip(terms, codes, strict=True):
        factor_infos = [infos[f] for f in term.factors]
        plans.append(
            TermCoding(term.name, term.factors, tuple(row), _column_names(factor_infos, row))
        )
    return tuple(plans)


def build_columns(
    plans: Sequence[TermCoding],
    infos: Mapping[str, FactorInfo],
    values: Mapping[str, np.ndarray],
    n: int,
) -> np.ndarray:
    """The float ``(n, p)`` matrix of the planned terms.

    Parameters
    ----------
    plans : sequence of TermCoding
    infos : mapping of str to FactorInfo
    values : mapping of str to numpy.ndarray
        Per factor: ``(n, k)`` floats (numeric) or ``(n,)`` level codes (categorical).
    n : int
        Number of rows.
    """
    # each term's columns written straight into the matrix (no list of blocks copied into
    # it afterwards: at 10^7 rows each extra copy is 80 MB per column)
    widths = [_width(plan, infos, values) for plan in plans]
    out = np.empty((n, sum(widths)))
    start = 0
    for plan, width in zip(plans, widths, strict=True):
        block = None
        for factor, contrast in zip(plan.factors, plan.contrasts, strict=True):
            info = infos[factor]
            if info.kind == CATEGORICAL:
                kept = _levels_kept(info, contrast)
                own = (values[factor][:, None] == np.asarray(kept)[None, :]).astype(float)
            else:
                own = values[factor]
            block = own if block is None else (own[:, :, None] * block[:, None, :]).reshape(n, -1)
        out[:, start : start + width] = 1.0 if block is None else block
        start += width
    return out


def _width(plan: TermCoding, infos: Mapping[str, FactorInfo], values) -> int:
    """Number of columns of a planned term: the product of its factors' widths."""
    width = 1
    for factor, contrast in zip(plan.factors, plan.contrasts, strict=True):
        info = infos[factor]
        if info.kind == CATEGORICAL:
            width *= len(_levels_kept(info, contrast))
        else:
            width *= values[factor].shape[1]
    return width
