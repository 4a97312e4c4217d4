"""A design as data: its encodings as JSON-ready values and its arrays by name, and the
design rebuilt from them, checked.

The encodings are plain Python values (text, numbers, lists, tuples, float arrays): JSON
once written with :func:`multilevel.jsonvalues.dumps`, and what
:func:`multilevel.jsonvalues.loads` gives back is what :func:`decode_info` reads.

What the training data taught the design stage is few things: each factor's kind, columns,
categorical levels and reference, the parameters of stateful transforms (``scale()``'s mean
and SD, ``center()``'s mean, ``poly()``'s recurrence), each grouping factor's levels in their
order, and the number of rows. :func:`encode_info` writes those (and, for reading by eye and
for checking, what follows from them: the column names and codings). :func:`decode_info`
rebuilds the :class:`DesignInfo` from the formula text and those values, and recomputes
everything else as :func:`~multilevel.design.design` does (the codings of the population part
and of every group term, the groupings' columns and ``mm()`` weight rules), refusing values
that do not match what the formula gives. :func:`design_from_arrays` puts the arrays of
:func:`design_arrays` back into a :class:`Design`, checking every array's dtype and shape
against the rebuilt encodings.

Nothing here runs code named by the data: formulas are parsed by
:func:`multilevel.formula.parse` and evaluated only by the design stage's whitelist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from multilevel.design._build import block_plan
from multilevel.design._coding import TermCoding, plan_terms
from multilevel.design._evaluate import CATEGORICAL, NUMERIC, FactorInfo
from multilevel.design._groups import GroupingInfo
from multilevel.design._labels import label_text
from multilevel.design._types import (
    BlockInfo,
    Design,
    DesignInfo,
    DparDesign,
    FactorDesign,
    FactorSide,
    GroupBlock,
    PartInfo,
)
from multilevel.formula import parse
from multilevel.formula.ast import Call, iter_nodes
from multilevel.formula.terms import Formula, GroupTerm
from multilevel.jsonvalues import ARRAY_DTYPES

__all__ = [
    "encode_info",
    "decode_info",
    "encode_index",
    "decode_index",
    "design_arrays",
    "design_from_arrays",
    "expected_arrays",
]

_STATEFUL = ("center", "scale", "poly")
#: dtypes of level labels: numbers and booleans, and text
_INDEX_DTYPES = ARRAY_DTYPES | {"object", "str", "string[python]", "string[pyarrow]"}


class _Mismatch(ValueError):
    """Encodings that do not fit the formula, or arrays that do not fit the encodings."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _Mismatch(message)


# -- level labels ------------------------------------------------------------------------------


def _index_dtype(index: pd.Index) -> str:
    dtype = index.dtype
    if isinstance(dtype, pd.StringDtype):
        na = getattr(dtype, "na_value", pd.NA)
        if isinstance(na, float) and math.isnan(na):
            return "str"
        return f"string[{dtype.storage}]"
    name = str(dtype)
    if name not in _INDEX_DTYPES:
        raise TypeError(
            f"level labels of dtype {name} cannot be saved (numbers, booleans and text can): "
            "convert the column to text before fitting"
        )
    return name


def encode_index(index: pd.Index) -> dict:
    """Level labels as JSON-ready data: ``{"dtype": ..., "values": [...], "name": ...}``.

    Labels may be numbers, booleans or text (an ``object`` index may mix them).

    Raises
    ------
    TypeError
        Labels of another type (dates, ...).
    """
    dtype = _index_dtype(index)
    values = index.tolist()
    for value in values:
        if not isinstance(value, str | int | float | bool | np.generic):
            raise TypeError(
                f"a level label of type {type(value).__name__} ({value!r}) cannot be saved "
                "(numbers, booleans and text can): convert the column to text before fitting"
            )
    name = index.name if isinstance(index.name, str) else None
    return {"dtype": dtype, "values": values, "name": name}


