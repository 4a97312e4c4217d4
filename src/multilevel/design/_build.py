"""Formula + data → :class:`Design`, and the same on new data with learned encodings."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from multilevel.design._coding import TermCoding, build_columns, plan_terms
from multilevel.design._evaluate import FactorInfo, apply_factor, learn_factor
from multilevel.design._factors import factor_design
from multilevel.design._groups import NEW_GROUPS, GroupingInfo, apply_grouping, learn_grouping
from multilevel.design._rank import aliased_columns, describe_aliased
from multilevel.design._types import (
    BlockInfo,
    Design,
    DesignInfo,
    DparDesign,
    GroupBlock,
    PartInfo,
)
from multilevel.errors import DataError, DataWarning, FormulaError
from multilevel.families import FAMILY_ADDITIONS, REGISTRY, takes
from multilevel.family_names import read_family
from multilevel.formula import parse
from multilevel.formula.ast import variables as expression_variables
from multilevel.formula.terms import Formula, GroupTerm
from multilevel.frame import (
    check_na_action,
    missing_values,
    require_columns,
    row_list,
    to_pandas,
)

__all__ = ["design", "transform", "transform_complete", "missing_rows", "block_plan"]


def _readonly(array: np.ndarray) -> np.ndarray:
    if not array.flags.writeable and 0 in array.strides:
        return array  # a constant held as one value (np.broadcast_to), read-only already
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


def _family_name(family) -> str | None:
    """The family's name as the registry spells it (aliases resolved, a link call read)."""
    if family is None:
        return None
    if isinstance(family, str):
        read = read_family(family)
        return read[0] if read is not None else family.lower()
    name = getattr(family, "name", None)
    if isinstance(name, str):
        return name.lower()
    raise TypeError(
        f"family must be a name such as 'gaussian' or a family object, not {type(family).__name__}"
    )


def _check_additions(formula: Formula, family: str | None) -> None:
    """Refuse an addition term that the family's record does not take (unknown families are
    left to the family lookup), naming the family that takes it."""
    record = REGISTRY.get(family)
    if record is None:
        return
    for kind, _ in formula.additions:
        if kind in FAMILY_ADDITIONS and kind not in record.additions:
            families = takes(kind)
            use = f"family='{families[0]}' (--family {families[0]} on the command line)"
            pair = formula.binomial_pair
            if kind == "trials" and pair is not None:
                raise FormulaError(
                    f"{pair} is lme4's binomial response (successes, failures): fit it with "
                    f"{use}, not the {family} family"
                )
            raise FormulaError(
                f"the addition term {kind}() is not used by the {family} family (it is for "
                f"{', '.join(families)}): use {use}, or remove it from '{formula.text}'"
            )


def _check_addition_values(
    kind: str, text: str, values: np.ndarray, frame: pd.DataFrame, pair: str | None = None
) -> None:
    if kind == "trials" and pair is not None:
        bad = (values < 0) | (values != np.round(values))
        if bad.any():
            raise DataError(
                f"successes + failures of {pair} must be non-negative whole numbers, but they "
                f"are {values[bad][0]:g} in {row_list(frame.index, bad)}"
            )
    if kind == "trials":
        bad = (values < 0) | (values != np.round(values))
        need = "non-negative whole numbers"
    elif kind == "se":
        bad = values <= 0
        need = "positive"
    else:
        bad = values < 0
        need = "non-negative"
    if bad.any():
        raise DataError(
            f"{kind}({text}) must be {need}, but {text} is {values[bad][0]:g} in "
            f"{row_list(frame.index, bad)}"
        )
    if kind == "weights" and not (values > 0).any():
        raise DataError(f"weights({text}) are all 0")


# -- one formula (main or distributional) ---------------------------------------------------


@dataclass
class _Context:
    """State shared by the formulas of one design: the data, the mode and the groupings."""

    frame: pd.DataFrame
    learn: bool
    new_groups: str = "error"
    notes: list[str] = field(default_factory=list)
    groupings: dict[str, GroupingInfo] = field(default_factory=dict)
    grouping_values: dict[str, tuple[np.ndarray, np.ndarray, pd.Index]] = field(
        default_factory=dict
    )


