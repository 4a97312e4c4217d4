"""Plain values as strict JSON and back, exactly: what a saved fit writes for everything that
is not a large array (settings, timings, transform parameters, level labels).

JSON has no NaN or infinity, no tuples and no arrays of a given dtype; this module writes
them as one-key objects (``{"$float": "nan"}``, ``{"$tuple": [...]}``, ``{"$array": [...],
"dtype": "float64", "shape": [2]}``) and reads them back. Floats are written with Python's
shortest round-tripping representation, so a float read back is the float written. Reading
builds only these plain types: nothing in the text names a function, a class or a module.

Examples
--------
>>> import math, numpy as np
>>> value = {"seed": 3, "rate": float("nan"), "pair": (1.5, "a"), "x": np.arange(2.0)}
>>> text = dumps(value)
>>> back = loads(text)
>>> back["seed"], math.isnan(back["rate"]), back["pair"], back["x"].tolist()
(3, True, (1.5, 'a'), [0.0, 1.0])
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np

__all__ = ["to_json", "from_json", "dumps", "loads", "ARRAY_DTYPES"]

#: dtypes an array inside the JSON may have (numbers and booleans only).
ARRAY_DTYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float32",
        "float64",
    }
)
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_TAGS = ("$float", "$tuple", "$array")


def _float(value: float):
    value = float(value)
    if math.isfinite(value):
        return value
    return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def to_json(value):
    """``value`` as JSON-ready data (dicts, lists, str, int, float, bool, None).

    Accepted: None, bool, int, float (NaN and infinities included), str, numpy scalars,
    lists, tuples, mappings with text keys, and numpy arrays of numbers or booleans.

    Raises
    ------
    TypeError
        Any other type (a file holds data only), or a mapping key that is not text or that
        starts with ``$``.
    """
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [to_json(v) for v in value]}
    if isinstance(value, np.ndarray):
        if value.dtype.name not in ARRAY_DTYPES:
            raise TypeError(f"cannot write an array of dtype {value.dtype} as data")
        return {
            "$array": [to_json(v) for v in value.ravel().tolist()],
            "dtype": value.dtype.name,
            "shape": list(value.shape),
        }
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$"):
                raise TypeError(f"cannot write the mapping key {key!r} (text not starting with $)")
            out[key] = to_json(item)
        return out
    raise TypeError(f"cannot write a value of type {type(value).__name__} as data")


def from_json(data):
    """The value :func:`to_json` wrote.

    Raises
    ------
    ValueError
        A tagged object that is malformed (unknown tag, dtype, or a shape that does not match
        its values).
    """
    if isinstance(data, list):
        return [from_json(v) for v in data]
    if not isinstance(data, dict):
        return data
    tags = [t for t in _TAGS if t in data]
    if not tags:
        return {key: from_json(item) for key, item in data.items()}
    tag = tags[0]
    if tag == "$float":
        if set(data) != {"$float"} or data["$float"] not in _NON_FINITE:
            raise ValueError(f"malformed number {data!r}")
        return _NON_FINITE[data["$float"]]
    if tag == "$tuple":
        if set(data) != {"$tuple"} or not isinstance(data["$tuple"], list):
            raise ValueError(f"malformed tuple {data!r}")
        return tuple(from_json(v) for v in data["$tuple"])
    if set(data) != {"$array", "dtype", "shape"} or data["dtype"] not in ARRAY_DTYPES:
        raise ValueError(f"malformed array (keys {sorted(data)}, dtype {data.get('dtype')!r})")
    values = [from_json(v) for v in data["$array"]]
    if not all(isinstance(v, int | float) for v in values):
        raise ValueError("an array holds values that are not numbers")
    shape = data["shape"]
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"malformed array shape {shape!r}")
    array = np.array(values, dtype=np.dtype(data["dtype"]))
    if array.size != math.prod(shape):
        raise ValueError(f"an array of shape {shape} holds {array.size} values")
    return array.reshape(shape)


def dumps(value, *, indent: int | None = 1) -> str:
    """``value`` as strict JSON text (no NaN or Infinity tokens)."""
    return json.dumps(to_json(value), indent=indent, allow_nan=False, ensure_ascii=False)


def _no_constants(token: str):
    raise ValueError(f"the JSON holds {token}, which is not valid JSON")


def loads(text: str | bytes):
    """The value :func:`dumps` wrote.

    Raises
    ------
    ValueError
        Text that is not strict JSON, or a malformed tagged object.
    """
    return from_json(json.loads(text, parse_constant=_no_constants))
