"""Evaluate one factor of a formula (``x``, ``log(x)``, ``scale(x)``, ``poly(x, 2)``,
``C(cat)``) on a data frame, by walking its syntax tree. User text is never passed to
``eval``: only the whitelisted functions below exist.

This is the only module that turns population-level expressions into numbers, so it can be
swapped for another evaluator (formulaic) without touching the rest of the design stage.

A factor is *learned* on the training data (:func:`learn_factor`), which fixes its kind
(numeric or categorical), its columns, its levels and the parameters of stateful transforms
(the mean of ``center(x)``, the mean and SD of ``scale(x)``, the recurrence coefficients of
``poly(x, 2)``); :func:`apply_factor` re-uses all of that on new data.

Functions
---------
``log(x)`` (and ``log(x, base)``), ``log2``, ``log10``, ``log1p``, ``exp``, ``expm1``, ``sqrt``,
``abs``, ``sin``, ``cos``, ``tan``, ``tanh``, ``logit`` / ``qlogis``, ``inv_logit`` /
``plogis`` / ``expit``, ``I(...)``; stateful ``center(x)``, ``scale(x, center = TRUE, scale =
TRUE)`` (R's ``scale``: SD with n - 1), ``poly(x, degree = 1, raw = FALSE)`` (R's orthogonal
polynomials); categorical ``C(x)``, ``C(x, Treatment("b"))``, ``C(x, levels = ["b", "a"])``,
``factor(x)``, ``as.factor(x)``, ``factor(x, levels = c("b", "a"))`` and R's ``relevel(x, ref =
"b")`` (treatment contrasts against level ``b``). Operators ``+ - * / // % %% ** ^``,
comparisons, ``& | !``.

Dates (a datetime column, or text such as ``"2021-03-04"``) are not turned into categories or
numbers silently: used as they are in a term they are a DataError that says how to convert
them (``factor(date)`` asks for one category per date).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from multilevel.design._labels import factorize_sorted, label_text, match_levels
from multilevel.errors import DataError, FormulaError
from multilevel.formula._diagnostics import formula_error
from multilevel.formula.ast import (
    LITERAL_NAMES,
    BinOp,
    Call,
    ListExpr,
    Name,
    Node,
    Number,
    Paren,
    String,
    UnaryOp,
)
from multilevel.frame import label_column, numeric_column, row_list

__all__ = ["FactorInfo", "learn_factor", "apply_factor", "FUNCTIONS"]

NUMERIC = "numeric"
CATEGORICAL = "categorical"


def _logit(v: np.ndarray) -> np.ndarray:
    return np.log(v) - np.log1p(-v)


def _inv_logit(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


_ELEMENTWISE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "tanh": np.tanh,
    "logit": _logit,
    "qlogis": _logit,
    "inv_logit": _inv_logit,
    "plogis": _inv_logit,
    "expit": _inv_logit,
}

_POSITIVE = (lambda v: v > 0, "positive values")
_DOMAINS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "log": _POSITIVE,
    "log2": _POSITIVE,
    "log10": _POSITIVE,
    "log1p": (lambda v: v > -1, "values greater than -1"),
    "sqrt": (lambda v: v >= 0, "non-negative values"),
    "logit": ((lambda v: (v > 0) & (v < 1)), "values strictly between 0 and 1"),
    "qlogis": ((lambda v: (v > 0) & (v < 1)), "values strictly between 0 and 1"),
}

_CATEGORICAL_CALLS = ("C", "factor", "as.factor", "relevel")
_STATEFUL = ("center", "scale", "poly")
#: Every function a formula may call in a population-level or varying term.
FUNCTIONS = tuple(sorted({*_ELEMENTWISE, "I", *_STATEFUL, *_CATEGORICAL_CALLS}))
_TREATMENT = frozenset({"Treatment", "contr.treatment", "treatment"})
_OTHER_CONTRASTS = frozenset(
    {"Sum", "Helmert", "Poly", "Diff", "contr.sum", "contr.helmert", "contr.poly", "contr.SAS"}
)
#: Text that is a date or a date and time (ISO 8601), as a CSV file holds dates.
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_TRUE = frozenset({"TRUE", "True", "T"})
_FALSE = frozenset({"FALSE", "False", "F"})

_ARITHMETIC: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "//": np.floor_divide,
    "%": np.mod,
    "%%": np.mod,
    "**": np.power,
    "^": np.power,
}
_COMPARE: dict[str, Callable[[object, object], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
_LOGICAL = {"&": np.logical_and, "&&": np.logical_and, "and": np.logical_and}
_LOGICAL |= {"|": np.logical_or, "||": np.logical_or, "or": np.logical_or}


@dataclass(frozen=True, eq=False)
class FactorInfo:
    """Everything needed to evaluate one factor again on new data.

    Parameters
    ----------
    text : str
        The factor as it appears in term names: ``"x"``, ``"log(x)"``, ``"C(cat)"``.
    kind : {"numeric", "categorical"}
    suffixes : tuple of str
        Numeric: ``("",)`` for one column, ``("1", "2")`` for ``poly(x, 2)``. Categorical: the
        text of every level, in level order.
    levels : pandas.Index or None
        Categorical levels in order (the reference level at ``reference``).
    reference : int
        Position of the reference level of treatment contrasts.
    state : tuple
        ``(key, parameters)`` of each stateful transform inside the factor.
    """

    text: str
    kind: str
    suffixes: tuple[str, ...]
    levels: pd.Index | None = None
    reference: int = 0
    state: tuple = field(default=())

    @property
    def width(self) -> int:
        """Number of columns of a numeric factor or number of levels of a categorical one."""
        return len(self.suffixes)


@dataclass(frozen=True)
class _Labels:
    """Categorical values during evaluation (not yet coded)."""

    values: pd.Series
    levels: tuple | None = None  # explicit order from C(..., levels=) or a pandas categorical
    reference: object = None  # from C(x, Treatment("b"))
    has_reference: bool = False


@dataclass(frozen=True)
class _Columns:
    """Several numeric columns (``poly``)."""

    values: np.ndarray  # (n, k)
    suffixes: tuple[str, ...]


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, text: str, formula: str, state: dict, learn: bool):
        self.frame = frame
        self.text = text  # the factor, for messages
        self.formula = formula  # the formula text, for carets
        self.state = state
        self.learn = learn

    # -- errors ---------------------------------------------------------------------------
    def formula_error(self, message: str, node: Node) -> FormulaError:
        if self.formula and self.formula[node.span.start : node.span.end] == node.source:
            return formula_error(message, self.formula, node.span.start, node.span.end)
        return FormulaError(message)

    def rows(self, mask: np.ndarray) -> str:
        return row_list(self.frame.index, mask)

    # -- evaluation -----------------------------------------------------------------------
    def value(self, node: Node):
        if isinstance(node, Paren):
            return self.value(node.body)
        if isinstance(node, Name):
            return self.column(node)
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, UnaryOp):
            return self.unary(node)
        if isinstance(node, BinOp):
            return self.binary(node)
        if isinstance(node, Call):
            return self.call(node)
        raise self.formula_error(f"{node.source} cannot be evaluated in the term {self.text}", node)

    def column(self, node: Name):
        name = node.name
        if not node.quoted and name in LITERAL_NAMES:
            if name in _TRUE:
                return True
            if name in _FALSE:
                return False
            if name in ("Inf",):
                return np.inf
            raise self.formula_error(f"{name} cannot be used in the term {self.text}", node)
        if name not in self.frame.columns:
            from multilevel.frame import require_columns

            require_columns(self.frame, [name])
        column = self.frame[name]
        if _is_date_dtype(column.dtype):
            raise _date_error(name, f"dates ({column.dtype})", self.text)
        if pd.api.types.is_bool_dtype(column.dtype):
            label_column(self.frame, name)
            return column.to_numpy(dtype=bool)
        if isinstance(column.dtype, pd.CategoricalDtype):
            label_column(self.frame, name)
            return _Labels(column, levels=_used_categories(column))
        if pd.api.types.is_numeric_dtype(column.dtype):
            return numeric_column(self.frame, name)
        return _Labels(label_column(self.frame, name))

    def numeric(self, node: Node, what: str) -> np.ndarray | float:
        value = self.value(node)
        if isinstance(value, _Labels):
            raise DataError(
                f"{node.source} is categorical (text or category labels) and cannot be used "
                f"in {what} in the term {self.text}"
            )
        if isinstance(value, _Columns):
            raise self.formula_error(
                f"{node.source} has several columns and must be a term of its own, not part "
                f"of {what} in {self.text}",
                node,
            )
        if isinstance(value, str):
            raise self.formula_error(f"the text {node.source} is not a number in {self.text}", node)
        if isinstance(value, np.ndarray) and value.dtype == bool:
            return value.astype(float)
        if isinstance(value, bool):
            return float(value)
        return value

    def unary(self, node: UnaryOp):
        if node.op in ("!", "not"):
            value = self.value(node.operand)
            if not (isinstance(value, np.ndarray | bool) and np.asarray(value).dtype == bool):
                raise self.formula_error(
                    f"'{node.op}' needs a logical value in {node.source} (term {self.text})",
                    node,
                )
            return np.logical_not(value)
        value = self.numeric(node.operand, f"'{node.op}'")
        return -value if node.op == "-" else value

    def binary(self, node: BinOp):
        if node.op in _LOGICAL:
            left, right = self.value(node.left), self.value(node.right)
            for side, value in ((node.left, left), (node.right, right)):
                if np.asarray(value).dtype != bool:
                    raise self.formula_error(
                        f"'{node.op}' needs logical values on both sides in {node.source} "
                        f"(term {self.text})",
                        side,
                    )
            return _LOGICAL[node.op](left, right)
        if node.op in _COMPARE and node.op in ("==", "!="):
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(left, _Labels) or isinstance(right, _Labels):
                return self.compare_labels(node, left, right)
        if node.op in _COMPARE:
            left = self.numeric(node.left, f"'{node.op}'")
            right = self.numeric(node.right, f"'{node.op}'")
            return np.asarray(_COMPARE[node.op](left, right))
        if node.op in _ARITHMETIC:
            left = self.numeric(node.left, f"'{node.op}'")
            right = self.numeric(node.right, f"'{node.op}'")
            with np.errstate(all="ignore"):
                return _ARITHMETIC[node.op](left, right)
        raise self.formula_error(
            f"the operator '{node.op}' cannot be used in {node.source} (term {self.text})", node
        )

    def compare_labels(self, node: BinOp, left, right) -> np.ndarray:
        labels = left if isinstance(left, _Labels) else right
        other = right if labels is left else left
        if isinstance(other, _Labels):
            result = labels.values.to_numpy(dtype=object) == other.values.to_numpy(dtype=object)
        elif isinstance(other, str | float | int):
            texts = labels.values.map(label_text).to_numpy(dtype=object)
            result = texts == label_text(other)
        else:
            raise self.formula_error(
                f"{node.source} compares categorical labels with numbers (term {self.text})", node
            )
        result = np.asarray(result, dtype=bool)
        return ~result if node.op == "!=" else result

    # -- calls ----------------------------------------------------------------------------
    def call(self, node: Call):
        func = node.func
        if func in _CATEGORICAL_CALLS:
            return self.categorical(node)
        if func == "I":
            self.arity(node, 1)
            return self.value(node.args[0])
        if func in _ELEMENTWISE:
            return self.elementwise(node)
        if func in _STATEFUL:
            return getattr(self, f"stateful_{func}")(node)
        raise self.formula_error(
            f"unknown function {func}() in the term {self.text}; the functions available are "
            + ", ".join(f"{f}()" for f in FUNCTIONS),
            node,
        )

    def arity(self, node: Call, count: int, keywords: tuple[str, ...] = ()) -> None:
        unknown = [k.name for k in node.keywords if k.name not in keywords]
        if unknown:
            valid = f"; valid keywords are {', '.join(keywords)}" if keywords else ""
            raise self.formula_error(
                f"{node.func}() has no argument '{unknown[0]}' in {node.source}{valid}", node
            )
        if not 1 <= len(node.args) <= count:
            many = "exactly one argument" if count == 1 else f"1 to {count} arguments"
            raise self.formula_error(f"{node.func}() takes {many} in {node.source}", node)

    def elementwise(self, node: Call) -> np.ndarray:
        func = node.func
        self.arity(node, 2 if func == "log" else 1, ("base",) if func == "log" else ())
        argument = node.args[0]
        value = np.asarray(self.numeric(argument, f"{func}()"), dtype=float)
        if func in _DOMAINS:
            ok, needed = _DOMAINS[func]
            bad = ~ok(value)
            if bad.any():
                bad = np.broadcast_to(bad, (len(self.frame),))
                raise DataError(
                    f"the term {self.text} takes {func}() of {argument.source}, which needs "
                    f"{needed}, but {argument.source} is {_describe(value, bad)} in "
                    f"{self.rows(bad)}"
                )
        with np.errstate(all="ignore"):
            result = _ELEMENTWISE[func](value)
        base_node = node.args[1] if len(node.args) > 1 else node.keyword("base")
        if base_node is not None:
            base = self.numeric(base_node, "the base of log()")
            if not np.isscalar(base) or base <= 0 or base == 1:
                raise self.formula_error(
                    f"the base of {node.source} must be a number > 0, not 1", node
                )
            result = result / np.log(base)
        return result

    # -- stateful transforms --------------------------------------------------------------
    def remember(self, node: Call, compute: Callable[[], tuple]) -> tuple:
        key = (node.source, node.span.start, node.span.end)
        if self.learn:
            self.state[key] = compute()
        return self.state[key]

    def flag(self, node: Call, name: str, default: bool) -> bool:
        value = node.keyword(name)
        if value is None:
            return default
        if isinstance(value, Name) and not value.quoted and value.name in _TRUE | _FALSE:
            return value.name in _TRUE
        raise self.formula_error(f"{name} must be TRUE or FALSE in {node.source}", value)

    def vector(self, node: Call) -> np.ndarray:
        value = self.numeric(node.args[0], f"{node.func}()")
        if np.ndim(value) == 0:
            raise self.formula_error(f"{node.source} does not depend on the data", node)
        return np.asarray(value, dtype=float)

    def stateful_center(self, node: Call) -> np.ndarray:
        self.arity(node, 1)
        x = self.vector(node)
        (mean,) = self.remember(node, lambda: (float(np.mean(x)),))
        return x - mean

    def stateful_scale(self, node: Call) -> np.ndarray:
        self.arity(node, 1, ("center", "scale"))
        x = self.vector(node)
        center = self.flag(node, "center", True)
        scale = self.flag(node, "scale", True)

        def compute() -> tuple:
            mean = float(np.mean(x)) if center else 0.0
            spread = 1.0
            if scale:
                if len(x) < 2:
                    raise DataError(f"{node.source} needs at least two rows")
                spread = float(np.sqrt(np.sum((x - mean) ** 2) / (len(x) - 1)))
                if not spread > 0:
                    raise DataError(
                        f"{node.source} divides by the SD of {node.args[0].source}, which is 0 "
                        "(the values are all the same)"
                    )
            return mean, spread

        mean, spread = self.remember(node, compute)
        return (x - mean) / spread

    def stateful_poly(self, node: Call) -> _Columns:
        self.arity(node, 2, ("degree", "raw"))
        x = self.vector(node)
        degree_node = node.args[1] if len(node.args) > 1 else node.keyword("degree")
        degree = 1
        if degree_node is not None:
            if not (
                isinstance(degree_node, Number)
                and degree_node.value >= 1
                and degree_node.value.is_integer()
            ):
                raise self.formula_error(
                    f"the degree in {node.source} must be a whole number of at least 1",
                    degree_node,
                )
            degree = int(degree_node.value)
        suffixes = tuple(str(k) for k in range(1, degree + 1))
        if self.flag(node, "raw", False):
            return _Columns(np.column_stack([x**k for k in range(1, degree + 1)]), suffixes)

        def compute() -> tuple:
            distinct = len(np.unique(x))
            if degree >= distinct:
                raise DataError(
                    f"{node.source} needs more than {degree} distinct values of "
                    f"{node.args[0].source}; the data have {distinct}"
                )
            return _poly_coefficients(x, degree)

        alpha, norm2 = self.remember(node, compute)
        return _Columns(_poly_evaluate(x, alpha, norm2), suffixes)

    # -- categorical ----------------------------------------------------------------------
    def categorical(self, node: Call) -> _Labels:
        if node.func == "relevel":
            keywords: tuple[str, ...] = ("ref",)
            self.arity(node, 2, keywords)
            if len(node.args) + len(node.keywords) != 2:
                raise self.formula_error(
                    f'relevel() needs the reference level: relevel(x, ref = "b") in {node.source}',
                    node,
                )
        else:
            keywords = ("levels",) if node.func != "C" else ("levels", "contrast")
            self.arity(node, 2 if node.func == "C" else 1, keywords)
        argument = node.args[0]
        if isinstance(argument, Name) and argument.name in self.frame.columns:
            raw = label_column(self.frame, argument.name)
            if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(
                raw.dtype
            ):
                numeric_column(self.frame, argument.name)  # NaN / inf checks with rows
            labels = _Labels(
                raw,
                levels=_used_categories(raw)
                if isinstance(raw.dtype, pd.CategoricalDtype)
                else None,
            )
        else:
            value = self.value(argument)
            if isinstance(value, _Labels):
                labels = value
            elif isinstance(value, _Columns) or np.ndim(value) == 0:
                raise self.formula_error(
                    f"{argument.source} cannot be made categorical in {node.source}", argument
                )
            else:
                labels = _Labels(pd.Series(value, index=self.frame.index))
        levels = labels.levels
        level_node = node.keyword("levels")
        if level_node is not None:
            levels = self.level_list(level_node, node)
        reference, has_reference = None, False
        if node.func == "relevel":
            ref = node.args[1] if len(node.args) > 1 else node.keyword("ref")
            if not isinstance(ref, String | Number):
                raise self.formula_error(
                    f'the reference level in {node.source} must be a label such as "b"', ref
                )
            return _Labels(labels.values, levels, ref.value, True)
        contrast = node.args[1] if len(node.args) > 1 else node.keyword("contrast")
        if contrast is not None:
            reference, has_reference = self.contrast(contrast, node)
        return _Labels(labels.values, levels, reference, has_reference)

    def level_list(self, value: Node, node: Call) -> tuple:
        items: tuple[Node, ...] | None = None
        if isinstance(value, ListExpr):
            items = value.items
        elif isinstance(value, Call) and value.func == "c" and not value.keywords:
            items = value.args
        if items is None or not all(isinstance(i, String | Number) for i in items):
            raise self.formula_error(
                f"levels must be a list of labels such as ['b', 'a', 'c'] in {node.source}",
                value,
            )
        return tuple(i.value for i in items)  # type: ignore[attr-defined]

    def contrast(self, value: Node, node: Call) -> tuple[object, bool]:
        name = value.func if isinstance(value, Call) else getattr(value, "name", None)
        if name in _TREATMENT:
            if isinstance(value, Call):
                reference = value.args[0] if value.args else value.keyword("reference")
                if reference is None:
                    reference = value.keyword("base")
                if isinstance(reference, String | Number):
                    return reference.value, True
                if reference is not None:
                    raise self.formula_error(
                        f"the reference level in {value.source} must be a label such as 'b'",
                        reference,
                    )
            return None, False
        if name in _OTHER_CONTRASTS:
            raise self.formula_error(
                f"only treatment (dummy) contrasts are supported, not {value.source} in "
                f"{node.source}; write C(x) or C(x, Treatment('b'))",
                value,
            )
        raise self.formula_error(
            f"unknown contrast {value.source} in {node.source}; write C(x) or C(x, Treatment('b'))",
            value,
        )


def _is_date_dtype(dtype) -> bool:
    return (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    )


def _date_error(name: str, what: str, term: str) -> DataError:
    return DataError(
        f"column {name!r} holds {what}, which the term {term} cannot use as they are: convert "
        "the column explicitly before fitting, to a number (such as days since the first date, "
        f"or the year) or to categories with factor({name}) in the formula (one coefficient per "
        "distinct value)"
    )


def _date_text(labels: _Labels) -> str | None:
    """The first value of a text column whose values all look like dates, else None."""
    values = labels.values
    if labels.levels is not None or not (
        pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)
    ):
        return None
    sample = values.iloc[:1000].tolist()
    if sample and all(isinstance(v, str) and _DATE_TEXT.match(v) for v in sample):
        return sample[0]
    return None


def _used_categories(column: pd.Series) -> tuple:
    """A categorical's categories in their order, less those that do not occur."""
    return tuple(column.cat.remove_unused_categories().cat.categories)