def _factor_texts(formula: Formula) -> list[str]:
    texts = [f for t in formula.terms for f in t.factors]
    texts += [f for block in formula.groups for t in block.terms for f in t.factors]
    return list(dict.fromkeys(texts))


def _evaluate_factors(
    formula: Formula, ctx: _Context, known: PartInfo | None
) -> tuple[dict[str, FactorInfo], dict[str, np.ndarray]]:
    infos: dict[str, FactorInfo] = {}
    values: dict[str, np.ndarray] = {}
    for text in _factor_texts(formula):
        node = formula.expressions[text]
        if known is None:
            infos[text], values[text] = learn_factor(text, node, ctx.frame, formula.text)
        else:
            infos[text] = known.factors[text]
            values[text] = apply_factor(infos[text], node, ctx.frame, formula.text)
    return infos, values


def _offset(
    formula: Formula, ctx: _Context, known: PartInfo | None
) -> tuple[tuple[FactorInfo, ...], np.ndarray]:
    total = np.broadcast_to(0.0, (len(ctx.frame),))  # no offset: zeros held as one value
    infos = []
    for k, text in enumerate(formula.offsets):
        node = formula.expressions[text]
        if known is None:
            info, matrix = learn_factor(
                f"offset({text})", node, ctx.frame, formula.text, numeric_only=True
            )
        else:
            info = known.offsets[k]
            matrix = apply_factor(info, node, ctx.frame, formula.text)
        infos.append(info)
        total = total + matrix[:, 0]
    return tuple(infos), total


def _coding_intercept(block: GroupTerm, formula: Formula) -> bool:
    """Whether the block's terms are coded as if an intercept were present.

    A block split off ``(1 + cat || g)`` is coded like the whole term (brms): treatment
    contrasts for ``cat``, because the intercept is in a sibling block.
    """
    if block.intercept:
        return True
    if block.correlated:
        return False
    return any(
        other.intercept
        and other.source == block.source
        and other.group == block.group
        and other.membership == block.membership
        for other in formula.groups
    )


def block_plan(term: GroupTerm, formula: Formula, infos: Mapping[str, FactorInfo]) -> BlockInfo:
    """How a group term's ``Z`` is coded, from the learned factors alone (no data): its
    terms planned as the population part's are, with an intercept when
    :func:`_coding_intercept` says so."""
    spanned = _coding_intercept(term, formula)
    rest = [t for t in term.terms if not t.is_intercept]
    coding: tuple[TermCoding, ...] = plan_terms(rest, spanned, infos)
    if spanned and not term.intercept:
        coding = coding[1:]
    coef_names = tuple(name for plan in coding for name in plan.names)
    return BlockInfo(term, term.name, coding, coef_names)


def _grouping(block: GroupTerm, ctx: _Context) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    name = block.name
    if name not in ctx.grouping_values:
        if ctx.learn:
            info, index, weights = learn_grouping(block, ctx.frame)
            ctx.groupings[name] = info
            ctx.grouping_values[name] = (index, weights, pd.Index([], dtype=object))
        else:
            ctx.grouping_values[name] = apply_grouping(
                ctx.groupings[name], ctx.frame, ctx.new_groups
            )
    return ctx.grouping_values[name]


def _column_grouping(column: str, ctx: _Context) -> tuple[np.ndarray, pd.Index, pd.Index]:
    """A single grouping column's int32 ``(n,)`` index, training levels and new levels."""
    index, _, new_levels = _grouping(GroupTerm((), (column,)), ctx)
    return index[:, 0], ctx.groupings[column].levels, new_levels


