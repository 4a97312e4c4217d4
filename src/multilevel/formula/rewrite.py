"""Term algebra: the right-hand side's syntax tree → ordered population-level terms.

R's rules (Wilkinson & Rogers 1973; Chambers & Hastie 1992), applied left to right:

=============  ===============================================================
``a + b``      union of the terms, first occurrence kept
``a - b``      the terms of ``a`` without those of ``b``; ``- 1`` drops the intercept
``a:b``        every term of ``a`` interacted with every term of ``b`` (``a:a`` is ``a``)
``a * b``      ``a + b + a:b``
``(a+b+c)^2``  all interactions of the terms up to order 2
``a / b``      ``a + (all factors of a):b`` (``b`` nested in ``a``)
``a %in% b``   ``a:b``
``0``, ``1``   no intercept / intercept (``0 +``, ``+ 0``, ``- 1``, ``+ 1``)
=============  ===============================================================

Terms are compared as sets of factors (``a:b`` is ``b:a``) but keep the factor order in which
they were first written; finally they are sorted by order, stably, so that within an order
they stay as written: ``b:a + c + a`` gives ``c, a, b:a``. (R also sorts by order but writes
factors in the order the variables first appear in the formula; keeping the term as written
makes ``parse(str(f)) == f`` hold.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multilevel.formula._diagnostics import formula_error
from multilevel.formula.ast import Bar, BinOp, Call, Name, Node, Number, Paren, UnaryOp
from multilevel.formula.terms import Term

__all__ = [
    "Context",
    "Expansion",
    "expand",
    "to_terms",
    "expression_key",
    "ADDITION_KINDS",
    "reject_special",
]

#: Addition terms accepted on the left of ``~`` (``y | trials(n) ~ ...``).
ADDITION_KINDS = ("trials", "se", "weights")

#: brms / mgcv special terms we do not support, with what they are.
_UNSUPPORTED_SPECIALS = {
    "s": "a spline smooth",
    "t2": "a tensor-product smooth",
    "gp": "a Gaussian process",
    "mo": "a monotonic effect",
    "me": "a measurement-error term",
    "mi": "a missing-value term",
    "cs": "a category-specific effect",
    "mmc": "a multiple-membership covariate",
    "ar": "an autocorrelation term",
    "ma": "an autocorrelation term",
    "arma": "an autocorrelation term",
    "cosy": "an autocorrelation term",
    "car": "a spatial autocorrelation term",
    "sar": "a spatial autocorrelation term",
    "fcor": "a fixed residual correlation",
    "gr": "a grouping term",
    "mvbind": "a multivariate response",
}


def expression_key(node: Node) -> str:
    """The string that stands for an expression: a column's name, else the exact source text.

    Examples
    --------
    >>> from multilevel.formula.parser import parse_expression
    >>> expression_key(parse_expression("`my var`")), expression_key(parse_expression("log(x)"))
    ('my var', 'log(x)')
    """
    return node.name if isinstance(node, Name) else node.source


@dataclass
class Context:
    """What the rewrite steps share while building one formula.

    Holds the text (for error carets) and the syntax tree behind every factor, column and
    expression string.
    """

    text: str
    expressions: dict[str, Node] = field(default_factory=dict)

    def error(self, message: str, node: Node) -> Exception:
        """A :class:`FormulaError` pointing at ``node``."""
        return formula_error(message, self.text, node.span.start, node.span.end)

    def register(self, key: str, node: Node) -> str:
        """Remember the syntax tree behind ``key``; return ``key``."""
        known = self.expressions.get(key)
        if known is None:
            self.expressions[key] = node
        elif isinstance(known, Name) != isinstance(node, Name):
            raise self.error(
                f"the column `{key}` and the expression {key} have the same text; rename the "
                "column",
                node,
            )
        return key


@dataclass
class Expansion:
    """Intermediate result of expanding part of a right-hand side."""

    terms: list[tuple[str, ...]] = field(default_factory=list)
    intercept: bool | None = None  # None: not said, True: 1 / -0, False: 0 / -1
    groups: list[Paren] = field(default_factory=list)
    offsets: list[Call] = field(default_factory=list)
    factors: list[Call] = field(default_factory=list)

    def add_terms(self, terms: list[tuple[str, ...]]) -> None:
        for t in terms:
            if not _contains(self.terms, t):
                self.terms.append(t)


def _contains(terms: list[tuple[str, ...]], term: tuple[str, ...]) -> bool:
    return any(set(t) == set(term) for t in terms)


def reject_special(call: Call, ctx: Context, where: str) -> None:
    """Raise a :class:`FormulaError` if ``call`` is a formula special that is misplaced here."""
    f = call.func
    if f in ADDITION_KINDS:
        raise ctx.error(
            f"{call.source} is an addition term; write it on the left of '~', e.g. "
            f"y | {call.source} ~ ...",
            call,
        )
    if f == "mm":
        raise ctx.error(
            f"{call.source} is only valid as a grouping factor, e.g. (1 | {call.source})", call
        )
    if f == "cbind":
        raise ctx.error(
            f"{call.source} is only valid as mm(..., weights = cbind(w1, w2)); for a binomial "
            "response write 'successes | trials(n) ~ ...'",
            call,
        )
    if f in ("offset", "factors") and where != "population":
        raise ctx.error(f"{call.source} is only valid among population-level terms", call)
    if f in _UNSUPPORTED_SPECIALS:
        raise ctx.error(
            f"{f}() ({_UNSUPPORTED_SPECIALS[f]} in brms) is not supported in {call.source}", call
        )


def expand(node: Node, ctx: Context, *, where: str = "population") -> Expansion:
    """Expand a right-hand-side syntax tree by the term algebra.

    Parameters
    ----------
    node : Node
        Right-hand side, or the left side of a group term.
    ctx : Context
        Shared state of the formula being built.
    where : {"population", "group"}
        ``"group"`` for the coefficients of a group term: no group terms and no offsets.

    Returns
    -------
    Expansion

    Raises
    ------
    FormulaError
        For numbers other than 0 and 1, intercepts, group terms or offsets inside an
        interaction, ``x^2`` on a single term, ``.``, or misplaced special functions.
    """
    if isinstance(node, Name):
        if node.name == "." and not node.quoted:
            raise ctx.error(
                "'.' (all other columns) is not supported; list the predictors by name", node
            )
        if node.name == "Intercept" and not node.quoted:
            raise ctx.error(
                "brms's 'Intercept' variable is not supported; write 1 for the intercept "
                "(or `Intercept` in backticks for a data column of that name)",
                node,
            )
        return Expansion(terms=[(ctx.register(node.name, node),)])
    if isinstance(node, Number):
        if node.value in (0.0, 1.0):
            return Expansion(intercept=node.value == 1.0)
        raise ctx.error(
            f"the number {node.source} is not a term; only 0 and 1 (the intercept) may appear "
            "in a formula, wrap arithmetic in I(...)",
            node,
        )
    if isinstance(node, Call):
        reject_special(node, ctx, where)
        if node.func == "offset":
            if len(node.args) != 1 or node.keywords:
                raise ctx.error(f"offset() takes exactly one argument in {node.source}", node)
            return Expansion(offsets=[node])
        if node.func == "factors":
            return Expansion(factors=[node])
        return Expansion(terms=[(ctx.register(node.source, node),)])
    if isinstance(node, Paren):
        if isinstance(node.body, Bar):
            if where != "population":
                raise ctx.error(f"group terms cannot be nested: {node.source}", node)
            return Expansion(groups=[node])
        return expand(node.body, ctx, where=where)
    if isinstance(node, UnaryOp):
        operand = expand(node.operand, ctx, where=where)
        if node.op == "+":
            return operand
        return _subtract(Expansion(), operand, node, ctx)
    if isinstance(node, BinOp):
        left = expand(node.left, ctx, where=where)
        if node.op == "^":
            _check_multiplicand(left, node.left, node, ctx)
            return _power(left, node, ctx)
        right = expand(node.right, ctx, where=where)
        if node.op == "+":
            return _plus(left, right)
        if node.op == "-":
            return _subtract(left, right, node, ctx)
        for side, part in ((left, node.left), (right, node.right)):
            _check_multiplicand(side, part, node, ctx)
        if node.op in (":", "%in%"):
            return Expansion(terms=_interact(left.terms, right.terms))
        if node.op == "*":
            result = Expansion(terms=list(left.terms))
            result.add_terms(right.terms)
            result.add_terms(_interact(left.terms, right.terms))
            return result
        if node.op == "/":
            outer = tuple(dict.fromkeys(f for t in left.terms for f in t))
            result = Expansion(terms=list(left.terms))
            result.add_terms(_interact([outer], right.terms))
            return result
    raise ctx.error(f"{node.source} cannot be used as a term", node)


def _plus(left: Expansion, right: Expansion) -> Expansion:
    result = Expansion(
        terms=list(left.terms),
        intercept=left.intercept if right.intercept is None else right.intercept,
        groups=left.groups + right.groups,
        offsets=left.offsets + right.offsets,
        factors=left.factors + right.factors,
    )
    result.add_terms(right.terms)
    return result


def _subtract(left: Expansion, right: Expansion, node: Node, ctx: Context) -> Expansion:
    if right.groups:
        raise ctx.error(f"a group term cannot be removed with '-': {node.source}", node)
    if right.offsets:
        raise ctx.error(f"an offset cannot be removed with '-': {node.source}", node)
    if right.factors:
        raise ctx.error(f"a factors() term cannot be removed with '-': {node.source}", node)
    intercept = left.intercept if right.intercept is None else not right.intercept
    return Expansion(
        terms=[t for t in left.terms if not _contains(right.terms, t)],
        intercept=intercept,
        groups=list(left.groups),
        offsets=list(left.offsets),
        factors=list(left.factors),
    )


def _check_multiplicand(side: Expansion, part: Node, node: BinOp, ctx: Context) -> None:
    op = ctx.text[node.left.span.end : node.right.span.start].strip() or node.op
    if side.groups:
        raise ctx.error(
            f"group term {side.groups[0].source} cannot be used with '{op}'; add it with '+'",
            node,
        )
    if side.offsets or side.factors:
        special = (side.offsets + side.factors)[0]
        raise ctx.error(f"{special.source} cannot be used with '{op}'; add it with '+'", node)
    if side.intercept is not None:
        raise ctx.error(
            f"the intercept ({part.source}) cannot be used with '{op}' in {node.source}", node
        )


def _interact(left: list[tuple[str, ...]], right: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    result: list[tuple[str, ...]] = []
    for a in left:
        for b in right:
            t = a + tuple(f for f in b if f not in a)
            if not _contains(result, t):
                result.append(t)
    return result


def _power(base: Expansion, node: BinOp, ctx: Context) -> Expansion:
    exponent = node.right
    if not (isinstance(exponent, Number) and exponent.value >= 1 and exponent.value.is_integer()):
        raise ctx.error(
            f"the exponent in {node.source} must be a whole number of at least 1", exponent
        )
    degree = int(exponent.value)
    if degree > 1 and len(base.terms) < 2:
        left = node.left.source
        raise ctx.error(
            f"{node.source} is just {left} in formula algebra ('^' crosses a sum of terms); "
            f"for a power write I({left}^{exponent.source}) or poly({left}, {exponent.source})",
            node,
        )
    result = Expansion(terms=list(base.terms))
    for _ in range(degree - 1):
        result.add_terms(_interact(result.terms, base.terms))
    return result


def to_terms(terms: list[tuple[str, ...]]) -> tuple[Term, ...]:
    """Sort terms by order, stably, as R does.

    Examples
    --------
    >>> [t.name for t in to_terms([("b", "a"), ("c",), ("a",)])]
    ['c', 'a', 'b:a']
    """
    return tuple(Term(t) for t in sorted(terms, key=len))
