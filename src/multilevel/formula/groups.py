"""Group terms: ``(lhs | rhs)`` syntax trees → :class:`GroupTerm` blocks.

Rewrite rules, as in lme4:

- ``(1 + x | g)`` is one block with correlated coefficients; ``(x | g)`` has an implicit
  intercept, ``(0 + x | g)`` none.
- ``(1 + x || g)`` splits into one block per coefficient, ``(1 | g) + (0 + x | g)``, marked
  ``correlated=False``; the blocks share their ``source`` text.
- ``(1 | a/b)`` is ``(1 | a) + (1 | a:b)``; ``(1 | a/b/c)`` adds ``(1 | a:b:c)``, any depth.
- ``(1 | g1:g2)`` groups by the interaction of two columns.
- ``(1 | mm(g1, g2, weights = cbind(w1, w2), scale = FALSE))`` is one multiple-membership block.

brms's ``(1 | ID | g)`` is rejected by the parser: effects are never correlated across formulas.
"""

from __future__ import annotations

from multilevel.formula.ast import Bar, BinOp, Call, Name, Node, Number, Paren
from multilevel.formula.ast import variables as expression_variables
from multilevel.formula.rewrite import Context, expand, reject_special, to_terms
from multilevel.formula.terms import GroupTerm, Membership, Term

__all__ = ["build_groups"]

_TRUE = frozenset({"TRUE", "True", "T"})
_FALSE = frozenset({"FALSE", "False", "F"})


def build_groups(parens: list[Paren], ctx: Context) -> tuple[GroupTerm, ...]:
    """Expand every group term into blocks, in the order written.

    Parameters
    ----------
    parens : list of Paren
        Parenthesized bar terms, e.g. the syntax tree of ``(1 + x | g)``.
    ctx : Context
        Shared state of the formula being built.

    Returns
    -------
    tuple of GroupTerm

    Raises
    ------
    FormulaError
        For a grouping factor that is not a column, a variable on both sides of the bar, a
        block without coefficients, a badly formed ``mm()``, or a coefficient that varies by
        the same grouping factor in two blocks (``(1 | g) + (1 + x | g)``).
    """
    blocks: list[GroupTerm] = []
    for paren in parens:
        for block in _blocks(paren, ctx):
            _check_overlap(block, blocks, paren, ctx)
            blocks.append(block)
    return tuple(blocks)


def _check_overlap(block: GroupTerm, earlier: list[GroupTerm], paren: Paren, ctx: Context) -> None:
    """Reject a coefficient that varies by the same grouping in two blocks (not identifiable)."""
    for other in earlier:
        if other.group != block.group or other.membership != block.membership:
            continue
        shared = [t.name for t in block.terms if t in other.terms]
        if shared:
            raise ctx.error(
                f"the varying {', '.join(shared)} by {block.name} appears in two group terms, "
                f"{other.source} and {paren.source}; give each coefficient once per grouping",
                paren,
            )


def _blocks(paren: Paren, ctx: Context) -> list[GroupTerm]:
    bar = paren.body
    assert isinstance(bar, Bar)
    lhs = expand(bar.lhs, ctx, where="group")
    terms = to_terms(lhs.terms)
    coefficients = ((Term(),) if lhs.intercept is not False else ()) + terms
    if not coefficients:
        raise ctx.error(f"the group term {paren.source} has no varying coefficients", paren)

    rhs = _unwrap(bar.rhs)
    membership: Membership | None = None
    if isinstance(rhs, Call) and rhs.func == "mm":
        membership = _membership(rhs, ctx)
        groupings = [membership.columns]
        grouping_columns = set(membership.columns) | set(membership.weights or ())
    else:
        groupings = _groupings(rhs, ctx)
        grouping_columns = {c for g in groupings for c in g}

    for term in terms:
        for factor in term.factors:
            for column in expression_variables(ctx.expressions[factor]):
                if column in grouping_columns:
                    raise ctx.error(
                        f"{column} appears on both sides of '{bar.op}' in {paren.source}", paren
                    )

    correlated = bar.op == "|"
    parts = [coefficients] if correlated else [(t,) for t in coefficients]
    return [
        GroupTerm(
            terms=part,
            group=group,
            correlated=correlated,
            membership=membership,
            source=paren.source,
        )
        for group in groupings
        for part in parts
    ]