def _blocks(
    formula: Formula,
    ctx: _Context,
    infos: dict[str, FactorInfo],
    values: dict[str, np.ndarray],
    known: PartInfo | None,
    population: tuple[TermCoding, ...],
    X: np.ndarray,
) -> tuple[tuple[BlockInfo, ...], tuple[GroupBlock, ...]]:
    n = len(ctx.frame)
    block_infos: list[BlockInfo] = []
    blocks: list[GroupBlock] = []
    for k, term in enumerate(formula.groups):
        block_info = block_plan(term, formula, infos) if known is None else known.blocks[k]
        index, weights, new_levels = _grouping(term, ctx)
        Z = _block_columns(block_info.coding, population, X, infos, values, n)
        block_infos.append(block_info)
        columns = term.membership.columns if term.membership is not None else term.group
        blocks.append(
            GroupBlock(
                name=term.name,
                coef_names=block_info.coef_names,
                correlated=term.correlated,
                levels=ctx.groupings[term.name].levels,
                index=_readonly(index),
                weights=_readonly(weights),
                Z=_readonly(Z),
                columns=columns,
                source=term.source,
                new_levels=new_levels,
            )
        )
    return tuple(block_infos), tuple(blocks)


def _block_columns(coding, population, X, infos, values, n) -> np.ndarray:
    """A group term's ``Z``, sharing memory where it can: ``X`` itself when the term has the
    population-level columns (``y ~ x + (x | g)``: 8 bytes per row and column saved), one
    constant value for an intercept alone; else built."""
    if coding == population:
        return X
    if len(coding) == 1 and not coding[0].factors:
        return np.broadcast_to(1.0, (n, 1))
    return build_columns(coding, infos, values, n)


def _aliased(formula: Formula, X: np.ndarray, population, ctx: _Context) -> tuple[str, ...]:
    """Names of the population-level columns to drop because they are linear combinations of
    the columns before them (lme4's ``check.rankX = "message+drop.cols"``), with a
    DataWarning naming them."""
    if X.shape[1] < 2:
        return ()
    aliased, coefficients = aliased_columns(X)
    if not aliased:
        return ()
    names = [name for plan in population for name in plan.names]
    what = describe_aliased(names, aliased, coefficients, X)
    where = "" if formula.parameter == "mu" else f" of the formula for {formula.parameter}"
    if len(aliased) == 1:
        j = aliased[0]
        constant = X.shape[0] > 1 and np.ptp(X[:, j]) == 0 and np.any(X[:, j])
        kind = "is constant" if constant else "is a linear combination of the columns before it"
        note = (
            f"population-level column {what[0]}{where} {kind}, which makes the model matrix "
            "rank deficient: it cannot be estimated and is dropped, as lme4 does ('dropping 1 "
            "column / coefficient'); remove it from the formula to fit without this message"
        )
    else:
        note = (
            f"population-level columns {', '.join(what[:-1])} and {what[-1]}{where} are linear "
            "combinations of the columns before them, which makes the model matrix rank "
            f"deficient: they cannot be estimated and are dropped, as lme4 does ('dropping "
            f"{len(aliased)} columns / coefficients'); remove them from the formula to fit "
            "without this message"
        )
    ctx.notes.append(note)
    return tuple(names[j] for j in aliased)


def _part(
    formula: Formula, ctx: _Context, known: PartInfo | None
) -> tuple[PartInfo, np.ndarray, np.ndarray, tuple[GroupBlock, ...]]:
    infos, values = _evaluate_factors(formula, ctx, known)
    if known is None:
        population = plan_terms(formula.terms, formula.intercept, infos)
    else:
        population = known.population
    X = build_columns(population, infos, values, len(ctx.frame))
    offset_infos, offset = _offset(formula, ctx, known)
    X = _readonly(X)
    block_infos, blocks = _blocks(formula, ctx, infos, values, known, population, X)
    dropped = _aliased(formula, X, population, ctx) if known is None else known.dropped
    if dropped:
        names = [name for plan in population for name in plan.names]
        X = _readonly(np.delete(X, [names.index(name) for name in dropped], axis=1))
    info = PartInfo(
        parameter=formula.parameter,
        intercept=formula.intercept,
        factors=MappingProxyType(infos),
        population=population,
        offsets=offset_infos,
        blocks=block_infos,
        dropped=dropped,
    )
    return info, X, offset, blocks


# -- response and addition terms -------------------------------------------------------------


def _columns_of(formula: Formula, text: str) -> list[str]:
    return expression_variables(formula.expressions[text])