def decode_index(data, *, unique: bool = True) -> pd.Index:
    """The :class:`pandas.Index` that :func:`encode_index` wrote (checked to have distinct
    labels unless ``unique`` is False)."""
    _require(isinstance(data, dict), f"level labels must be an object, not {data!r}")
    dtype = data.get("dtype")
    _require(dtype in _INDEX_DTYPES, f"unknown dtype {dtype!r} of level labels")
    values = data.get("values")
    _require(isinstance(values, list), "level labels must be a list")
    for value in values:
        _require(
            isinstance(value, str | int | float | bool),
            f"a level label must be a number, a boolean or text, not {value!r}",
        )
    name = data.get("name")
    _require(name is None or isinstance(name, str), f"bad index name {name!r}")
    if dtype == "str":
        try:
            made = pd.StringDtype(na_value=np.nan)
        except TypeError:  # pandas 2.2: no such dtype; text labels are objects there
            made = object
    elif dtype.startswith("string["):
        try:
            made = pd.StringDtype(dtype[len("string[") : -1])
        except ImportError:  # pyarrow storage without pyarrow
            made = pd.StringDtype()
    else:
        made = np.dtype(dtype)
    try:
        index = pd.Index(values, dtype=made, name=name)
    except (TypeError, ValueError, OverflowError) as err:
        raise _Mismatch(f"level labels do not fit dtype {dtype}: {err}") from None
    _require(not unique or index.is_unique, f"level labels are not distinct: {values[:10]}")
    return index


# -- factors -----------------------------------------------------------------------------------


def _state_keys(node) -> set[tuple[str, int, int]]:
    """Keys under which the design stage records each stateful transform of an expression."""
    return {
        (n.source, n.span.start, n.span.end)
        for n in iter_nodes(node)
        if isinstance(n, Call) and n.func in _STATEFUL
    }


def _encode_factor(info: FactorInfo) -> dict:
    return {
        "text": info.text,
        "kind": info.kind,
        "suffixes": list(info.suffixes),
        "levels": None if info.levels is None else encode_index(info.levels),
        "reference": int(info.reference),
        "state": [
            {"call": key[0], "start": key[1], "end": key[2], "values": tuple(params)}
            for key, params in info.state
        ],
    }


def _decode_factor(data, text: str, node) -> FactorInfo:
    where = f"the encoding of {text}"
    _require(isinstance(data, dict), f"{where} must be an object")
    _require(data.get("text") == text, f"{where} is for {data.get('text')!r}")
    kind = data.get("kind")
    _require(kind in (NUMERIC, CATEGORICAL), f"{where} has unknown kind {kind!r}")
    suffixes = data.get("suffixes")
    _require(
        isinstance(suffixes, list) and suffixes and all(isinstance(s, str) for s in suffixes),
        f"{where} has no column suffixes",
    )
    reference = data.get("reference", 0)
    _require(isinstance(reference, int) and not isinstance(reference, bool), f"{where}: reference")
    levels = None
    if kind == CATEGORICAL:
        _require(data.get("levels") is not None, f"{where} has no levels")
        levels = decode_index(data["levels"])
        texts = [label_text(level) for level in levels]
        _require(len(levels) >= 2, f"{where} has fewer than 2 levels")
        _require(
            texts == suffixes, f"{where}: its levels {texts} do not give its columns {suffixes}"
        )
        _require(0 <= reference < len(levels), f"{where}: reference level {reference} is not one")
    else:
        _require(data.get("levels") is None, f"{where} is numeric but has levels")
        _require(reference == 0, f"{where} is numeric but has a reference level")
    state = []
    keys = _state_keys(node)
    entries = data.get("state", [])
    _require(isinstance(entries, list), f"{where}: state must be a list")
    for entry in entries:
        _require(isinstance(entry, dict), f"{where}: a transform's parameters must be an object")
        key = (entry.get("call"), entry.get("start"), entry.get("end"))
        _require(key in keys, f"{where} has parameters for {key[0]!r}, not a transform of it")
        params = entry.get("values")
        _require(
            isinstance(params, tuple)
            and all(isinstance(p, float | int | np.ndarray) for p in params),
            f"{where}: the parameters of {key[0]} must be numbers",
        )
        state.append((key, params))
    return FactorInfo(
        text=text,
        kind=kind,
        suffixes=tuple(suffixes),
        levels=levels,
        reference=reference,
        state=tuple(state),
    )


# -- codings -----------------------------------------------------------------------------------


def _encode_coding(plan: TermCoding) -> dict:
    return {
        "term": plan.term,
        "factors": list(plan.factors),
        "contrasts": list(plan.contrasts),
        "columns": list(plan.names),
    }


def _check_codings(stored, computed: tuple[TermCoding, ...], where: str) -> None:
    expected = [_encode_coding(plan) for plan in computed]
    _require(
        stored == expected,
        f"{where}: the file says columns {_names(stored)}, the formula and encodings give "
        f"{[n for plan in computed for n in plan.names]}",
    )


