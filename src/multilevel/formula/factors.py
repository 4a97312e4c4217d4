"""The factor term ``factors(user, item, k = 10, item_group = artist)`` → :class:`FactorTerm`.

A factor term adds ``u[user] · v[item]`` to the linear predictor: ``k`` latent factors per
level of two crossed grouping columns (Salakhutdinov & Mnih's Bayesian probabilistic matrix
factorization). ``item_group`` (``user_group``) names a column that groups the items (users):
an item's factors then shrink toward its group's (a song's toward its artist's).
"""

from __future__ import annotations

from multilevel.formula.ast import Call, Name, Number
from multilevel.formula.rewrite import Context
from multilevel.formula.terms import FactorTerm

__all__ = ["build_factors"]

_ARGUMENTS = ("k", "user_group", "item_group", "implicit")
_TRUE, _FALSE = frozenset({"TRUE", "True", "T"}), frozenset({"FALSE", "False", "F"})


def build_factors(calls: list[Call], ctx: Context) -> tuple[FactorTerm, ...]:
    """Read the ``factors(...)`` calls of a right-hand side.

    Raises
    ------
    FormulaError
        Not two column names, ``k`` not a whole number of at least 1, an unknown argument,
        a group column equal to the column it groups, or more than one factor term.
    """
    terms = tuple(_factor_term(call, ctx) for call in calls)
    if len(terms) > 1:
        raise ctx.error(
            "a formula has at most one factors() term; put every factor in one term with a "
            "larger k",
            calls[1],
        )
    return terms


def _column(node, what: str, call: Call, ctx: Context) -> str:
    if not isinstance(node, Name):
        raise ctx.error(f"the {what} of factors() must be a column name, not {node.source}", node)
    return ctx.register(node.name, node)


def _factor_term(call: Call, ctx: Context) -> FactorTerm:
    usage = "factors(user, item, k = 10)"
    if len(call.args) != 2:
        raise ctx.error(
            f"factors() takes two grouping columns (the rows and the columns of the matrix), "
            f"as in {usage}; {call.source} has {len(call.args)}",
            call,
        )
    user = _column(call.args[0], "first argument (the users)", call, ctx)
    item = _column(call.args[1], "second argument (the items)", call, ctx)
    if user == item:
        raise ctx.error(f"factors() needs two different columns, not {user} twice", call)
    k, groups, implicit = 10, {"user_group": None, "item_group": None}, False
    for keyword in call.keywords:
        if keyword.name not in _ARGUMENTS:
            raise ctx.error(
                f"unknown argument '{keyword.name}' of factors(); valid arguments are "
                f"{', '.join(_ARGUMENTS)}",
                keyword,
            )
        value = keyword.value
        if keyword.name == "k":
            if not (isinstance(value, Number) and value.value >= 1 and value.value.is_integer()):
                raise ctx.error(
                    f"k, the number of factors, must be a whole number of at least 1, not "
                    f"{value.source}",
                    value,
                )
            k = int(value.value)
        elif keyword.name == "implicit":
            if not (isinstance(value, Name) and value.name in _TRUE | _FALSE):
                raise ctx.error(f"implicit must be TRUE or FALSE, not {value.source}", value)
            implicit = value.name in _TRUE
        else:
            column = _column(value, keyword.name, call, ctx)
            grouped = user if keyword.name == "user_group" else item
            if column == grouped:
                raise ctx.error(f"{keyword.name} must be another column than {grouped}", value)
            groups[keyword.name] = column
    return FactorTerm(
        user, item, k, groups["user_group"], groups["item_group"], implicit, call.source
    )