def _response(
    formula: Formula, ctx: _Context, known: DesignInfo | None
) -> tuple[FactorInfo | None, np.ndarray | None]:
    text = formula.response
    if text is None:
        return None, None
    node = formula.expressions[text]
    if known is None:
        try:
            info, matrix = learn_factor(text, node, ctx.frame, formula.text, numeric_only=True)
        except DataError as err:
            hint = " (code a two-category outcome as 0/1 or True/False)"
            labels = "holds labels" in str(err) and "write NA" not in str(err)
            raise DataError(f"the response {err}{hint if labels else ''}") from None
        return info, matrix[:, 0]
    if known.response is None or not set(_columns_of(formula, text)) <= set(ctx.frame.columns):
        return known.response, None
    return known.response, apply_factor(known.response, node, ctx.frame, formula.text)[:, 0]


def _additions(
    formula: Formula, ctx: _Context, known: DesignInfo | None
) -> tuple[tuple[tuple[str, FactorInfo], ...], dict[str, np.ndarray]]:
    infos: list[tuple[str, FactorInfo]] = []
    values: dict[str, np.ndarray] = {}
    for k, (kind, text) in enumerate(formula.additions):
        node = formula.expressions[text]
        if known is None:
            info, matrix = learn_factor(
                f"{kind}({text})", node, ctx.frame, formula.text, numeric_only=True
            )
        else:
            info = known.additions[k][1]
            if not set(_columns_of(formula, text)) <= set(ctx.frame.columns):
                infos.append((kind, info))
                continue
            matrix = apply_factor(info, node, ctx.frame, formula.text)
        _check_addition_values(kind, text, matrix[:, 0], ctx.frame, formula.binomial_pair)
        infos.append((kind, info))
        values[kind] = matrix[:, 0]
    return tuple(infos), values


def _optional_columns(formula: Formula) -> set[str]:
    """Columns needed only by the response and addition terms (optional on new data)."""
    texts = [formula.response] if formula.response is not None else []
    texts += [text for _, text in formula.additions]
    optional = {c for text in texts for c in _columns_of(formula, text)}
    needed: set[str] = set()
    parts = [formula, *formula.dpars.values()]
    for part in parts:
        for text in _factor_texts(part) + list(part.offsets):
            needed.update(_columns_of(part, text))
        for block in part.groups:
            needed.update(block.group)
            if block.membership is not None:
                needed.update(block.membership.weights or ())
    return optional - needed


# -- public -------------------------------------------------------------------------------


def _assemble(
    formula: Formula,
    ctx: _Context,
    family: str | None,
    known: DesignInfo | None,
) -> Design:
    response_info, y = _response(formula, ctx, known)
    addition_infos, additions = _additions(formula, ctx, known)
    main_info, X, offset, blocks = _part(formula, ctx, None if known is None else known.parts[0])
    part_infos = [main_info]
    dpars: dict[str, DparDesign] = {}
    for k, (name, sub) in enumerate(formula.dpars.items(), start=1):
        info, X_sub, offset_sub, blocks_sub = _part(
            sub, ctx, None if known is None else known.parts[k]
        )
        part_infos.append(info)
        dpars[name] = DparDesign(
            parameter=name,
            X=_readonly(X_sub),
            X_names=info.X_names,
            X_terms=info.X_terms,
            intercept=sub.intercept,
            offset=_readonly(offset_sub),
            blocks=blocks_sub,
        )
    factors = None
    if formula.factors:
        factors = factor_design(
            formula.factors[0], lambda c: _column_grouping(c, ctx), learn=ctx.learn
        )
    if known is None:
        design_info = DesignInfo(
            formula=formula,
            family=family,
            response=response_info,
            additions=addition_infos,
            parts=tuple(part_infos),
            groupings=MappingProxyType(dict(ctx.groupings)),
            n_train=len(ctx.frame),
            notes=tuple(ctx.notes),
            row_labels=_row_labels(ctx.frame.index),
        )
    else:
        design_info = known
    optional = {k: _readonly(v) for k, v in additions.items()}
    return Design(
        y=None if y is None else _readonly(y),
        response=formula.response,
        X=_readonly(X),
        X_names=main_info.X_names,
        X_terms=main_info.X_terms,
        intercept=formula.intercept,
        offset=_readonly(offset),
        blocks=blocks,
        trials=optional.get("trials"),
        se=optional.get("se"),
        weights=optional.get("weights"),
        dpars=MappingProxyType(dpars),
        info=design_info,
        factors=factors,
    )