def _names(codings) -> list:
    try:
        return [n for plan in codings for n in plan["columns"]]
    except (TypeError, KeyError):
        return ["(unreadable)"]


# -- groupings ---------------------------------------------------------------------------------


def _grouping_fields(term: GroupTerm) -> dict:
    """What a grouping's term fixes (:func:`~multilevel.design._groups.learn_grouping`)."""
    membership = term.membership
    if membership is not None:
        return {
            "columns": list(membership.columns),
            "membership": True,
            "weights": None if membership.weights is None else list(membership.weights),
            "scale": bool(membership.scale),
        }
    return {"columns": list(term.group), "membership": False, "weights": None, "scale": False}


def _grouping_terms(formula: Formula) -> dict[str, GroupTerm]:
    """The first group term of every grouping factor, main formula first."""
    terms: dict[str, GroupTerm] = {}
    for part in [formula, *formula.dpars.values()]:
        for term in part.groups:
            terms.setdefault(term.name, term)
    for factor in formula.factors:  # in the order the design learns them
        for column in (factor.user, factor.user_group, factor.item, factor.item_group):
            if column is not None:
                terms.setdefault(column, GroupTerm((), (column,)))
    return terms


# -- the design's encodings --------------------------------------------------------------------


def _factor_texts(formula: Formula) -> list[str]:
    texts = [f for t in formula.terms for f in t.factors]
    texts += [f for block in formula.groups for t in block.terms for f in t.factors]
    return list(dict.fromkeys(texts))


def encode_info(info: DesignInfo) -> dict:
    """The encodings of a design as JSON-ready data (see the module docstring).

    Raises
    ------
    TypeError
        Level labels that cannot be saved (dates, ...).
    """
    formula = info.formula
    parts = []
    for part in info.parts:
        parts.append(
            {
                "parameter": part.parameter,
                "intercept": bool(part.intercept),
                "factors": [_encode_factor(f) for f in part.factors.values()],
                "offsets": [_encode_factor(f) for f in part.offsets],
                "population": [_encode_coding(plan) for plan in part.population],
                "blocks": [
                    {
                        "group": block.grouping,
                        "term": block.term.source,
                        "coding": [_encode_coding(plan) for plan in block.coding],
                    }
                    for block in part.blocks
                ],
            }
        )
        if part.dropped:  # written only when there are some: files without stay as they were
            parts[-1]["dropped"] = list(part.dropped)
    encoded = {
        "formula": formula.text,
        "dpars": {name: sub.text for name, sub in formula.dpars.items()},
        "family": info.family,
        "rows": int(info.n_train),
        "response": None if info.response is None else _encode_factor(info.response),
        "additions": [{"kind": kind, "factor": _encode_factor(f)} for kind, f in info.additions],
        "parts": parts,
        "groupings": [
            {"name": g.name, **_grouping_fields_of(g), "levels": encode_index(g.levels)}
            for g in info.groupings.values()
        ],
    }
    if info.notes:
        encoded["notes"] = list(info.notes)
    if info.row_labels is not None:  # written only when there are some, as the notes
        try:
            encoded["row_labels"] = encode_index(info.row_labels)
        except TypeError:  # dates...: a loaded fit numbers its training rows 0, 1, ...
            pass
    return encoded


def _grouping_fields_of(info: GroupingInfo) -> dict:
    return {
        "columns": list(info.columns),
        "membership": bool(info.membership),
        "weights": None if info.weights is None else list(info.weights),
        "scale": bool(info.scale),
    }


