"""Split formula text into tokens that remember their columns.

The lexer knows the union of the formula language (``~ | || + - * / ^ : %in%``) and the
python-like expressions written inside function calls (strings, ``**``, comparisons, ``[ ]``,
keyword arguments). Which tokens are allowed where is the parser's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multilevel.formula._diagnostics import syntax_error

__all__ = ["Token", "tokenize", "NAME", "QUOTED", "NUMBER", "STRING", "OP", "END"]

NAME = "name"
QUOTED = "quoted name"
NUMBER = "number"
STRING = "string"
OP = "operator"
END = "end of formula"

# Longest operators first so that "||" wins over "|" and "**" over "*".
_OPERATORS = (
    "||",
    "&&",
    "**",
    "//",
    "==",
    "!=",
    "<=",
    ">=",
    "~",
    "|",
    "&",
    "+",
    "-",
    "*",
    "/",
    "^",
    ":",
    ",",
    "=",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    "!",
)
_NAME_RE = re.compile(r"(?:[^\W\d]|\.)[\w.]*")
_NUMBER_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PERCENT_OP_RE = re.compile(r"%[^%\s()]*%")
_WHITESPACE = " \t\r\n\f\v"
_DIGITS = "0123456789"


@dataclass(frozen=True)
class Token:
    """One token: its kind, its value and the columns ``[start, end)`` it covers.

    For a :data:`QUOTED` name the value is the name without backticks; for a :data:`STRING`
    it is the text without quotes; otherwise it is the source text itself.

    Examples
    --------
    >>> tokenize("y ~ x")[1]
    Token(kind='operator', value='~', start=2, end=3)
    """

    kind: str
    value: str
    start: int
    end: int

    def describe(self) -> str:
        """Say what the token is, for error messages."""
        if self.kind == END:
            return "end of formula"
        if self.kind == QUOTED:
            return f"name `{self.value}`"
        if self.kind == STRING:
            return "string"
        if self.kind == OP:
            return f"'{self.value}'"
        return f"{self.kind} '{self.value}'"


def tokenize(text: str) -> list[Token]:
    """Return the tokens of ``text``, ending with an :data:`END` token.

    Parameters
    ----------
    text : str
        Formula or expression text.

    Returns
    -------
    list of Token
        The last token has kind :data:`END`; it sits just after the last non-blank character.

    Raises
    ------
    FormulaSyntaxError
        For a character that belongs to no token (``$``, ``@``, ``;``...), an unterminated
        string or backtick name, or an empty backtick name.

    Examples
    --------
    >>> [t.value for t in tokenize("y ~ `my var` + I(x**2)")]
    ['y', '~', 'my var', '+', 'I', '(', 'x', '**', '2', ')', '']
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER_RE.match(text, i)
            assert m is not None
            tokens.append(Token(NUMBER, m.group(), i, m.end()))
            i = m.end()
            if i < n and _NAME_RE.match(text, i):
                raise syntax_error(
                    f"unexpected character {text[i]!r} after the number {m.group()}", text, i
                )
            continue
        m = _NAME_RE.match(text, i)
        if m is not None:
            tokens.append(Token(NAME, m.group(), i, m.end()))
            i = m.end()
            continue
        if c == "`":
            close = text.find("`", i + 1)
            if close < 0:
                raise syntax_error("unterminated backtick name", text, i)
            if close == i + 1:
                raise syntax_error("empty backtick name", text, i)
            tokens.append(Token(QUOTED, text[i + 1 : close], i, close + 1))
            i = close + 1
            continue
        if c in "'\"":
            j = i + 1
            chars: list[str] = []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise syntax_error("unterminated string", text, i)
            tokens.append(Token(STRING, "".join(chars), i, j + 1))
            i = j + 1
            continue
        if c == "%":
            m = _PERCENT_OP_RE.match(text, i)
            if m is None:
                tokens.append(Token(OP, "%", i, i + 1))
                i += 1
            else:
                tokens.append(Token(OP, m.group(), i, m.end()))
                i = m.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token(OP, op, i, i + len(op)))
                i += len(op)
                break
        else:
            raise syntax_error(f"unexpected character {c!r}", text, i)
    end = len(text.rstrip(_WHITESPACE))
    tokens.append(Token(END, "", end, end))
    return tokens
