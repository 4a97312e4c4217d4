"""Assemble a :class:`Formula` from text: response, addition terms, terms, offsets, groups."""

from __future__ import annotations

from types import MappingProxyType

from multilevel.formula._diagnostics import formula_error
from multilevel.formula.ast import Bar, BinOp, Call, Name, Node, Number, Paren, iter_nodes
from multilevel.formula.ast import variables as expression_variables
from multilevel.formula.factors import build_factors
from multilevel.formula.groups import build_groups
from multilevel.formula.lexer import OP, tokenize
from multilevel.formula.parser import parse_formula_ast
from multilevel.formula.rewrite import (
    ADDITION_KINDS,
    Context,
    expand,
    expression_key,
    reject_special,
    to_terms,
)
from multilevel.formula.terms import Formula, GroupTerm, Term

__all__ = ["build_formula"]


def build_formula(text: str, *, parameter: str | None = None) -> Formula:
    """Parse one formula and apply the rewrite rules.

    Parameters
    ----------
    text : str
        The formula.
    parameter : str or None
        None for the main formula (``response ~ ...``); for a distributional formula the
        parameter name the left-hand side must spell (``"sigma"`` for ``sigma ~ ...``), or
        ``""`` to accept any parameter name there.

    Returns
    -------
    Formula
        Without ``dpars``.

    Raises
    ------
    FormulaSyntaxError, FormulaError
    """
    if not text.strip():
        raise formula_error("the formula is empty; write e.g. 'y ~ x'", text, 0)
    if not any(t.kind == OP and t.value == "~" for t in tokenize(text)):
        raise formula_error(
            "the formula has no '~'; write 'response ~ predictors', e.g. 'y ~ x'",
            text,
            0,
            len(text.rstrip()),
        )
    tree = parse_formula_ast(text)
    ctx = Context(text)

    response: str | None = None
    additions: tuple[tuple[str, str], ...] = ()
    dpar = "mu"
    if parameter is None:
        if tree.lhs is not None:
            response, additions = _response(tree.lhs, ctx)
    else:
        dpar = _parameter(tree.lhs, parameter, ctx)

    rhs = expand(tree.rhs, ctx)
    terms = to_terms(rhs.terms)
    offsets = tuple(ctx.register(expression_key(o.args[0]), o.args[0]) for o in rhs.offsets)
    groups = build_groups(rhs.groups, ctx)
    factors = build_factors(rhs.factors, ctx)
    if factors and parameter is not None:
        raise ctx.error(
            "factors() belongs in the main formula; a distributional formula cannot have one",
            rhs.factors[0],
        )

    if response is not None:
        _check_response_not_on_rhs(tree.rhs, response, terms, offsets, groups, ctx)

    return Formula(
        text=text,
        response=response,
        additions=additions,
        intercept=rhs.intercept is not False,
        terms=terms,
        offsets=offsets,
        groups=groups,
        factors=factors,
        parameter=dpar,
        expressions=MappingProxyType(dict(ctx.expressions)),
    )


def _unwrap(node: Node) -> Node:
    while isinstance(node, Paren) and not isinstance(node.body, Bar):
        node = node.body
    return node


def _response(lhs: Node, ctx: Context) -> tuple[str, tuple[tuple[str, str], ...]]:
    node = _unwrap(lhs)
    additions: tuple[tuple[str, str], ...] = ()
    if isinstance(node, Bar):
        additions = _additions(node.rhs, ctx)
        node = _unwrap(node.lhs)
    if isinstance(node, Name):
        if node.name == "." and not node.quoted:
            raise ctx.error("'.' is not a response; name the response column", node)
        return ctx.register(node.name, node), additions
    if isinstance(node, Call):
        if node.func == "cbind":
            return _binomial_pair(node, additions, ctx)
        reject_special(node, ctx, "response")
        return ctx.register(node.source, node), additions
    raise ctx.error(
        f"the response {node.source} must be one column or one transform such as log(y)", node
    )