def _unwrap(node: Node) -> Node:
    while isinstance(node, Paren) and not isinstance(node.body, Bar):
        node = node.body
    return node


def _groupings(node: Node, ctx: Context) -> list[tuple[str, ...]]:
    """The grouping factors of a right-hand side: ``a/b`` → ``[("a",), ("a", "b")]``."""
    node = _unwrap(node)
    if isinstance(node, Name):
        if node.name == "." and not node.quoted:
            raise ctx.error("'.' is not a grouping factor; name the grouping column", node)
        return [(ctx.register(node.name, node),)]
    if isinstance(node, BinOp) and node.op == ":":
        left, right = _groupings(node.left, ctx), _groupings(node.right, ctx)
        if len(left) != 1 or len(right) != 1:
            raise ctx.error(f"nesting with '/' cannot be used inside ':' in {node.source}", node)
        return [_dedup(left[0] + right[0])]
    if isinstance(node, BinOp) and node.op == "/":
        left, right = _groupings(node.left, ctx), _groupings(node.right, ctx)
        outer = _dedup(tuple(c for g in left for c in g))
        return left + [_dedup(outer + g) for g in right]
    if isinstance(node, BinOp) and node.op in ("+", "*"):
        a, b = node.left.source, node.right.source
        suggestion = f"(1 | {a}) + (1 | {b})" + (f" + (1 | {a}:{b})" if node.op == "*" else "")
        raise ctx.error(
            f"crossed grouping factors are separate group terms: instead of '{node.source}' "
            f"write {suggestion}",
            node,
        )
    if isinstance(node, Call):
        if node.func == "mm":
            raise ctx.error(f"{node.source} cannot be combined with ':' or '/'", node)
        reject_special(node, ctx, "group")
        raise ctx.error(
            f"the grouping factor {node.source} must be a column (or columns joined by ':' or "
            "'/'); compute it as a data column first",
            node,
        )
    if isinstance(node, Number):
        raise ctx.error(f"the grouping factor must be a column, not the number {node.source}", node)
    if isinstance(node, Paren):
        raise ctx.error(f"group terms cannot be nested: {node.source}", node)
    raise ctx.error(
        f"the grouping factor {node.source} must be a column (or columns joined by ':' or '/')",
        node,
    )


def _dedup(columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(columns))


def _membership(call: Call, ctx: Context) -> Membership:
    columns = []
    for arg in call.args:
        if not isinstance(arg, Name):
            raise ctx.error(f"mm() takes column names; {arg.source} is not one", arg)
        columns.append(ctx.register(arg.name, arg))
    if len(columns) < 2:
        raise ctx.error(
            f"{call.source} needs at least two grouping columns; for one write (1 | g)", call
        )
    if len(set(columns)) != len(columns):
        raise ctx.error(f"{call.source} repeats a grouping column", call)

    weights: tuple[str, ...] | None = None
    scale = False
    for keyword in call.keywords:
        value = keyword.value
        if keyword.name == "weights":
            if not (
                isinstance(value, Call)
                and value.func == "cbind"
                and not value.keywords
                and all(isinstance(a, Name) for a in value.args)
            ):
                raise ctx.error(
                    f"mm() weights must be written cbind(w1, w2, ...) with one weight column "
                    f"per grouping column, not {value.source}",
                    value,
                )
            if len(value.args) != len(columns):
                raise ctx.error(
                    f"mm() has {len(columns)} grouping columns but {value.source} has "
                    f"{len(value.args)} weight column{'s' if len(value.args) != 1 else ''}",
                    value,
                )
            weights = tuple(ctx.register(a.name, a) for a in value.args)  # type: ignore[union-attr]
        elif keyword.name == "scale":
            if isinstance(value, Name) and value.name in _TRUE | _FALSE:
                scale = value.name in _TRUE
            else:
                raise ctx.error(f"mm() scale must be TRUE or FALSE, not {value.source}", value)
        else:
            raise ctx.error(
                f"unknown argument '{keyword.name}' of mm(); valid arguments are weights and scale",
                keyword,
            )
    return Membership(columns=tuple(columns), weights=weights, scale=scale)