def _decode_part(data, formula: Formula, k: int) -> PartInfo:
    where = "the main formula" if k == 0 else f"the formula of {formula.parameter}"
    _require(isinstance(data, dict), f"the encodings of {where} must be an object")
    _require(data.get("parameter") == formula.parameter, f"{where}: parameter mismatch")
    _require(data.get("intercept") == formula.intercept, f"{where}: intercept mismatch")
    texts = _factor_texts(formula)
    stored = data.get("factors")
    _require(isinstance(stored, list), f"the factors of {where} must be a list")
    found = [f.get("text") if isinstance(f, dict) else f for f in stored]
    _require(found == texts, f"{where} has the factors {texts}, the file encodes {found}")
    factors = {
        text: _decode_factor(entry, text, formula.expressions[text])
        for text, entry in zip(texts, stored, strict=True)
    }
    offsets_data = data.get("offsets")
    _require(
        isinstance(offsets_data, list) and len(offsets_data) == len(formula.offsets),
        f"{where} has {len(formula.offsets)} offset(s), the file encodes another number",
    )
    offsets = tuple(
        _decode_factor(entry, f"offset({text})", formula.expressions[text])
        for text, entry in zip(formula.offsets, offsets_data, strict=True)
    )
    population = plan_terms(formula.terms, formula.intercept, factors)
    _check_codings(data.get("population"), population, f"{where}, population-level columns")
    dropped = data.get("dropped", [])  # absent in files written before columns were dropped
    columns = [name for plan in population for name in plan.names]
    _require(
        isinstance(dropped, list) and all(isinstance(d, str) and d in columns for d in dropped),
        f"{where}: the dropped columns {dropped!r} are not population-level columns",
    )
    blocks_data = data.get("blocks")
    _require(
        isinstance(blocks_data, list) and len(blocks_data) == len(formula.groups),
        f"{where} has {len(formula.groups)} group term(s), the file encodes another number",
    )
    blocks: list[BlockInfo] = []
    for term, entry in zip(formula.groups, blocks_data, strict=True):
        block = block_plan(term, formula, factors)
        _require(
            isinstance(entry, dict) and entry.get("group") == term.name,
            f"{where}: a group term of {term.name} is encoded as another",
        )
        _check_codings(entry.get("coding"), block.coding, f"{where}, group term {term.source}")
        blocks.append(block)
    return PartInfo(
        parameter=formula.parameter,
        intercept=formula.intercept,
        factors=MappingProxyType(factors),
        population=population,
        offsets=offsets,
        blocks=tuple(blocks),
        dropped=tuple(dropped),
    )


def _row_labels_of(data, rows: int) -> pd.Index | None:
    if data is None:
        return None
    labels = decode_index(data, unique=False)  # a data frame's index may repeat a label
    _require(len(labels) == rows, f"{len(labels)} row labels for {rows} training rows")
    return labels


def _notes(notes) -> list[str]:
    _require(
        isinstance(notes, list) and all(isinstance(n, str) for n in notes),
        "the design's notes must be a list of text",
    )
    return notes


def decode_info(data) -> DesignInfo:
    """The :class:`DesignInfo` that :func:`encode_info` wrote, rebuilt from its formula.

    Raises
    ------
    ValueError
        Encodings that do not fit the formula (another number of factors, columns,
        levels, ...) or are malformed; the message names the part.
    FormulaSyntaxError, FormulaError
        Formula text that does not parse.
    """
    _require(isinstance(data, dict), "the design's encodings must be an object")
    text, dpars = data.get("formula"), data.get("dpars") or {}
    _require(isinstance(text, str), "the formula must be text")
    _require(
        isinstance(dpars, dict) and all(isinstance(v, str) for v in dpars.values()),
        "the distributional formulas must be text",
    )
    formula = parse(text, dpars=dpars or None)
    _require(
        {name: sub.text for name, sub in formula.dpars.items()} == dpars,
        "the distributional formulas do not parse back to their parameters",
    )
    family = data.get("family")
    _require(family is None or isinstance(family, str), "the family name must be text")
    rows = data.get("rows")
    _require(isinstance(rows, int) and not isinstance(rows, bool) and rows >= 1, "bad row count")

    response = None
    if formula.response is not None:
        response = _decode_factor(
            data.get("response"), formula.response, formula.expressions[formula.response]
        )
    else:
        _require(data.get("response") is None, "the formula has no response, the file has one")
    additions_data = data.get("additions")
    _require(
        isinstance(additions_data, list) and len(additions_data) == len(formula.additions),
        f"the formula has {len(formula.additions)} addition term(s), the file another number",
    )
    additions = []
    for (kind, expression), entry in zip(formula.additions, additions_data, strict=True):
        _require(isinstance(entry, dict) and entry.get("kind") == kind, f"addition {kind}()")
        factor = _decode_factor(
            entry.get("factor"), f"{kind}({expression})", formula.expressions[expression]
        )
        _require(factor.kind == NUMERIC, f"{kind}({expression}) must be numeric")
        additions.append((kind, factor))
    if response is not None:
        _require(response.kind == NUMERIC, "the response must be numeric")

    sub_formulas = [formula, *formula.dpars.values()]
    parts_data = data.get("parts")
    _require(
        isinstance(parts_data, list) and len(parts_data) == len(sub_formulas),
        f"the formula has {len(sub_formulas)} part(s), the file encodes another number",
    )
    parts = tuple(
        _decode_part(entry, sub, k)
        for k, (sub, entry) in enumerate(zip(sub_formulas, parts_data, strict=True))
    )

    terms = _grouping_terms(formula)
    groupings_data = data.get("groupings")
    _require(
        isinstance(groupings_data, list)
        and [g.get("name") for g in groupings_data if isinstance(g, dict)] == list(terms),
        f"the formula has the grouping factors {list(terms)}, the file encodes others",
    )
    groupings = {}
    for (name, term), entry in zip(terms.items(), groupings_data, strict=True):
        fields = _grouping_fields(term)
        stored = {key: entry.get(key) for key in fields}
        _require(
            stored == fields,
            f"grouping factor {name}: the file says {stored}, the formula says {fields}",
        )
        levels = decode_index(entry.get("levels"))
        _require(len(levels) >= 2, f"grouping factor {name} has fewer than 2 levels")
        groupings[name] = GroupingInfo(
            name=name,
            columns=tuple(fields["columns"]),
            levels=levels,
            membership=fields["membership"],
            weights=None if fields["weights"] is None else tuple(fields["weights"]),
            scale=fields["scale"],
        )
    return DesignInfo(
        formula=formula,
        family=family,
        response=response,
        additions=tuple(additions),
        parts=parts,
        groupings=MappingProxyType(groupings),
        n_train=rows,
        notes=tuple(_notes(data.get("notes", []))),
        row_labels=_row_labels_of(data.get("row_labels"), rows),
    )