def _binomial_pair(
    node: Call, additions: tuple[tuple[str, str], ...], ctx: Context
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """lme4's binomial response ``cbind(successes, failures)``: the response is the
    successes and ``trials(successes + failures)`` an addition term (brms's spelling)."""
    if len(node.args) != 2 or node.keywords:
        raise ctx.error(
            f"a cbind() response has two columns, successes and failures, as in lme4: "
            f"cbind(successes, failures) ~ ..., not {node.source}",
            node,
        )
    if any(kind == "trials" for kind, _ in additions):
        raise ctx.error(
            f"{node.source} gives the number of trials (successes + failures); remove trials()",
            node,
        )
    successes, failures = node.args
    for part in node.args:
        if isinstance(part, Number):
            raise ctx.error(
                f"{node.source}: successes and failures are columns of the data, not the "
                f"number {part.source}",
                part,
            )
    right = failures if isinstance(failures, Name | Number | Call | Paren) else None
    if right is None:
        right = Paren(span=failures.span, source=f"({failures.source})", body=failures)
    total = BinOp(
        span=node.span,
        source=f"{successes.source} + {right.source}",
        op="+",
        left=successes,
        right=right,
    )
    response = ctx.register(expression_key(successes), successes)
    trials = ctx.register(expression_key(total), total)
    return response, (("trials", trials), *additions)


def _additions(node: Node, ctx: Context) -> tuple[tuple[str, str], ...]:
    items: list[Node] = []

    def flatten(n: Node) -> None:
        n = _unwrap(n)
        if isinstance(n, BinOp) and n.op == "+":
            flatten(n.left)
            flatten(n.right)
        else:
            items.append(n)

    flatten(node)
    valid = ", ".join(f"{k}()" for k in ADDITION_KINDS)
    result: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, Call):
            raise ctx.error(
                f"addition terms after '|' are calls such as trials(n); {item.source} is not "
                f"one (valid addition terms: {valid})",
                item,
            )
        if item.func not in ADDITION_KINDS:
            raise ctx.error(
                f"unknown addition term {item.source}; valid addition terms are: {valid}", item
            )
        if len(item.args) != 1 or item.keywords:
            raise ctx.error(f"{item.func}() takes exactly one argument in {item.source}", item)
        if any(kind == item.func for kind, _ in result):
            raise ctx.error(f"the addition term {item.func}() is given twice", item)
        arg = item.args[0]
        result.append((item.func, ctx.register(expression_key(arg), arg)))
    return tuple(result)


def _parameter(lhs: Node | None, expected: str, ctx: Context) -> str:
    if lhs is None:
        tilde = next(t for t in tokenize(ctx.text) if t.kind == OP and t.value == "~")
        name = expected or "sigma"
        raise formula_error(
            f"a distributional formula needs its parameter on the left of '~', "
            f"e.g. '{name} ~ {ctx.text[tilde.end :].strip()}'",
            ctx.text,
            tilde.start,
        )
    node = _unwrap(lhs)
    if not isinstance(node, Name) or node.quoted:
        raise ctx.error(
            f"the left-hand side of a distributional formula must be a parameter name such as "
            f"sigma, not {node.source}",
            lhs,
        )
    if expected and node.name != expected:
        raise ctx.error(
            f"the formula given for '{expected}' has '{node.name}' on the left of '~'", node
        )
    return node.name


def _check_response_not_on_rhs(
    rhs: Node,
    response: str,
    terms: tuple[Term, ...],
    offsets: tuple[str, ...],
    groups: tuple[GroupTerm, ...],
    ctx: Context,
) -> None:
    columns = set(expression_variables(ctx.expressions[response]))
    used: list[str] = [f for t in terms for f in t.factors]
    used += list(offsets)
    for block in groups:
        used += [f for t in block.terms for f in t.factors]
        used += list(block.group)
        if block.membership is not None:
            used += list(block.membership.weights or ())
    for text in used:
        for column in expression_variables(ctx.expressions[text]):
            if column in columns:
                node = next(
                    (n for n in iter_nodes(rhs) if isinstance(n, Name) and n.name == column), rhs
                )
                raise ctx.error(f"{column} appears on both sides of '~'", node)
