"""Syntax tree of a formula; every node knows its columns and its exact source text.

The parser builds these nodes; :mod:`multilevel.formula.rewrite` and
:mod:`multilevel.formula.groups` turn them into terms. The expression nodes (:class:`Name`,
:class:`Call`, :class:`BinOp`, ...) are also what the design stage evaluates for transforms such
as ``log(x)``; :func:`variables` lists the data columns an expression reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "Span",
    "Node",
    "Name",
    "Number",
    "String",
    "Call",
    "Keyword",
    "BinOp",
    "UnaryOp",
    "ListExpr",
    "Subscript",
    "Paren",
    "Bar",
    "FormulaNode",
    "LITERAL_NAMES",
    "iter_nodes",
    "variables",
]

#: Names that are constants, never data columns (R and Python spellings).
LITERAL_NAMES = frozenset(
    {"TRUE", "FALSE", "True", "False", "NULL", "None", "NA", "Inf", "NaN", "and", "or", "not"}
)

#: Contrast names that patsy lets you pass bare to ``C()``, as in ``C(cat, Treatment)``.
_CONTRAST_NAMES = frozenset({"Treatment", "Sum", "Helmert", "Poly", "Diff"})


@dataclass(frozen=True)
class Span:
    """Columns ``[start, end)`` of a piece of formula text.

    Examples
    --------
    >>> s = Span(4, 10)
    >>> "y ~ log(x)"[s.start : s.end], len(s)
    ('log(x)', 6)
    """

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, kw_only=True)
class Node:
    """Base class: ``span`` are the columns in the formula, ``source`` the exact text there."""

    span: Span
    source: str


@dataclass(frozen=True, kw_only=True)
class Name(Node):
    """A variable. ``quoted`` is true for a backtick name such as `` `my var` ``."""

    name: str
    quoted: bool = False


@dataclass(frozen=True, kw_only=True)
class Number(Node):
    """A numeric literal, kept as written in ``text``."""

    text: str

    @property
    def value(self) -> float:
        """The number as a float."""
        return float(self.text)


@dataclass(frozen=True, kw_only=True)
class String(Node):
    """A string literal; ``value`` is the text without quotes."""

    value: str


@dataclass(frozen=True, kw_only=True)
class Keyword(Node):
    """A keyword argument ``name = value`` inside a call."""

    name: str
    value: Node


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    """A function call such as ``log(x)`` or ``C(cat, Treatment('b'))``."""

    func: str
    args: tuple[Node, ...] = ()
    keywords: tuple[Keyword, ...] = ()

    def keyword(self, name: str) -> Node | None:
        """The value of keyword argument ``name``, or None."""
        for k in self.keywords:
            if k.name == name:
                return k.value
        return None


@dataclass(frozen=True, kw_only=True)
class BinOp(Node):
    """A binary operation; ``op`` is the operator as written (``+``, ``:``, ``**``, ...)."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, kw_only=True)
class UnaryOp(Node):
    """A prefix operation: ``-``, ``+``, ``!`` or ``not``."""

    op: str
    operand: Node


@dataclass(frozen=True, kw_only=True)
class ListExpr(Node):
    """A list literal ``[a, b]`` inside a call."""

    items: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True)
class Subscript(Node):
    """An index expression ``value[index]`` inside a call."""

    value: Node
    index: Node


@dataclass(frozen=True, kw_only=True)
class Paren(Node):
    """Parentheses; the span includes both parentheses, ``body`` is what is inside."""

    body: Node


@dataclass(frozen=True, kw_only=True)
class Bar(Node):
    """``lhs | rhs`` or ``lhs || rhs``: a group term (in parentheses) or response additions."""

    op: str
    lhs: Node
    rhs: Node


@dataclass(frozen=True, kw_only=True)
class FormulaNode(Node):
    """The whole formula ``lhs ~ rhs``; ``lhs`` is None for a one-sided formula."""

    lhs: Node | None
    rhs: Node


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Call):
        return (*node.args, *node.keywords)
    if isinstance(node, Keyword):
        return (node.value,)
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, UnaryOp):
        return (node.operand,)
    if isinstance(node, ListExpr):
        return node.items
    if isinstance(node, Subscript):
        return (node.value, node.index)
    if isinstance(node, Paren):
        return (node.body,)
    if isinstance(node, Bar):
        return (node.lhs, node.rhs)
    if isinstance(node, FormulaNode):
        return (node.rhs,) if node.lhs is None else (node.lhs, node.rhs)
    return ()


def iter_nodes(node: Node) -> Iterator[Node]:
    """Yield ``node`` and all nodes below it, left to right (pre-order).

    Examples
    --------
    >>> from multilevel.formula.parser import parse_expression
    >>> [type(n).__name__ for n in iter_nodes(parse_expression("log(x + 1)"))]
    ['Call', 'BinOp', 'Name', 'Number']
    """
    yield node
    for child in _children(node):
        yield from iter_nodes(child)


def variables(node: Node) -> list[str]:
    """The data columns an expression reads, in order of first appearance.

    Function names, keyword-argument names, constants such as ``TRUE`` and bare contrast
    names passed to ``C()`` (``C(cat, Treatment)``) are not columns.

    Examples
    --------
    >>> from multilevel.formula.parser import parse_expression
    >>> variables(parse_expression("C(cat, Treatment('b'))"))
    ['cat']
    >>> variables(parse_expression("poly(x, degree = 2) + log(`my var`)"))
    ['x', 'my var']
    """
    found: dict[str, None] = {}

    def visit(n: Node) -> None:
        if isinstance(n, Name):
            if n.quoted or n.name not in LITERAL_NAMES:
                found.setdefault(n.name)
            return
        if isinstance(n, Call) and n.func == "C":
            children: tuple[Node, ...] = (
                *n.args[:1],
                *(a for a in n.args[1:] if not _is_contrast_name(a)),
                *n.keywords,
            )
        else:
            children = _children(n)
        for child in children:
            visit(child)

    visit(node)
    return list(found)


def _is_contrast_name(node: Node) -> bool:
    return isinstance(node, Name) and not node.quoted and node.name in _CONTRAST_NAMES
