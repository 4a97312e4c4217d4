"""Formula front end: text → :class:`Formula` (lexer → parser → syntax tree → terms).

Supported syntax (lme4 and brms):

- response and addition terms: ``y ~ ...``, ``log(y) ~ ...``, ``y | trials(n) ~ ...``,
  ``y | se(s) ~ ...``, ``y | weights(w) ~ ...``, ``y | se(s) + weights(w) ~ ...``; lme4's
  binomial ``cbind(successes, failures) ~ ...`` (read as ``successes | trials(successes +
  failures) ~ ...``); a one-sided ``~ x`` has no response.
- population-level terms: ``a``, ``a:b``, ``a*b``, ``(a + b + c)^2``, ``a/b``, ``a %in% b``,
  ``1``, ``0 +``, ``+ 0``, ``- 1``, ``- a``, transforms (any call, stored as its exact source
  text: ``log(x)``, ``poly(x, 2)``, ``I(x^2)``, ``C(cat, Treatment('b'))``), ``offset(log(n))``,
  backtick names `` `my var` ``.
- group terms: ``(1 | g)``, ``(1 + x | g)``, ``(x | g)``, ``(0 + x | g)``, ``(1 + x || g)``,
  ``(1 | g1:g2)``, ``(1 | a/b/c)``, crossed ``(1 | g1) + (1 | g2)``, multiple membership
  ``(1 | mm(g1, g2, weights = cbind(w1, w2), scale = FALSE))``.
- distributional formulas: ``parse("y ~ x", dpars={"sigma": "sigma ~ 1 + (1 | g)"})`` or
  ``dpars=["sigma ~ 1 + (1 | g)"]``.

Rejected with a :class:`~multilevel.errors.FormulaError` that says what to write instead:
brms's ``(1 | ID | g)`` correlation IDs, ``.``, brms special
terms (``s()``, ``gp()``, ``mo()``, ``ar()``...), ``x^2`` on a single term (it means ``x``),
numbers other than 0 and 1 as terms, and crossed factors inside one bar (``(1 | a + b)``).
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from multilevel.errors import FormulaError, FormulaSyntaxError
from multilevel.formula.ast import Node, Span
from multilevel.formula.build import build_formula
from multilevel.formula.parser import parse_expression
from multilevel.formula.terms import Formula, GroupTerm, Membership, Term

__all__ = [
    "parse",
    "parse_expression",
    "Formula",
    "Term",
    "GroupTerm",
    "Membership",
    "Node",
    "Span",
]


def parse(formula: str, *, dpars: Mapping[str, str] | Iterable[str] | str | None = None) -> Formula:
    """Parse a model formula into a :class:`Formula`.

    Parameters
    ----------
    formula : str
        The main formula, e.g. ``"y ~ x + (1 + x | g)"``.
    dpars : dict of str to str, or iterable of str, optional
        Formulas of distributional parameters, each with the parameter on the left of ``~``:
        ``{"sigma": "sigma ~ 1 + (1 | g)"}`` or ``["sigma ~ 1 + (1 | g)"]``.

    Returns
    -------
    Formula

    Raises
    ------
    FormulaSyntaxError
        Text that cannot be parsed; the message shows the formula and a caret under the column.
    FormulaError
        A formula that parses but makes no sense (missing ``~``, unknown addition term, a
        variable on both sides of ``|``, ...); the message names the term.
    TypeError
        If a formula is not a string.

    Examples
    --------
    >>> f = parse("y | trials(n) ~ x + (1 + x || g) + (1 | a/b)")
    >>> f.response, f.additions, [t.name for t in f.terms]
    ('y', (('trials', 'n'),), ['x'])
    >>> for block in f.groups:
    ...     print(block.name, block.coefficients, block.correlated)
    g ('Intercept',) False
    g ('x',) False
    a ('Intercept',) True
    a:b ('Intercept',) True
    >>> f = parse("y ~ x", dpars={"sigma": "sigma ~ 1 + (1 | g)"})
    >>> f.dpars["sigma"].groups[0].name
    'g'
    >>> parse("y ~ x + (1 | g")
    Traceback (most recent call last):
    ...
    multilevel.errors.FormulaSyntaxError: unclosed parenthesis
      y ~ x + (1 | g
              ^
    """
    _require_str(formula, "formula")
    main = _build_cached(formula)
    sub = _parse_dpars(dpars)
    if not sub:
        return main
    return replace(main, dpars=MappingProxyType(sub))


@functools.lru_cache(maxsize=256)
def _build_cached(formula: str) -> Formula:
    """:func:`build_formula`, remembered: a Formula is immutable, and refitting one model
    (bootstrap, simulation studies, benchmarks) should not parse it again."""
    return build_formula(formula)


def _require_str(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string such as 'y ~ x', not {type(value).__name__}")


def _parse_dpars(dpars: Mapping[str, str] | Iterable[str] | str | None) -> dict[str, Formula]:
    if dpars is None:
        return {}
    if isinstance(dpars, str):
        dpars = [dpars]
    result: dict[str, Formula] = {}
    if isinstance(dpars, Mapping):
        for name, text in dpars.items():
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise FormulaError(f"distributional parameter names are identifiers, not {name!r}")
            _require_str(text, f"the formula for {name}")
            _check_name(name)
            result[name] = _parse_one(text, name)
        return result
    for text in dpars:
        _require_str(text, "a distributional formula")
        sub = _parse_one(text, "")
        _check_name(sub.parameter)
        if sub.parameter in result:
            raise FormulaError(f"two formulas are given for the parameter {sub.parameter}")
        result[sub.parameter] = sub
    return result


def _check_name(name: str) -> None:
    if name == "mu":
        raise FormulaError(
            "the main formula already predicts mu; give dpars only for other parameters "
            "such as sigma"
        )


def _parse_one(text: str, name: str) -> Formula:
    try:
        return build_formula(text, parameter=name)
    except (FormulaSyntaxError, FormulaError) as exc:
        where = f"in the formula for {name}: " if name else "in a distributional formula: "
        new = type(exc)(where + str(exc))
        new.__dict__.update(exc.__dict__)
        raise new from None
