"""Recursive-descent parser: formula text → :class:`~multilevel.formula.ast.FormulaNode`.

Two grammars share one token stream. The *formula* grammar, with R's precedence from loosest
to tightest::

    formula  := [lhs] "~" sum
    lhs      := sum ["|" sum]                       response and addition terms
    sum      := ["+" | "-"] product (("+" | "-") product)*
    product  := nested (("*" | "/") nested)*
    nested   := interact ("%in%" interact)*
    interact := power (":" power)*
    power    := atom [("^" | "**") atom]
    atom     := name | `quoted name` | number | call | "(" sum [("|" | "||") sum] ")"

and the python-like *expression* grammar used for the arguments of a call (``log(x + 1)``,
``I(x**2)``, ``C(cat, Treatment('b'))``, ``mm(g1, g2, weights = cbind(w1, w2))``), with
``or``/``|``, ``and``/``&``, ``not``/``!``, comparisons, ``+ -``, ``* / // % %%``, unary signs,
``**``/``^``, calls, subscripts, lists, strings and keyword arguments.
"""

from __future__ import annotations

from multilevel.formula._diagnostics import formula_error, syntax_error
from multilevel.formula.ast import (
    Bar,
    BinOp,
    Call,
    FormulaNode,
    Keyword,
    ListExpr,
    Name,
    Node,
    Number,
    Paren,
    Span,
    String,
    Subscript,
    UnaryOp,
)
from multilevel.formula.lexer import END, NAME, NUMBER, OP, QUOTED, STRING, Token, tokenize

__all__ = ["parse_formula_ast", "parse_expression"]