def _describe(value: np.ndarray, bad: np.ndarray, limit: int = 5) -> str:
    worst = np.broadcast_to(np.asarray(value), bad.shape)[bad][:limit]
    shown = ", ".join("NaN" if np.isnan(v) else label_text(float(v)) for v in worst)
    return shown + (" ..." if bad.sum() > limit else "")


def _poly_coefficients(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """R's ``poly()`` three-term recurrence: centres ``alpha`` and squared norms ``norm2``."""
    n = len(x)
    alpha = np.zeros(degree)
    norm2 = np.zeros(degree + 2)
    norm2[0], norm2[1] = 1.0, float(n)
    previous, current = np.zeros(n), np.ones(n)
    for k in range(degree):
        alpha[k] = float(np.sum(x * current**2) / norm2[k + 1])
        following = (x - alpha[k]) * current - (norm2[k + 1] / norm2[k]) * previous
        norm2[k + 2] = float(np.sum(following**2))
        previous, current = current, following
    return alpha, norm2


def _poly_evaluate(x: np.ndarray, alpha: np.ndarray, norm2: np.ndarray) -> np.ndarray:
    """Orthonormal polynomial columns of ``x`` from the training recurrence (R's predict)."""
    degree = len(alpha)
    columns = np.empty((len(x), degree + 1))
    columns[:, 0] = 1.0
    columns[:, 1] = x - alpha[0]
    for k in range(1, degree):
        columns[:, k + 1] = (x - alpha[k]) * columns[:, k] - (norm2[k + 1] / norm2[k]) * columns[
            :, k - 1
        ]
    return columns[:, 1:] / np.sqrt(norm2[2:])


# -- factors ------------------------------------------------------------------------------


def _evaluate(
    node: Node,
    frame: pd.DataFrame,
    text: str,
    formula: str,
    state: dict,
    learn: bool,
    numeric_only: bool = False,
):
    evaluator = _Evaluator(frame, text, formula, state, learn)
    value = evaluator.value(node)
    n = len(frame)
    if isinstance(value, _Labels) and isinstance(node, Name):
        first = _date_text(value)
        if first is not None:
            raise _date_error(node.name, f"dates written as text (such as {first!r})", text)
    if isinstance(value, _Labels | _Columns):
        return value
    if isinstance(value, str) or np.ndim(value) == 0:
        raise evaluator.formula_error(
            f"the term {text} is a constant, not a predictor; remove it (the intercept is 1)",
            node,
        )
    if isinstance(value, np.ndarray) and value.dtype == bool:
        if numeric_only:
            return value.astype(float)
        value = _Labels(pd.Series(value, index=frame.index), levels=(False, True))
    if isinstance(value, _Labels | _Columns):
        return value
    value = np.asarray(value, dtype=float)
    if value.shape != (n,):  # pragma: no cover - numpy broadcasting keeps the row count
        raise DataError(f"the term {text} does not have one value per row")
    return value


def _check_finite(text: str, frame: pd.DataFrame, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.ndim > 1:
        bad = bad.any(axis=1)
    if bad.any():
        raise DataError(
            f"the term {text} is not finite (NaN or infinite) in {row_list(frame.index, bad)}; "
            "check the values of its columns there"
        )


def learn_factor(
    text: str, node: Node, frame: pd.DataFrame, formula: str = "", *, numeric_only: bool = False
) -> tuple[FactorInfo, np.ndarray]:
    """Evaluate a factor on the training data and record how to evaluate it again.

    Parameters
    ----------
    text : str
        The factor's text (term names are built from it).
    node : Node
        Its syntax tree.
    frame : pandas.DataFrame
        Training data.
    formula : str
        The formula text, for carets in error messages.
    numeric_only : bool
        Whether a categorical value is an error (responses, addition terms, offsets).

    Returns
    -------
    info : FactorInfo
    values : numpy.ndarray
        float ``(n, k)`` columns for a numeric factor, int64 ``(n,)`` level codes for a
        categorical one.

    Raises
    ------
    DataError, FormulaError
    """
    state: dict = {}
    value = _evaluate(node, frame, text, formula, state, True, numeric_only)
    frozen = tuple(state.items())
    if isinstance(value, _Labels):
        if numeric_only:
            raise DataError(_not_numeric(text, value.values, frame))
        info, codes = _learn_levels(text, value, frame, frozen)
        return info, codes
    if isinstance(value, _Columns):
        if numeric_only:
            raise FormulaError(f"{text} has several columns; a single column is needed here")
        _check_finite(text, frame, value.values)
        return FactorInfo(text, NUMERIC, value.suffixes, state=frozen), value.values
    _check_finite(text, frame, value)
    return FactorInfo(text, NUMERIC, ("",), state=frozen), value[:, None]


def _not_numeric(text: str, values: pd.Series, frame: pd.DataFrame) -> str:
    """Why a column of labels is not a number: its first value that is not one, where."""
    numbers = pd.to_numeric(values.astype(object), errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy()
    if bad.all() or not bad.any():  # words, or a categorical of numbers
        return f"{text} must be numeric, but it holds labels such as {label_text(values.iloc[0])!r}"
    first = values[bad].iloc[0]
    return (
        f"{text} must be numeric, but it holds labels such as {label_text(first)!r} in "
        f"{row_list(frame.index, bad)}; if that marks a missing value, write NA or leave the "
        "cell empty"
    )


def _learn_levels(
    text: str, value: _Labels, frame: pd.DataFrame, state: tuple
) -> tuple[FactorInfo, np.ndarray]:
    if value.levels is not None:
        levels = pd.Index(list(value.levels))
        codes = match_levels(levels, value.values)
        if (codes < 0).any():
            bad = codes < 0
            unknown = pd.unique(value.values[bad]).tolist()
            raise DataError(
                f"{text} has values {', '.join(map(repr, unknown[:5]))} that are not among the "
                f"levels given ({', '.join(map(label_text, levels))}) in "
                f"{row_list(frame.index, bad)}"
            )
    else:
        codes, levels = factorize_sorted(value.values)
    if len(levels) < 2:
        raise DataError(
            f"the categorical predictor {text} has a single level "
            f"({label_text(levels[0]) if len(levels) else 'none'!r}) in the data; it needs at "
            "least 2 levels, or remove the term"
        )
    reference = 0
    if value.has_reference:
        matches = [
            i for i, level in enumerate(levels) if label_text(level) == label_text(value.reference)
        ]
        if not matches:
            raise DataError(
                f"the reference level {value.reference!r} of {text} is not one of its levels: "
                + ", ".join(map(label_text, levels))
            )
        reference = matches[0]
    suffixes = tuple(label_text(level) for level in levels)
    if len(set(suffixes)) != len(suffixes):
        raise DataError(f"{text} has distinct levels with the same text: {', '.join(suffixes)}")
    info = FactorInfo(text, CATEGORICAL, suffixes, levels=levels, reference=reference, state=state)
    return info, np.asarray(codes, dtype=np.int64)


def apply_factor(
    info: FactorInfo, node: Node, frame: pd.DataFrame, formula: str = ""
) -> np.ndarray:
    """Evaluate a learned factor on new data with the training encodings.

    Returns
    -------
    numpy.ndarray
        As :func:`learn_factor`.

    Raises
    ------
    DataError
        For a categorical level that was not in the training data (always an error: the model
        has no coefficient for it), or values outside a transform's domain.
    """
    state = dict(info.state)
    value = _evaluate(node, frame, info.text, formula, state, False, info.kind == NUMERIC)
    if info.kind == CATEGORICAL:
        if not isinstance(value, _Labels):  # a numeric column that was categorical before
            value = _Labels(pd.Series(np.asarray(value), index=frame.index))
        codes = match_levels(info.levels, value.values)
        bad = codes < 0
        if bad.any():
            unknown = pd.unique(value.values[bad])
            shown = ", ".join(repr(label_text(u)) for u in unknown[:10])
            raise DataError(
                f"the categorical predictor {info.text} has level{'s' if len(unknown) > 1 else ''}"
                f" {shown} in {row_list(frame.index, bad)} that the model was not fitted with; "
                f"its levels are {', '.join(info.suffixes)}"
            )
        return codes
    if isinstance(value, _Labels):
        raise DataError(
            f"{info.text} was numeric in the training data but holds labels such as "
            f"{label_text(value.values.iloc[0])!r} in the new data"
        )
    matrix = value.values if isinstance(value, _Columns) else value[:, None]
    _check_finite(info.text, frame, matrix)
    return matrix