# -- arrays ------------------------------------------------------------------------------------


def _block_arrays(prefix: str, blocks) -> dict[str, np.ndarray]:
    out = {}
    for i, block in enumerate(blocks):
        if len(block.new_levels):
            raise ValueError("only a training design can be saved (this one has new levels)")
        out[f"{prefix}blocks/{i}/index"] = block.index
        out[f"{prefix}blocks/{i}/weights"] = block.weights
        out[f"{prefix}blocks/{i}/Z"] = block.Z
    return out


def design_arrays(design: Design) -> dict[str, np.ndarray]:
    """The arrays of a training design by name: ``y``, ``X``, ``offset``, ``trials``, ``se``,
    ``weights`` (those present), ``blocks/<i>/index``, ``blocks/<i>/weights``,
    ``blocks/<i>/Z``, and the same under ``dpars/<parameter>/`` (``X``, ``offset``,
    ``blocks/...``). The arrays themselves, not copies (one held twice, as ``Z`` that is
    ``X``, appears twice)."""
    out: dict[str, np.ndarray] = {}
    for name in ("y", "X", "offset", "trials", "se", "weights"):
        value = getattr(design, name)
        if value is not None:
            out[name] = value
    out.update(_block_arrays("", design.blocks))
    for parameter, part in design.dpars.items():
        out[f"dpars/{parameter}/X"] = part.X
        out[f"dpars/{parameter}/offset"] = part.offset
        out.update(_block_arrays(f"dpars/{parameter}/", part.blocks))
    if design.factors is not None:
        for key, side in zip(("users", "items"), design.factors.sides, strict=True):
            out[f"factors/{key}/index"] = side.index
            if side.group is not None:
                out[f"factors/{key}/group_index"] = side.group_index
    return out


