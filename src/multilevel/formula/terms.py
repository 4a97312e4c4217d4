"""The parsed formula as plain frozen data: :class:`Term`, :class:`GroupTerm`, :class:`Formula`.

These are the hand-off to the design stage. Factors are strings: a column name (without
backticks) or the exact source text of a transform such as ``"log(x)"``;
:attr:`Formula.expressions` maps each such string to its syntax tree so the design stage can
evaluate it without ``eval`` and without guessing which strings are calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from multilevel.formula.ast import Name, Node
from multilevel.formula.ast import variables as _expression_variables

__all__ = ["Term", "Membership", "GroupTerm", "FactorTerm", "Formula", "render_name"]

INTERCEPT_NAME = "Intercept"
_PLAIN_NAME = re.compile(r"(?:[A-Za-z_]|\.(?![0-9]))[A-Za-z0-9_.]*")
_RESERVED = frozenset({"and", "or", "not"})


def render_name(name: str) -> str:
    """Write a column name as formula text, in backticks when it is not a plain name.

    Examples
    --------
    >>> render_name("x"), render_name("my var")
    ('x', '`my var`')
    """
    if _PLAIN_NAME.fullmatch(name) and name not in _RESERVED:
        return name
    return f"`{name}`"


def _render_factor(factor: str, expressions: Mapping[str, Node] | None = None) -> str:
    node = expressions.get(factor) if expressions else None
    if isinstance(node, Name):
        return render_name(node.name)
    if node is not None:
        return factor
    if _PLAIN_NAME.fullmatch(factor):
        return factor
    return factor if _is_expression(factor) else render_name(factor)


def _is_expression(text: str) -> bool:
    from multilevel.errors import FormulaSyntaxError
    from multilevel.formula.parser import parse_expression

    try:
        node = parse_expression(text)
    except FormulaSyntaxError:
        return False
    return not isinstance(node, Name) and node.source == text


def _expression_columns(text: str, expressions: Mapping[str, Node]) -> list[str]:
    node = expressions.get(text)
    if node is None:
        if not _is_expression(text):
            return [text]
        from multilevel.formula.parser import parse_expression

        node = parse_expression(text)
    return _expression_variables(node)


@dataclass(frozen=True)
class Term:
    """A population-level or varying term: the interaction of its factors.

    Parameters
    ----------
    factors : tuple of str
        Column names or exact transform texts (``"log(x)"``); ``()`` is the intercept.

    Examples
    --------
    >>> Term(("x", "log(z)")).name
    'x:log(z)'
    >>> Term().name, Term().is_intercept
    ('Intercept', True)
    """

    factors: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """brms-like name: ``"Intercept"``, ``"x"``, ``"x:log(z)"``."""
        return ":".join(self.factors) if self.factors else INTERCEPT_NAME

    @property
    def order(self) -> int:
        """Number of factors (0 for the intercept, 2 for a two-way interaction)."""
        return len(self.factors)

    @property
    def is_intercept(self) -> bool:
        """True for the intercept term ``()``."""
        return not self.factors

    def render(self, expressions: Mapping[str, Node] | None = None) -> str:
        """Formula text of the term: ``"1"`` for the intercept, else ``"a:b"``."""
        if not self.factors:
            return "1"
        return ":".join(_render_factor(f, expressions) for f in self.factors)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Membership:
    """The grouping of a multiple-membership term ``mm(g1, g2, weights = cbind(w1, w2))``.

    Row ``i`` touches the levels ``g1[i]``, ``g2[i]``, ... and its group effect is
    ``sum_k w_k[i] * r[g_k[i]]``.

    Parameters
    ----------
    columns : tuple of str
        The membership columns, at least two.
    weights : tuple of str or None
        One weight column per membership column; None means every weight is 1.
    scale : bool
        Whether to divide each row's weights by their sum (brms ``scale = TRUE``). Our default
        is False: weights are used as given, so with no weights the effects are summed.

    Examples
    --------
    >>> Membership(("g1", "g2"), ("w1", "w2")).scale
    False
    """

    columns: tuple[str, ...]
    weights: tuple[str, ...] | None = None
    scale: bool = False

    def render(self) -> str:
        """Formula text ``mm(g1, g2, weights = cbind(w1, w2), scale = FALSE)``."""
        parts = [render_name(c) for c in self.columns]
        if self.weights is not None:
            parts.append(f"weights = cbind({', '.join(render_name(w) for w in self.weights)})")
        parts.append(f"scale = {'TRUE' if self.scale else 'FALSE'}")
        return f"mm({', '.join(parts)})"


@dataclass(frozen=True)
class GroupTerm:
    """One block of group-level (varying) effects, e.g. ``(1 + x | g)``.

    Parameters
    ----------
    terms : tuple of Term
        The varying coefficients, the intercept first when present.
    group : tuple of str
        Grouping columns; ``("a", "b")`` is the interaction ``a:b``. For a multiple-membership
        block these are the membership columns (see ``membership``).
    correlated : bool
        True for ``|`` (unstructured covariance), False for a block split off a ``||`` term
        (its coefficients, e.g. the columns of a categorical term, are independent).
    membership : Membership or None
        Set for ``mm(...)`` blocks.
    source : str
        Original text of the bar term, e.g. ``"(1 + x || g)"``. Blocks expanded from one term
        (``/`` nesting, ``||`` splitting) share it. Not part of equality.

    Examples
    --------
    >>> block = GroupTerm((Term(), Term(("x",))), ("a", "b"))
    >>> block.name, block.coefficients, str(block)
    ('a:b', ('Intercept', 'x'), '(1 + x | a:b)')
    """

    terms: tuple[Term, ...]
    group: tuple[str, ...]
    correlated: bool = True
    membership: Membership | None = None
    source: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """Name of the grouping factor: ``"g"``, ``"a:b"`` or ``"mm(g1,g2)"``."""
        if self.membership is not None:
            return f"mm({','.join(self.membership.columns)})"
        return ":".join(self.group)

    @property
    def coefficients(self) -> tuple[str, ...]:
        """Names of the varying coefficients, e.g. ``("Intercept", "x")``."""
        return tuple(t.name for t in self.terms)

    @property
    def intercept(self) -> bool:
        """Whether the block has a varying intercept."""
        return any(t.is_intercept for t in self.terms)

    def render(self, expressions: Mapping[str, Node] | None = None) -> str:
        """Formula text of the block; a ``||`` block renders as ``(0 + x || g)``."""
        lhs = " + ".join(t.render(expressions) for t in self.terms)
        if not self.intercept:
            lhs = f"0 + {lhs}"
        if self.membership is not None:
            rhs = self.membership.render()
        else:
            rhs = ":".join(render_name(g) for g in self.group)
        bar = "|" if self.correlated else "||"
        return f"({lhs} {bar} {rhs})"

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class FactorTerm:
    """A factor term ``factors(user, item, k = 10, item_group = artist)``.

    Adds ``u[user] · v[item]`` to the linear predictor, with ``k`` latent factors per user and
    per item.

    Parameters
    ----------
    user, item : str
        The two grouping columns (rows and columns of the rating matrix).
    k : int
        Number of factors.
    user_group, item_group : str or None
        Columns grouping the users / items: a user's (item's) factors have its group's
        factors as prior mean.
    implicit : bool
        ``implicit = TRUE``: the data list the non-zero counts only; every user-item pair
        absent from them is a zero count (implicit feedback, hierarchical Poisson
        factorization).
    source : str
        The term as written. Not part of equality.

    Examples
    --------
    >>> str(FactorTerm("user", "song", 5, item_group="artist"))
    'factors(user, song, k = 5, item_group = artist)'
    """

    user: str
    item: str
    k: int = 10
    user_group: str | None = None
    item_group: str | None = None
    implicit: bool = False
    source: str = field(default="", compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the term reads."""
        return tuple(
            c for c in (self.user, self.item, self.user_group, self.item_group) if c is not None
        )

    def render(self) -> str:
        """Formula text of the term."""
        parts = [render_name(self.user), render_name(self.item), f"k = {self.k}"]
        for key in ("user_group", "item_group"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key} = {render_name(value)}")
        if self.implicit:
            parts.append("implicit = TRUE")
        return f"factors({', '.join(parts)})"

    def __str__(self) -> str:
        return self.render()