_ARITHMETIC = frozenset({"==", "!=", "<", "<=", ">", ">=", "&", "&&", "!", "//", "%", "%%", "="})
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_MULTIPLICATIVE = ("*", "/", "//", "%")
_BARS = ("|", "||")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0  # open parentheses at the formula level

    # -- token helpers ------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek_op(self, *ops: str) -> bool:
        return self.tok.kind == OP and self.tok.value in ops

    def peek_word(self, *words: str) -> bool:
        return self.tok.kind == NAME and self.tok.value in words

    def advance(self) -> Token:
        token = self.tok
        if token.kind != END:
            self.pos += 1
        return token

    def node_span(self, start: int, end: int) -> tuple[Span, str]:
        return Span(start, end), self.text[start:end]

    def unexpected(self, hint: str = "") -> Exception:
        token = self.tok
        if token.kind == END:
            return syntax_error("unexpected end of formula" + hint, self.text, token.start)
        return syntax_error(f"unexpected {token.describe()}{hint}", self.text, token.start)

    def close_paren(self, opener: Token) -> Token:
        if self.peek_op(")"):
            return self.advance()
        if self.tok.kind == END:
            raise syntax_error("unclosed parenthesis", self.text, opener.start)
        raise self.unexpected(f" (expected ')' to close the '(' at column {opener.start})")

    # -- formula grammar -----------------------------------------------------------------
    def formula(self) -> FormulaNode:
        lhs: Node | None = None
        if not self.peek_op("~"):
            lhs = self.lhs()
            if not self.peek_op("~"):
                raise self.unexpected(self._hint_after_term())
        self.advance()
        rhs = self.sum()
        if self.tok.kind != END:
            if self.peek_op("~"):
                raise syntax_error("a formula has only one '~'", self.text, self.tok.start)
            raise self.unexpected(self._hint_after_term())
        return FormulaNode(span=Span(0, len(self.text)), source=self.text, lhs=lhs, rhs=rhs)

    def lhs(self) -> Node:
        node = self.sum()
        if self.peek_op(*_BARS):
            bar = self.advance()
            if bar.value == "||":
                raise syntax_error(
                    "'||' is only valid in a group term such as (1 + x || g); "
                    "use '|' before addition terms",
                    self.text,
                    bar.start,
                )
            rhs = self.sum()
            span, source = self.node_span(node.span.start, rhs.span.end)
            node = Bar(span=span, source=source, op="|", lhs=node, rhs=rhs)
        return node

    def _hint_after_term(self) -> str:
        token = self.tok
        if token.kind == OP and token.value == ")" and self.depth == 0:
            return " (unmatched ')')"
        if token.kind == OP and token.value in _BARS:
            return " (a group term needs parentheses: (1 | g))"
        if token.kind == OP and token.value in _ARITHMETIC:
            return " (wrap arithmetic and comparisons in I(...), e.g. I(x > 2))"
        if token.kind in (NAME, QUOTED, NUMBER) or (token.kind == OP and token.value == "("):
            return " (missing '+'?)"
        return ""

    def binary(self, left: Node, op: str, right: Node) -> BinOp:
        span, source = self.node_span(left.span.start, right.span.end)
        return BinOp(span=span, source=source, op=op, left=left, right=right)

    def sum(self) -> Node:
        if self.peek_op("+", "-"):
            sign = self.advance()
            operand = self.product()
            span, source = self.node_span(sign.start, operand.span.end)
            node: Node = UnaryOp(span=span, source=source, op=sign.value, operand=operand)
        else:
            node = self.product()
        while self.peek_op("+", "-"):
            op = self.advance().value
            node = self.binary(node, op, self.product())
        return node

    def product(self) -> Node:
        node = self.nested()
        while self.peek_op("*", "/"):
            op = self.advance().value
            node = self.binary(node, op, self.nested())
        return node

    def nested(self) -> Node:
        node = self.interact()
        while self.peek_op("%in%"):
            op = self.advance().value
            node = self.binary(node, op, self.interact())
        return node

    def interact(self) -> Node:
        node = self.power()
        while self.peek_op(":"):
            op = self.advance().value
            node = self.binary(node, op, self.power())
        return node

    def power(self) -> Node:
        node = self.atom()
        if self.peek_op("^", "**"):
            self.advance()
            node = self.binary(node, "^", self.atom())
        return node

    def atom(self) -> Node:
        token = self.tok
        if token.kind == NAME:
            self.advance()
            if self.peek_op("("):
                return self.call(token)
            return Name(span=Span(token.start, token.end), source=token.value, name=token.value)
        if token.kind == QUOTED:
            self.advance()
            span, source = self.node_span(token.start, token.end)
            return Name(span=span, source=source, name=token.value, quoted=True)
        if token.kind == NUMBER:
            self.advance()
            return Number(span=Span(token.start, token.end), source=token.value, text=token.value)
        if token.kind == OP and token.value == "(":
            return self.group_or_paren()
        if token.kind == STRING:
            raise syntax_error(
                "unexpected string: strings are only allowed inside function calls",
                self.text,
                token.start,
            )
        if token.kind == OP and token.value == ")" and self.depth == 0:
            raise syntax_error("unmatched ')'", self.text, token.start)
        raise self.unexpected()

    def group_or_paren(self) -> Paren:
        opener = self.advance()
        self.depth += 1
        if self.peek_op(*_BARS):
            raise formula_error(
                "group term has no varying coefficients before "
                f"'{self.tok.value}'; write (1 | g) for varying intercepts",
                self.text,
                self.tok.start,
                self.tok.end,
            )
        body = self.sum()
        if self.peek_op(*_BARS):
            bar = self.advance()
            if self.peek_op(")"):
                raise formula_error(
                    f"group term {self.text[opener.start : self.tok.end]} has no grouping factor "
                    f"after '{bar.value}'",
                    self.text,
                    opener.start,
                    self.tok.end,
                )
            rhs = self.sum()
            if self.peek_op(*_BARS):
                raise self._id_syntax(opener)
            span, source = self.node_span(body.span.start, rhs.span.end)
            body = Bar(span=span, source=source, op=bar.value, lhs=body, rhs=rhs)
        closer = self.close_paren(opener)
        self.depth -= 1
        span, source = self.node_span(opener.start, closer.end)
        return Paren(span=span, source=source, body=body)

    def _id_syntax(self, opener: Token) -> Exception:
        # brms's (1 | ID | g) correlates group effects across formulas; find the closing paren
        # so the message can quote the whole term.
        depth, i = 0, self.pos
        end = self.tokens[-1].end
        while i < len(self.tokens) and self.tokens[i].kind != END:
            t = self.tokens[i]
            if t.kind == OP and t.value == "(":
                depth += 1
            elif t.kind == OP and t.value == ")":
                if depth == 0:
                    end = t.end
                    break
                depth -= 1
            i += 1
        term = self.text[opener.start : end]
        return formula_error(
            f"brms's correlation-ID syntax {term} is not supported: group effects of different "
            "formulas are never correlated here; drop the ID, e.g. (1 | g)",
            self.text,
            opener.start,
            end,
        )

    # -- calls and the expression grammar -------------------------------------------------
    def call(self, name: Token) -> Call:
        opener = self.advance()
        args: list[Node] = []
        keywords: list[Keyword] = []
        while not self.peek_op(")"):
            if self.tok.kind == END:
                raise syntax_error("unclosed parenthesis", self.text, opener.start)
            following = self.tokens[self.pos + 1]
            if self.tok.kind == NAME and following.kind == OP and following.value == "=":
                key = self.advance()
                self.advance()
                value = self.expr()
                span, source = self.node_span(key.start, value.span.end)
                keywords.append(Keyword(span=span, source=source, name=key.value, value=value))
            else:
                args.append(self.expr())
            if not self.peek_op(","):
                break
            self.advance()
        closer = self.close_paren(opener)
        span, source = self.node_span(name.start, closer.end)
        return Call(
            span=span, source=source, func=name.value, args=tuple(args), keywords=tuple(keywords)
        )

    def expr(self) -> Node:
        node = self.e_and()
        while self.peek_op("|", "||") or self.peek_word("or"):
            op = self.advance().value
            node = self.binary(node, op, self.e_and())
        return node

    def e_and(self) -> Node:
        node = self.e_not()
        while self.peek_op("&", "&&") or self.peek_word("and"):
            op = self.advance().value
            node = self.binary(node, op, self.e_not())
        return node

    def e_not(self) -> Node:
        if self.peek_op("!") or self.peek_word("not"):
            op = self.advance()
            operand = self.e_not()
            span, source = self.node_span(op.start, operand.span.end)
            return UnaryOp(span=span, source=source, op=op.value, operand=operand)
        return self.e_compare()

    def e_compare(self) -> Node:
        node = self.e_add()
        while self.peek_op(*_COMPARISONS):
            op = self.advance().value
            node = self.binary(node, op, self.e_add())
        return node

    def e_add(self) -> Node:
        node = self.e_mul()
        while self.peek_op("+", "-"):
            op = self.advance().value
            node = self.binary(node, op, self.e_mul())
        return node

    def e_mul(self) -> Node:
        node = self.e_unary()
        while self.peek_op(*_MULTIPLICATIVE) or (
            self.tok.kind == OP and self.tok.value.startswith("%") and len(self.tok.value) > 1
        ):
            op = self.advance().value
            node = self.binary(node, op, self.e_unary())
        return node

    def e_unary(self) -> Node:
        if self.peek_op("+", "-"):
            op = self.advance()
            operand = self.e_unary()
            span, source = self.node_span(op.start, operand.span.end)
            return UnaryOp(span=span, source=source, op=op.value, operand=operand)
        return self.e_power()

    def e_power(self) -> Node:
        node = self.e_postfix()
        if self.peek_op("**", "^"):
            op = self.advance().value
            node = self.binary(node, op, self.e_unary())
        return node

    def e_postfix(self) -> Node:
        node = self.e_atom()
        while self.peek_op("["):
            opener = self.advance()
            index = self.expr()
            if not self.peek_op("]"):
                if self.tok.kind == END:
                    raise syntax_error("unclosed '['", self.text, opener.start)
                raise self.unexpected(" (expected ']')")
            closer = self.advance()
            span, source = self.node_span(node.span.start, closer.end)
            node = Subscript(span=span, source=source, value=node, index=index)
        return node

    def e_atom(self) -> Node:
        token = self.tok
        if token.kind == NAME and token.value not in ("and", "or", "not"):
            self.advance()
            if self.peek_op("("):
                return self.call(token)
            return Name(span=Span(token.start, token.end), source=token.value, name=token.value)
        if token.kind == QUOTED:
            self.advance()
            span, source = self.node_span(token.start, token.end)
            return Name(span=span, source=source, name=token.value, quoted=True)
        if token.kind == NUMBER:
            self.advance()
            return Number(span=Span(token.start, token.end), source=token.value, text=token.value)
        if token.kind == STRING:
            self.advance()
            span, source = self.node_span(token.start, token.end)
            return String(span=span, source=source, value=token.value)
        if token.kind == OP and token.value == "(":
            opener = self.advance()
            body = self.expr()
            closer = self.close_paren(opener)
            span, source = self.node_span(opener.start, closer.end)
            return Paren(span=span, source=source, body=body)
        if token.kind == OP and token.value == "[":
            opener = self.advance()
            items: list[Node] = []
            while not self.peek_op("]"):
                if self.tok.kind == END:
                    raise syntax_error("unclosed '['", self.text, opener.start)
                items.append(self.expr())
                if not self.peek_op(","):
                    break
                self.advance()
            if not self.peek_op("]"):
                if self.tok.kind == END:
                    raise syntax_error("unclosed '['", self.text, opener.start)
                raise self.unexpected(" (expected ']')")
            closer = self.advance()
            span, source = self.node_span(opener.start, closer.end)
            return ListExpr(span=span, source=source, items=tuple(items))
        raise self.unexpected()