def _row_labels(index: pd.Index) -> pd.Index | None:
    """The training rows' labels, None when they are ``0, ..., n - 1``."""
    if isinstance(index, pd.RangeIndex) and index.equals(pd.RangeIndex(len(index))):
        return None
    return index.copy()


def _used_columns(formula: Formula, frame: pd.DataFrame) -> list:
    """The columns of ``frame`` that the formula reads, in the frame's order."""
    variables = formula.variables()
    return [c for c in frame.columns if c in variables]


def _complete_rows(
    formula: Formula, frame: pd.DataFrame, na_action: str
) -> tuple[pd.DataFrame, str | None]:
    """The rows of ``frame`` without a missing value in a column the formula uses (with text
    columns of numbers and NA spellings read as numbers), and the note saying how many were
    dropped; DataError under ``na_action="error"`` or when no row is left."""
    used = _used_columns(formula, frame)
    missing = missing_values(frame, used)
    if not missing.columns:
        if missing.numbers:
            frame = frame[used].assign(**missing.numbers)
        return frame, None
    n, dropped = len(frame), int(missing.rows.sum())
    if na_action == "error":
        raise DataError(
            f"{missing.describe(frame.index)}, and na_action='error' refuses them: drop or "
            "impute those rows, or use na_action='omit' (--na-action omit on the command "
            "line; the default, as in lme4 and brms) to leave them out"
        )
    if dropped == n:
        raise DataError(
            f"every row has a missing value (NA) in a column the model uses "
            f"({missing.describe(frame.index)}): no row is left to fit"
        )
    where = missing.describe(frame.index)
    keep = ~missing.rows
    frame = frame.loc[keep, used]
    if missing.numbers:
        frame = frame.assign(**{name: col[keep] for name, col in missing.numbers.items()})
    note = (
        f"{dropped:,} of {n:,} rows are left out because {where}; the model is fitted to the "
        f"other {n - dropped:,} rows (as lme4 and brms do; na_action='error' refuses them "
        "instead)"
    )
    return frame, note


def design(formula: Formula | str, data, *, family=None, na_action: str = "omit") -> Design:
    """Evaluate a formula on data: response, population-level matrix and group blocks.

    Parameters
    ----------
    formula : Formula or str
        A parsed formula (:func:`multilevel.formula.parse`, needed for distributional
        formulas) or formula text.
    data : data frame or dict of columns
        Any eager data frame narwhals reads (pandas, polars, pyarrow, ...).
    family : str or family object, optional
        Only used to check the addition terms: ``trials()`` needs a binomial family and
        ``se()`` a gaussian or Student-t one.
    na_action : {"omit", "error"}
        Rows with a missing value (NaN, None, NA; in a text column of numbers also ``"NA"``,
        ``"n/a"``, ``"."``, ``""``...) in a column the formula uses: ``"omit"`` (default, as
        lme4's and brms's ``na.omit``) leaves them out with a
        :class:`~multilevel.errors.DataWarning` that counts them; ``"error"`` raises a
        DataError naming the columns and rows.

    Returns
    -------
    Design

    Warns
    -----
    DataWarning
        Rows left out for missing values; population-level columns dropped because they are
        linear combinations of earlier ones (lme4's rank check: ``y ~ x + I(2 * x)`` drops
        ``I(2 * x)``). The messages are also in ``Design.info.notes``.

    Raises
    ------
    DataError
        Missing columns (with the closest names), missing values under ``na_action="error"``
        (the rows are listed), a column with only missing values, infinite values in a used
        column, a grouping factor with fewer than 2 levels, a categorical predictor with one
        level, a date column used as a predictor, values outside a transform's domain (``log``
        of non-positive values), invalid ``trials``/``se``/``weights``.
    FormulaError
        Unknown functions or contrasts, an addition term the family does not use.
    FormulaSyntaxError
        Formula text that cannot be parsed.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import design
    >>> d = design("log_radon ~ 1 + floor + log_uppm + (1 + floor | county)",
    ...            ml.datasets.load("radon"))
    >>> d.X.shape, d.X_names
    ((919, 3), ('Intercept', 'floor', 'log_uppm'))
    >>> block = d.blocks[0]
    >>> block.name, block.coef_names, block.index.shape, len(block.levels)
    ('county', ('Intercept', 'floor'), (919, 1), 85)
    """
    if isinstance(formula, str):
        formula = parse(formula)
    elif not isinstance(formula, Formula):
        raise TypeError(
            f"formula must be formula text or a parsed Formula, not {type(formula).__name__}"
        )
    check_na_action(na_action)
    family_name = _family_name(family)
    _check_additions(formula, family_name)
    frame = to_pandas(data)
    require_columns(frame, sorted(formula.variables()), role="column")
    frame, note = _complete_rows(formula, frame, na_action)
    ctx = _Context(frame=frame, learn=True, notes=[note] if note else [])
    result = _assemble(formula, ctx, family_name, None)
    for message in result.info.notes:
        warnings.warn(message, DataWarning, stacklevel=2)
    return result