def expected_arrays(info: DesignInfo) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape) of every array :func:`design_arrays` gives for a training
    design with these encodings."""
    n = info.n_train
    formula = info.formula
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    if formula.response is not None:
        out["y"] = ("float64", (n,))
    out["X"] = ("float64", (n, len(info.parts[0].X_names)))
    out["offset"] = ("float64", (n,))
    for kind, _ in info.additions:
        out[kind] = ("float64", (n,))
    for k, part in enumerate(info.parts):
        prefix = "" if k == 0 else f"dpars/{part.parameter}/"
        if k:
            out[f"{prefix}X"] = ("float64", (n, len(part.X_names)))
            out[f"{prefix}offset"] = ("float64", (n,))
        for i, block in enumerate(part.blocks):
            term = block.term
            m = len(term.membership.columns) if term.membership is not None else 1
            out[f"{prefix}blocks/{i}/index"] = ("int32", (n, m))
            out[f"{prefix}blocks/{i}/weights"] = ("float64", (n, m))
            out[f"{prefix}blocks/{i}/Z"] = ("float64", (n, len(block.coef_names)))
    for factor in formula.factors:
        for key, group in (("users", factor.user_group), ("items", factor.item_group)):
            out[f"factors/{key}/index"] = ("int32", (n,))
            if group is not None:
                out[f"factors/{key}/group_index"] = ("int32", (n,))
    return out


def _readonly(array: np.ndarray) -> np.ndarray:
    if array.flags.writeable:
        array.setflags(write=False)
    return array


def _blocks(info: DesignInfo, part: PartInfo, arrays, prefix: str) -> tuple[GroupBlock, ...]:
    blocks = []
    for i, block in enumerate(part.blocks):
        term = block.term
        levels = info.groupings[term.name].levels
        index = arrays[f"{prefix}blocks/{i}/index"]
        if index.size:
            low, high = int(index.min()), int(index.max())
            _require(
                low >= 0 and high < len(levels),
                f"{prefix}blocks/{i}/index points outside the {len(levels)} levels of "
                f"{term.name} (values {low} to {high})",
            )
        columns = term.membership.columns if term.membership is not None else term.group
        blocks.append(
            GroupBlock(
                name=term.name,
                coef_names=block.coef_names,
                correlated=term.correlated,
                levels=levels,
                index=index,
                weights=arrays[f"{prefix}blocks/{i}/weights"],
                Z=arrays[f"{prefix}blocks/{i}/Z"],
                columns=columns,
                source=term.source,
            )
        )
    return tuple(blocks)


def _indexed(info: DesignInfo, arrays, name: str, column: str):
    levels = info.groupings[column].levels
    index = arrays[name]
    if index.size:
        low, high = int(index.min()), int(index.max())
        _require(
            low >= 0 and high < len(levels),
            f"{name} points outside the {len(levels)} levels of {column} (values {low} to {high})",
        )
    return index, levels


def _factors(info: DesignInfo, arrays) -> FactorDesign | None:
    if not info.formula.factors:
        return None
    term = info.formula.factors[0]
    sides = []
    for key, column, group in (
        ("users", term.user, term.user_group),
        ("items", term.item, term.item_group),
    ):
        index, levels = _indexed(info, arrays, f"factors/{key}/index", column)
        side = FactorSide(column, levels, index)
        if group is not None:
            group_index, group_levels = _indexed(info, arrays, f"factors/{key}/group_index", group)
            side = FactorSide(
                column,
                levels,
                index,
                group=group,
                group_levels=group_levels,
                group_index=group_index,
            )
        sides.append(side)
    return FactorDesign(term, *sides)


def design_from_arrays(info: DesignInfo, arrays: Mapping[str, np.ndarray]) -> Design:
    """The training :class:`Design` of ``info`` with the arrays of :func:`design_arrays`.

    Raises
    ------
    ValueError
        A missing or unexpected array, or one whose dtype, shape or level indices do not fit
        the encodings (the message names it).
    """
    expected = expected_arrays(info)
    missing = [name for name in expected if name not in arrays]
    _require(not missing, f"the design arrays {missing} are missing")
    extra = [name for name in arrays if name not in expected]
    _require(not extra, f"unexpected design arrays {extra}")
    for name, (dtype, shape) in expected.items():
        value = arrays[name]
        _require(
            value.dtype == np.dtype(dtype) and value.shape == shape,
            f"design array {name} is {value.dtype} {value.shape}; the encodings give "
            f"{dtype} {shape}",
        )
        _readonly(value)
    formula = info.formula
    main = info.parts[0]
    dpars = {}
    for part in info.parts[1:]:
        prefix = f"dpars/{part.parameter}/"
        dpars[part.parameter] = DparDesign(
            parameter=part.parameter,
            X=arrays[f"{prefix}X"],
            X_names=part.X_names,
            X_terms=part.X_terms,
            intercept=part.intercept,
            offset=arrays[f"{prefix}offset"],
            blocks=_blocks(info, part, arrays, prefix),
        )
    return Design(
        y=arrays.get("y"),
        response=formula.response,
        X=arrays["X"],
        X_names=main.X_names,
        X_terms=main.X_terms,
        intercept=formula.intercept,
        offset=arrays["offset"],
        blocks=_blocks(info, main, arrays, ""),
        trials=arrays.get("trials"),
        se=arrays.get("se"),
        weights=arrays.get("weights"),
        dpars=MappingProxyType(dpars),
        info=info,
        factors=_factors(info, arrays),
    )