def parse_formula_ast(text: str) -> FormulaNode:
    """Parse formula text into its syntax tree (no rewriting, no checks of meaning).

    Parameters
    ----------
    text : str
        A formula such as ``"y ~ x + (1 | g)"``.

    Returns
    -------
    FormulaNode

    Raises
    ------
    FormulaSyntaxError
        With the formula and a caret under the offending column.
    FormulaError
        For a group term without coefficients or grouping factor, or brms's ID syntax.

    Examples
    --------
    >>> tree = parse_formula_ast("y ~ x + (1 | g)")
    >>> tree.lhs.source, tree.rhs.op, tree.rhs.right.source
    ('y', '+', '(1 | g)')
    """
    return _Parser(text).formula()


def parse_expression(text: str) -> Node:
    """Parse a python-like expression, e.g. a transform's source text such as ``"log(x)"``.

    The design stage uses this to evaluate a term's factor without ``eval``.

    Parameters
    ----------
    text : str
        The expression.

    Returns
    -------
    Node

    Raises
    ------
    FormulaSyntaxError
        If ``text`` is not one complete expression.

    Examples
    --------
    >>> node = parse_expression("C(cat, Treatment('b'))")
    >>> node.func, node.args[0].name, node.args[1].args[0].value
    ('C', 'cat', 'b')
    >>> parse_expression("I(x**2)").args[0].op
    '**'
    """
    parser = _Parser(text)
    node = parser.expr()
    if parser.tok.kind != END:
        raise parser.unexpected()
    return node