def _required_columns(formula: Formula, frame: pd.DataFrame) -> list:
    """The columns new data must have (those of the response and addition terms are
    optional), checked."""
    required = sorted(formula.variables() - _optional_columns(formula))
    require_columns(frame, required, role="column")
    return required


def _prediction_columns(formula: Formula, frame: pd.DataFrame) -> list:
    """The columns of ``frame`` that predictions read: not those read only by the response
    or ``weights()``."""
    unused = set(_columns_of(formula, formula.response)) if formula.response else set()
    weights = formula.addition("weights")
    if weights is not None:
        unused |= set(_columns_of(formula, weights))
    for _, text in formula.additions:
        if text != weights:
            unused -= set(_columns_of(formula, text))
    unused -= set(formula.variables() - _optional_columns(formula))
    return [c for c in _used_columns(formula, frame) if c not in unused]


def missing_rows(info: DesignInfo, newdata) -> np.ndarray:
    """:meth:`DesignInfo.missing_rows`."""
    frame = to_pandas(newdata)
    _required_columns(info.formula, frame)
    columns = _prediction_columns(info.formula, frame)
    return missing_values(frame, columns, all_missing=True).rows


def transform_complete(
    info: DesignInfo, newdata, *, new_groups: str = "error"
) -> tuple[Design | None, np.ndarray]:
    """:meth:`DesignInfo.transform_complete`."""
    frame = to_pandas(newdata)
    _required_columns(info.formula, frame)
    columns = _prediction_columns(info.formula, frame)
    found = missing_values(frame, columns, all_missing=True)
    missing = found.rows
    if missing.all():
        return None, missing
    kept = frame[columns].assign(**found.numbers)
    if missing.any():
        kept = kept.loc[~missing]
    return transform(info, kept, new_groups=new_groups), missing


def response_values(info: DesignInfo, newdata) -> np.ndarray | None:
    """:meth:`DesignInfo.response_of`."""
    frame = to_pandas(newdata)
    ctx = _Context(frame=frame, learn=False, groupings=dict(info.groupings))
    return _response(info.formula, ctx, info)[1]


def transform(info: DesignInfo, newdata, *, new_groups: str = "error") -> Design:
    """:meth:`DesignInfo.transform`."""
    if new_groups not in NEW_GROUPS:
        raise ValueError(
            f"new_groups must be one of {', '.join(map(repr, NEW_GROUPS))}, not {new_groups!r}"
        )
    formula = info.formula
    frame = to_pandas(newdata)
    _required_columns(formula, frame)
    numbers = missing_values(frame, _used_columns(formula, frame)).numbers
    if numbers:
        frame = frame.assign(**numbers)
    ctx = _Context(frame=frame, learn=False, new_groups=new_groups, groupings=dict(info.groupings))
    return _assemble(formula, ctx, info.family, info)