def _empty_mapping() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class Formula:
    """A parsed formula after the rewrite rules (``*``, ``^``, ``/``, ``||`` expanded).

    Build it with :func:`multilevel.formula.parse`. Equality compares the model, not the text:
    ``parse("y~x") == parse("y ~ x")``.

    Parameters
    ----------
    text : str
        The formula as written.
    response : str or None
        Response column or transform text (``"y"``, ``"log(y)"``); None when one-sided or for
        a distributional formula.
    additions : tuple of (str, str)
        Addition terms as ``(kind, expression text)`` pairs, e.g. ``(("trials", "n"),)``.
    intercept : bool
        Whether there is a population-level intercept.
    terms : tuple of Term
        Population-level terms without the intercept: as written, de-duplicated, lower order
        before higher order.
    offsets : tuple of str
        Expression texts of ``offset(...)`` arguments, e.g. ``("log(n)",)``.
    groups : tuple of GroupTerm
        Group-level blocks in the order written, nesting expanded and ``||`` split.
    factors : tuple of FactorTerm
        The ``factors(user, item, k = ...)`` term, if any (at most one).
    dpars : Mapping of str to Formula
        Formulas of distributional parameters (``sigma ~ ...``), keyed by parameter name.
    parameter : str
        The family parameter this formula predicts: ``"mu"`` for the main formula.
    expressions : Mapping of str to Node
        Syntax tree of every response, addition, factor, offset and grouping string. Not part
        of equality.

    Examples
    --------
    >>> from multilevel.formula import parse
    >>> f = parse("y ~ x * z + (1 | g)")
    >>> [t.name for t in f.terms], f.groups[0].name
    (['x', 'z', 'x:z'], 'g')
    >>> sorted(f.variables())
    ['g', 'x', 'y', 'z']
    >>> str(f)
    'y ~ 1 + x + z + x:z + (1 | g)'
    """

    text: str = field(compare=False)
    response: str | None
    additions: tuple[tuple[str, str], ...]
    intercept: bool
    terms: tuple[Term, ...]
    offsets: tuple[str, ...] = ()
    groups: tuple[GroupTerm, ...] = ()
    factors: tuple[FactorTerm, ...] = ()
    dpars: Mapping[str, Formula] = field(default_factory=_empty_mapping, hash=False)
    parameter: str = "mu"
    expressions: Mapping[str, Node] = field(
        default_factory=_empty_mapping, compare=False, repr=False
    )

    def addition(self, kind: str) -> str | None:
        """Expression text of addition term ``kind`` (``"trials"``...), or None.

        Examples
        --------
        >>> from multilevel.formula import parse
        >>> parse("y | trials(n) ~ x").addition("trials")
        'n'
        """
        for k, value in self.additions:
            if k == kind:
                return value
        return None

    @property
    def binomial_pair(self) -> str | None:
        """The ``cbind(successes, failures)`` response as written, when the formula has one
        (it is read as ``successes | trials(successes + failures)``), else None.

        Examples
        --------
        >>> from multilevel.formula import parse
        >>> f = parse("cbind(incidence, size - incidence) ~ period + (1 | herd)")
        >>> f.binomial_pair, f.response, f.additions
        ('cbind(incidence, size - incidence)', 'incidence', (('trials', 'incidence + (size - incidence)'),))
        >>> parse("incidence | trials(size) ~ 1").binomial_pair is None
        True
        """  # noqa: E501
        trials = self.addition("trials")
        node = self.expressions.get(trials) if trials is not None else None
        if node is None:
            return None
        written = self.text[node.span.start : node.span.end]
        return written if written.startswith("cbind") and written != node.source else None

    def variables(self) -> set[str]:
        """Every data column the formula reads, its distributional formulas included.

        Use it to check that the data have all the columns before building a design.

        Examples
        --------
        >>> from multilevel.formula import parse
        >>> f = parse("y | weights(w) ~ log(x) + (1 | mm(g1, g2))", dpars={"sigma": "sigma ~ z"})
        >>> sorted(f.variables())
        ['g1', 'g2', 'w', 'x', 'y', 'z']
        """
        texts: list[str] = []
        if self.response is not None:
            texts.append(self.response)
        texts.extend(value for _, value in self.additions)
        texts.extend(f for t in self.terms for f in t.factors)
        texts.extend(self.offsets)
        for block in self.groups:
            texts.extend(f for t in block.terms for f in t.factors)
            texts.extend(block.group)
            if block.membership is not None and block.membership.weights is not None:
                texts.extend(block.membership.weights)
        found: set[str] = {c for term in self.factors for c in term.columns}
        for text in texts:
            found.update(_expression_columns(text, self.expressions))
        for sub in self.dpars.values():
            found |= sub.variables()
        return found

    def render(self) -> str:
        """Canonical formula text; ``parse(f.render()) == f`` (``dpars`` aside)."""
        ex = self.expressions
        if self.response is not None:
            lhs = _render_factor(self.response, ex)
            if self.additions:
                lhs += " | " + " + ".join(
                    f"{k}({_render_factor(v, ex)})" for k, v in self.additions
                )
            lhs += " ~ "
        elif self.parameter != "mu":
            lhs = f"{self.parameter} ~ "
        else:
            lhs = "~ "
        parts = ["1" if self.intercept else "0"]
        parts += [t.render(ex) for t in self.terms]
        parts += [f"offset({_render_factor(o, ex)})" for o in self.offsets]
        parts += [g.render(ex) for g in self.groups]
        parts += [t.render() for t in self.factors]
        return lhs + " + ".join(parts)

    def __str__(self) -> str:
        return self.render()
