"""Error messages that point into the formula text with a caret."""

from __future__ import annotations

from multilevel.errors import FormulaError, FormulaSyntaxError

INDENT = "  "


def caret_block(text: str, start: int, end: int | None = None) -> str:
    """Return the formula and, on the next line, carets under columns ``start:end``.

    Tabs and line breaks are shown as spaces so that the columns line up.

    Examples
    --------
    >>> print(caret_block("y ~ x $ z", 6))
      y ~ x $ z
            ^
    >>> print(caret_block("y ~ log(x)", 4, 10))
      y ~ log(x)
          ^^^^^^
    """
    shown = "".join(" " if c in "\t\r\n\f\v" else c for c in text)
    end = start + 1 if end is None or end <= start else end
    return f"{INDENT}{shown}\n{INDENT}{' ' * start}{'^' * (end - start)}"


def _with_location(exc: Exception, text: str, start: int, end: int) -> Exception:
    exc.formula = text  # type: ignore[attr-defined]
    exc.column = start  # type: ignore[attr-defined]
    exc.end = end  # type: ignore[attr-defined]
    return exc


def syntax_error(message: str, text: str, column: int) -> FormulaSyntaxError:
    """Build a :class:`FormulaSyntaxError` with a single caret under ``column``."""
    exc = FormulaSyntaxError(f"{message}\n{caret_block(text, column)}")
    return _with_location(exc, text, column, column + 1)  # type: ignore[return-value]


def formula_error(message: str, text: str, start: int, end: int | None = None) -> FormulaError:
    """Build a :class:`FormulaError` with carets under the offending term."""
    end = start + 1 if end is None or end <= start else end
    exc = FormulaError(f"{message}\n{caret_block(text, start, end)}")
    return _with_location(exc, text, start, end)  # type: ignore[return-value]
