"""Saving a fit to one file that holds only data, and loading it back.

A fit file (``.mlfit``; format ``multilevel-fit``, version :data:`VERSION`) is a zip archive
of two kinds of members, neither of which can run code when read:

``metadata.json``
    Strict JSON (UTF-8; NaN and infinities as ``{"$float": "nan"}``, tuples as
    ``{"$tuple": [...]}``, see :mod:`multilevel.jsonvalues`)::

        {
          "format": "multilevel-fit", "version": 2,
          "kind": "fit" | "point_fit",
          "written_by": {"multilevel": ..., "python": ..., "numpy": ..., "pandas": ...},
          "model": {
            "family": {"name": "gaussian", "link": "identity", "links": {"mu": ..., ...}},
            "parameters": ["b_Intercept", ...],       # the spec's names, checked on load
            "priors": {"b_Intercept": {"stan": "student_t(3, 288.7, 59.3)",
                                       "dist": "student_t", "params": [3, 288.7..., 59.3...],
                                       "lower": null}, ...},     # {} for a point fit
            "centred_intercept_prior": true
          },
          "design": {                                  # multilevel.design._portable
            "formula": "y ~ x + (1 | g)", "dpars": {"sigma": "sigma ~ 1 + (1 | g)"},
            "family": "gaussian", "rows": 80,
            "response": FACTOR, "additions": [{"kind": "se", "factor": FACTOR}],
            "parts": [{"parameter": "mu", "intercept": true,
                       "factors": [FACTOR, ...], "offsets": [FACTOR, ...],
                       "population": [CODING, ...],
                       "blocks": [{"group": "g", "term": "(1 | g)", "coding": [CODING]}]}],
            "groupings": [{"name": "g", "columns": ["g"], "membership": false,
                           "weights": null, "scale": false, "levels": LEVELS}],
            "notes": ["3 of 83 rows are left out ..."],      # only when there are some
            "row_labels": LEVELS                       # only when not 0, 1, ..., rows - 1
          },
          "posterior": {                               # kind "fit"
            "engine": "exact", "reason": "...", "timings": {...}, "settings": {...},
            "draws": ["b_Intercept", ..., "r_block0"], "sample_stats": ["lp", ...],
            "log_likelihood": true
          },
          "estimate": {                                # kind "point_fit"
            "method": "reml", "estimates": {...}, "std_errors": {...}, "loglik": ...,
            "converged": true, "message": "...", "evaluations": 37, "timings": {...},
            "reason": "...", "group_effects": 1
          },
          "arrays": {NAME: {"member": "arrays/0.npy", "dtype": "float64", "shape": [80, 2]}
                         | {"constant": 1.0, "dtype": "float64", "shape": [80, 1]}
                         | {"same_as": NAME}, ...}
        }

    ``FACTOR`` = ``{"text": "scale(x)", "kind": "numeric" | "categorical", "suffixes":
    [...], "levels": LEVELS | null, "reference": 0, "state": [{"call": "scale(x)", "start":
    4, "end": 12, "values": {"$tuple": [mean, sd]}}]}``: what the training data taught the
    design stage about one factor (the levels and reference level of a categorical, the
    parameters of ``scale()``, ``center()`` and ``poly()``). ``CODING`` = ``{"term": "x:cat",
    "factors": [...], "contrasts": [...], "columns": [...]}``. ``LEVELS`` = ``{"dtype":
    "int64" | "float64" | "bool" | "object" | "str" | ..., "values": [...], "name": null}``.
``arrays/<k>.npy``
    One array each, in NumPy's ``.npy`` format (dtype and shape as in memory, numbers and
    booleans only), stored uncompressed; read with ``numpy.load(..., allow_pickle=False)``.
    The names in ``"arrays"`` are ``design/y``, ``design/X``, ``design/offset``,
    ``design/{trials,se,weights}``, ``design/blocks/<i>/{index,weights,Z}``,
    ``design/dpars/<parameter>/...``; ``posterior/draws/<k>`` (the k-th name of
    ``posterior.draws``), ``posterior/sample_stats/<k>``, ``posterior/log_likelihood``;
    ``estimate/theta``, ``estimate/vcov``, ``estimate/group_effects/<i>``. An array held
    as one repeated value (no offset: zeros; a varying intercept: ones) is a ``constant``,
    and one that is another (``Z`` that is ``X``) is ``same_as`` it.

Loading never unpickles and never imports or evaluates a name found in the file. It parses
the formula (:func:`multilevel.formula.parse`), rebuilds the design's encodings from the
JSON and recomputes from the formula what follows from them (columns, codings, groupings:
:mod:`multilevel.design._portable`), puts the arrays back into a
:class:`~multilevel.design.Design` after checking each one's dtype and shape against the
encodings and each level index against the number of levels, builds the spec with
:func:`~multilevel.spec.model.build_spec` and checks its parameter names against the file,
restores the priors (each checked against its Stan text) and checks every draw's shape
against the spec. Any problem is one :class:`~multilevel.errors.DataError` naming the file
and what is wrong.

Versions: a reader reads its own :data:`VERSION` and every earlier data-only version
(:data:`MIGRATIONS` turns an older ``metadata.json`` into the current one, one version at a
time), and refuses newer ones. Version 1, written before this format, held the model as a
pickle (``model.pkl``); it is refused unless the caller passes ``trust=True``, which
unpickles it (:mod:`._legacy`) and warns with :class:`~multilevel.errors.UnsafeFileWarning`.
Save such a fit again to convert it. docs/fit-file.md describes the format for users.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import numpy as np

from multilevel.atomic import atomic_open
from multilevel.errors import DataError, MultilevelError, UnsafeFileWarning
from multilevel.jsonvalues import ARRAY_DTYPES, dumps, loads

__all__ = ["save_fit", "load_fit", "FORMAT", "VERSION", "MIGRATIONS"]

#: Name of the file format, in ``metadata.json``.
FORMAT = "multilevel-fit"
#: Version of the file format written; a reader refuses newer versions.
VERSION = 2
#: The version whose ``model.pkl`` is a pickle: loaded only with ``trust=True``.
PICKLE_VERSION = 1
#: The fit file inside a run folder of ``multilevel fit`` (``multilevel.rundir.FILES["fit"]``).
RUN_FIT_FILE = "fit.mlfit"
#: ``version -> function`` turning a ``metadata.json`` of that version into one of the next
#: (each a pure function of the JSON; the arrays table is part of it). When the format
#: changes, bump :data:`VERSION`, add the step from the previous version here, and add golden
#: files of the new version to tests/reference/fits/ (keeping the old ones).
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}

_METADATA = "metadata.json"
_DATE = (1980, 1, 1, 0, 0, 0)  # members carry no time: the same fit gives the same bytes
_KINDS = ("fit", "point_fit")


class _Invalid(Exception):
    """What is wrong with a file, in words (becomes the DataError's message)."""


@contextlib.contextmanager
def _step(what: str):
    """Turn any failure inside into an :class:`_Invalid` that says what was being read."""
    try:
        yield
    except _Invalid:
        raise
    except MultilevelError as err:
        raise _Invalid(f"{what}: {err}") from None
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        ArithmeticError,
        RecursionError,
    ) as err:
        text = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        raise _Invalid(f"{what}: {text}") from None


# -- writing -----------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    import pandas as pd

    import multilevel

    return {
        "multilevel": multilevel.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def _prior_json(prior) -> dict:
    return {
        "stan": prior.to_stan(),
        "dist": prior.dist,
        "params": [float(p) for p in prior.params],
        "lower": None if prior.lower is None else float(prior.lower),
    }


def _model_json(spec) -> dict:
    family = spec.family
    return {
        "family": {"name": family.name, "link": family.link, "links": dict(family.links)},
        "parameters": list(spec.parameter_names),
        "priors": {name: _prior_json(prior) for name, prior in spec.priors.items()},
        "centred_intercept_prior": bool(spec.centred_intercept_prior),
    }


def _is_constant(array: np.ndarray) -> bool:
    """A read-only view repeating one value (``np.broadcast_to`` of a scalar)."""
    return array.ndim > 0 and array.size > 1 and all(s == 0 for s in array.strides)


def _contents(fit) -> tuple[dict, dict[str, np.ndarray]]:
    """``metadata.json``'s content (less the arrays table) and the arrays by name."""
    from multilevel.design._portable import design_arrays, encode_info
    from multilevel.results.estimate import PointFit

    spec = fit.spec
    arrays = {f"design/{k}": v for k, v in design_arrays(spec.design).items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "point_fit" if isinstance(fit, PointFit) else "fit",
        "written_by": _versions(),
        "model": _model_json(spec),
        "design": encode_info(spec.design.info),
    }
    if isinstance(fit, PointFit):
        est = fit.estimate
        meta["estimate"] = {
            "method": est.method,
            "estimates": dict(est.estimates),
            "std_errors": dict(est.std_errors),
            "loglik": float(est.loglik),
            "converged": bool(est.converged),
            "message": str(est.message),
            "evaluations": int(est.evaluations),
            "timings": dict(est.timings),
            "reason": est.reason,
            "group_effects": len(est.group_effects),
        }
        arrays["estimate/theta"] = np.asarray(est.theta)
        arrays["estimate/vcov"] = np.asarray(est.vcov)
        for i, values in enumerate(est.group_effects):
            arrays[f"estimate/group_effects/{i}"] = np.asarray(values)
    else:
        post = fit.posterior
        meta["posterior"] = {
            "engine": post.engine,
            "reason": post.reason,
            "timings": dict(post.timings),
            "settings": dict(post.settings),
            "draws": list(post.draws),
            "sample_stats": list(post.sample_stats),
            "log_likelihood": post.log_likelihood is not None,
        }
        for group in ("draws", "sample_stats"):
            for k, value in enumerate(getattr(post, group).values()):
                arrays[f"posterior/{group}/{k}"] = np.asarray(value)
        if post.log_likelihood is not None:
            arrays["posterior/log_likelihood"] = np.asarray(post.log_likelihood)
    return meta, arrays


def save_fit(fit, path) -> Path:
    """Write ``fit`` (a :class:`~multilevel.results.fit.Fit` or
    :class:`~multilevel.results.estimate.PointFit`) to ``path`` in the data-only format of
    the module docstring.

    The file is written next to ``path`` under a temporary name and then renamed, so an
    interrupted save leaves any earlier file intact.

    Parameters
    ----------
    fit : Fit or PointFit
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DataError
        ``path`` is a folder, or something of the fit that a data-only file cannot hold
        (grouping labels that are dates or other objects: convert them to text before
        fitting).
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(
            f"cannot save the fit to {str(path)!r}: it is a folder; give a file name, e.g. "
            f"{str(path / RUN_FIT_FILE)!r}"
        )
    try:
        meta, arrays = _contents(fit)
        table: dict[str, dict] = {}
        members: list[tuple[str, np.ndarray]] = []
        seen: dict[int, str] = {}
        for name, value in arrays.items():
            if value.dtype.name not in ARRAY_DTYPES:
                raise TypeError(f"array {name} has dtype {value.dtype}, not numbers or booleans")
            if id(value) in seen:
                table[name] = {"same_as": seen[id(value)]}
                continue
            seen[id(value)] = name
            entry = {"dtype": value.dtype.name, "shape": list(value.shape)}
            if _is_constant(value):
                table[name] = {"constant": value.flat[0].item(), **entry}
            else:
                member = f"arrays/{len(members)}.npy"
                table[name] = {"member": member, **entry}
                members.append((member, value))
        meta["arrays"] = table
        text = dumps(meta)
    except (TypeError, ValueError) as err:
        raise DataError(f"cannot save the fit to {str(path)!r}: {err}") from None

    with atomic_open(path, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
        info = zipfile.ZipInfo(_METADATA, date_time=_DATE)
        archive.writestr(info, text.encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
        for member, value in members:
            info = zipfile.ZipInfo(member, date_time=_DATE)
            info.compress_type = zipfile.ZIP_STORED  # so that a reader could memory-map it
            with archive.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, value, allow_pickle=False)
    return path


# -- reading -----------------------------------------------------------------------------------


def _metadata(archive: zipfile.ZipFile) -> dict:
    try:
        raw = archive.read(_METADATA)
    except KeyError:
        raise _Invalid(f"it has no {_METADATA}, so it is not a multilevel fit file") from None
    with _step(f"{_METADATA} cannot be read"):
        meta = loads(raw.decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _Invalid(f"its {_METADATA} is not that of a multilevel fit file")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Invalid(f"its format version {version!r} is not a version number")
    if version > VERSION:
        raise _Invalid(
            f"it has format version {version}; this multilevel reads versions up to {VERSION}: "
            "upgrade multilevel to read it"
        )
    return meta


def _migrate(meta: dict) -> dict:
    version = meta["version"]
    while version < VERSION:
        if version not in MIGRATIONS:  # pragma: no cover - a gap in the table is a bug
            raise _Invalid(f"format version {version} cannot be upgraded by this multilevel")
        with _step(f"its {_METADATA} of version {version} cannot be upgraded"):
            meta = MIGRATIONS[version](meta)
        version += 1
        meta["version"] = version
    return meta


def _npy_header(handle) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the header of an ``.npy`` stream (a Python literal, read by
    NumPy without evaluating it), leaving the stream at the data."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f".npy format version {version} is not one this reader accepts")
    return shape, dtype


def _read_member(archive: zipfile.ZipFile, member: str, dtype: str, shape: list) -> np.ndarray:
    """The array of ``member``, after checking that its header says ``dtype`` and ``shape``
    and that the member holds exactly that many bytes (so nothing is allocated or read for
    an array other than the one the table describes)."""
    try:
        with _step(f"the array member {member} cannot be read"):
            with archive.open(member) as handle:
                found_shape, found_dtype = _npy_header(handle)
                data_bytes = archive.getinfo(member).file_size - handle.tell()
            if found_dtype != np.dtype(dtype) or list(found_shape) != shape:
                raise _Invalid(
                    f"its {_METADATA} does not match the arrays: {member} holds "
                    f"{found_dtype} {list(found_shape)}, the table says {dtype} {shape}"
                )
            if data_bytes != np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)):
                raise _Invalid(f"the array member {member} is truncated or padded")
            with archive.open(member) as handle:
                return np.lib.format.read_array(handle, allow_pickle=False)
    except zipfile.BadZipFile as err:
        raise _Invalid(f"the array member {member} is damaged ({err})") from None


def _arrays(archive: zipfile.ZipFile, table) -> dict[str, np.ndarray]:
    """Every array of the table, checked against its recorded dtype and shape; the archive
    must hold exactly the table's members besides ``metadata.json``."""
    if not isinstance(table, dict):
        raise _Invalid(f"its {_METADATA} has no table of arrays")
    names = archive.namelist()
    if len(names) != len(set(names)):
        raise _Invalid("the archive holds two members of the same name")
    members = {
        entry.get("member"): name
        for name, entry in table.items()
        if isinstance(entry, dict) and "member" in entry
    }
    unexpected = sorted(set(names) - set(members) - {_METADATA})
    if unexpected:
        raise _Invalid(f"the archive holds members its {_METADATA} does not list: {unexpected}")
    missing = sorted(set(members) - set(names))
    if missing:
        raise _Invalid(f"the archive lacks the members {missing} its {_METADATA} lists")
    out: dict[str, np.ndarray] = {}
    for name, entry in table.items():
        with _step(f"array {name}"):
            if not isinstance(entry, dict):
                raise ValueError(f"its entry {entry!r} is not an object")
            if "same_as" in entry:
                continue
            dtype, shape = entry["dtype"], entry["shape"]
            if dtype not in ARRAY_DTYPES or not isinstance(shape, list):
                raise ValueError(f"dtype {dtype!r} or shape {shape!r} is not valid")
            if "member" in entry:
                value = _read_member(archive, entry["member"], dtype, shape)
            else:
                constant = entry["constant"]
                if not isinstance(constant, int | float) or (
                    isinstance(constant, bool) != (dtype == "bool")
                ):
                    raise ValueError(f"constant {constant!r} does not fit dtype {dtype}")
                value = np.broadcast_to(np.asarray(constant, dtype=np.dtype(dtype)), tuple(shape))
            if value.dtype.name != dtype or list(value.shape) != shape:
                raise _Invalid(
                    f"its {_METADATA} does not match the arrays: array {name} is "
                    f"{value.dtype} {list(value.shape)}, the table says {dtype} {shape}"
                )
            out[name] = value
    for name, entry in table.items():
        if isinstance(entry, dict) and "same_as" in entry:
            if entry["same_as"] not in out:
                raise _Invalid(f"array {name} is the same as {entry['same_as']!r}, which is absent")
            out[name] = out[entry["same_as"]]
    return out


def _prior(name: str, data):
    from multilevel.spec.priors import Prior

    if not isinstance(data, dict):
        raise ValueError(f"the prior of {name} is not an object")
    params = data.get("params")
    lower = data.get("lower")
    if not isinstance(params, list) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) for p in params
    ):
        raise ValueError(f"the parameters of the prior of {name} are not numbers")
    if lower is not None and (not isinstance(lower, int | float) or isinstance(lower, bool)):
        raise ValueError(f"the truncation of the prior of {name} is not a number")
    prior = Prior(
        str(data.get("dist")),
        tuple(float(p) for p in params),
        None if lower is None else float(lower),
    )
    if prior.to_stan() != data.get("stan"):
        raise ValueError(
            f"the prior of {name} is {data.get('stan')!r} in Stan syntax but "
            f"{prior.to_stan()!r} by its parameters"
        )
    return prior


def _spec(meta: dict, arrays: dict[str, np.ndarray]):
    """The model spec rebuilt through the pipeline: parse -> encodings -> design -> build_spec,
    each step checked against the file."""
    from multilevel.design._portable import decode_info, design_from_arrays
    from multilevel.spec.families import get_family
    from multilevel.spec.model import build_spec

    model = meta["model"]
    with _step("the design's encodings do not fit its formula"):
        info = decode_info(meta["design"])
    with _step(f"its {_METADATA} does not match the design arrays"):
        design = design_from_arrays(
            info, {k[len("design/") :]: v for k, v in arrays.items() if k.startswith("design/")}
        )
    with _step("the model cannot be rebuilt"):
        stored = model["family"]
        family = get_family((stored["name"], stored["link"]))
        if family.links != stored["links"]:
            raise ValueError(
                f"the {family.name} family has the links {family.links}, the file says "
                f"{stored['links']}"
            )
        spec = build_spec(design, family, with_priors=False)
        names = list(spec.parameter_names)
        if model["parameters"] != names:
            raise ValueError(
                f"the formula gives the parameters {names}, the file lists {model['parameters']}"
            )
        priors = {name: _prior(name, value) for name, value in model["priors"].items()}
        prior_names = [n for n in names if spec.factors is None or n not in spec.factors.reported]
        if priors and list(priors) != prior_names:
            raise ValueError(f"the priors are for {list(priors)}, the parameters are {prior_names}")
        centred = model["centred_intercept_prior"]
        if not isinstance(centred, bool):
            raise ValueError("centred_intercept_prior must be true or false")
    return dataclasses.replace(
        spec, priors=MappingProxyType(priors), centred_intercept_prior=centred
    )


def _only(arrays: dict[str, np.ndarray], prefix: str, expected: list[str]) -> None:
    present = sorted(k for k in arrays if k.startswith(prefix))
    if present != sorted(expected):
        raise _Invalid(
            f"its {_METADATA} does not match the arrays: the {prefix.rstrip('/')} arrays are "
            f"{present}, expected {sorted(expected)}"
        )


def _shape_error(what: str, value: np.ndarray, expected: tuple) -> _Invalid:
    return _Invalid(
        f"its {_METADATA} does not match the arrays: {what} has shape {value.shape}, "
        f"the model gives {expected}"
    )


def _posterior(meta: dict, arrays: dict[str, np.ndarray], spec):
    from multilevel.posterior import Posterior

    with _step("the posterior's description cannot be read"):
        data = meta["posterior"]
        names = {group: data[group] for group in ("draws", "sample_stats")}
        for group, listed in names.items():
            if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
                raise ValueError(f"{group} must be a list of names")
            if len(set(listed)) != len(listed):
                raise ValueError(f"{group} lists a name twice")
        has_ll = data["log_likelihood"]
        if not isinstance(has_ll, bool):
            raise ValueError("log_likelihood must be true or false")
        engine, reason = data["engine"], data["reason"]
        if not isinstance(engine, str) or not isinstance(reason, str):
            raise ValueError("engine and reason must be text")
        timings, settings = data["timings"], data["settings"]
        if not isinstance(timings, dict) or not isinstance(settings, dict):
            raise ValueError("timings and settings must be objects")
    expected = [f"posterior/draws/{k}" for k in range(len(names["draws"]))]
    expected += [f"posterior/sample_stats/{k}" for k in range(len(names["sample_stats"]))]
    expected += ["posterior/log_likelihood"] if has_ll else []
    _only(arrays, "posterior/", expected)
    draws = {n: arrays[f"posterior/draws/{k}"] for k, n in enumerate(names["draws"])}
    stats = {n: arrays[f"posterior/sample_stats/{k}"] for k, n in enumerate(names["sample_stats"])}
    if not draws:
        raise _Invalid(f"its {_METADATA} lists no draws")
    first = next(iter(draws.values()))
    if first.ndim < 2:
        raise _shape_error(f"draws of {names['draws'][0]}", first, ("chains", "draws", "..."))
    lead = first.shape[:2]
    expected_shapes = {name: lead for name in spec.parameter_names}
    parts = [(spec.design.blocks, spec.covariance)]
    parts += [
        (part.blocks, spec.dpars[name].covariance) for name, part in spec.design.dpars.items()
    ]
    for blocks, covariance in parts:
        for block, cov in zip(blocks, covariance, strict=True):
            expected_shapes[cov.key] = lead + (block.n_levels, block.q)
    absent = [name for name in expected_shapes if name not in draws]
    if absent:
        raise _Invalid(f"its {_METADATA} does not match the model: no draws of {absent}")
    for name, value in draws.items():
        shape = expected_shapes.get(name)
        if value.shape[:2] != lead or (shape is not None and value.shape != shape):
            raise _shape_error(f"the draws of {name}", value, shape or lead + ("...",))
    for name, value in stats.items():
        if value.shape != lead:
            raise _shape_error(f"the sampler statistic {name}", value, lead)
    log_likelihood = arrays.get("posterior/log_likelihood")
    if log_likelihood is not None and log_likelihood.shape != lead + (spec.design.n,):
        raise _shape_error("the log-likelihood", log_likelihood, lead + (spec.design.n,))
    return Posterior(
        draws=draws,
        sample_stats=stats,
        engine=engine,
        reason=reason,
        timings=timings,
        log_likelihood=log_likelihood,
        settings=settings,
    )


def _estimate(meta: dict, arrays: dict[str, np.ndarray], spec):
    from multilevel.posterior import Estimate

    names = list(spec.parameter_names)
    with _step("the estimates cannot be read"):
        data = meta["estimate"]
        estimates, std_errors = data["estimates"], data["std_errors"]
        for what, values in (("estimates", estimates), ("standard errors", std_errors)):
            if not isinstance(values, dict) or list(values) != names:
                raise ValueError(f"the {what} are for {list(values)}, the parameters are {names}")
            if not all(isinstance(v, int | float) for v in values.values()):
                raise ValueError(f"the {what} are not all numbers")
        count = data["group_effects"]
        fields = {
            "method": (data["method"], str),
            "loglik": (data["loglik"], int | float),
            "converged": (data["converged"], bool),
            "message": (data["message"], str),
            "evaluations": (data["evaluations"], int),
            "timings": (data["timings"], dict),
            "reason": (data["reason"], str),
        }
        for key, (value, kind) in fields.items():
            if not isinstance(value, kind):
                raise ValueError(f"{key} has the wrong type ({type(value).__name__})")
    blocks = spec.design.blocks
    if count != len(blocks):
        raise _Invalid(
            f"its {_METADATA} does not match the model: {count} blocks of group effects for "
            f"{len(blocks)} group terms"
        )
    expected = ["estimate/theta", "estimate/vcov"]
    expected += [f"estimate/group_effects/{i}" for i in range(count)]
    _only(arrays, "estimate/", expected)
    group_effects = []
    for i, block in enumerate(blocks):
        value = arrays[f"estimate/group_effects/{i}"]
        if value.shape != (block.n_levels, block.q):
            raise _shape_error(
                f"the group effects of {block.name}", value, (block.n_levels, block.q)
            )
        group_effects.append(value)
    p = len(spec.b_names)
    if arrays["estimate/vcov"].shape != (p, p):
        raise _shape_error("vcov", arrays["estimate/vcov"], (p, p))
    if arrays["estimate/theta"].ndim != 1:
        raise _shape_error("theta", arrays["estimate/theta"], ("parameters",))
    return Estimate(
        method=fields["method"][0],
        estimates=estimates,
        std_errors=std_errors,
        group_effects=tuple(group_effects),
        theta=arrays["estimate/theta"],
        loglik=float(fields["loglik"][0]),
        vcov=arrays["estimate/vcov"],
        converged=fields["converged"][0],
        message=fields["message"][0],
        evaluations=fields["evaluations"][0],
        timings=fields["timings"][0],
        reason=fields["reason"][0],
    )


def _refuse_pickle() -> _Invalid:
    return _Invalid(
        f"it is a fit file of the old format (version {PICKLE_VERSION}), which holds a Python "
        "pickle: opening it could run any code its author put in it, so it was not opened. "
        "If you trust where the file came from, load it with multilevel.load(path, "
        "trust=True) (on the command line: --trust) and save it again to convert it to the "
        "current format, which holds data only"
    )


def load_fit(path, *, trust: bool = False):
    """Read a fit written by :meth:`Fit.save <multilevel.results.fit.Fit.save>` or
    :meth:`PointFit.save <multilevel.results.estimate.PointFit.save>`.

    The file holds data only (JSON and ``.npy`` arrays); reading it runs no code from it.
    The model is rebuilt from the formula, the encodings and the arrays, and checked against
    them (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        A fit file, or a run folder written by ``multilevel fit`` (its ``fit.mlfit`` is
        read).
    trust : bool
        Also read files of the old format (version 1), whose model is a Python pickle:
        unpickling runs whatever code the file holds, so pass True only for a file from a
        source you trust (a :class:`~multilevel.errors.UnsafeFileWarning` says so). Save the
        fit again to convert it. Files of the current format do not need it.

    Returns
    -------
    Fit or PointFit

    Raises
    ------
    DataError
        A missing file, a folder without ``fit.mlfit``, a file that is not a multilevel
        fit, truncated or damaged, of a newer
        format version, of the old pickle format without ``trust=True``, or whose
        description does not match its arrays; one message naming the path and what is
        wrong.

    Warns
    -----
    UnsafeFileWarning
        When ``trust=True`` opens a file of the old pickle format.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit.save("model.mlfit")  # doctest: +SKIP
    >>> same = ml.load("model.mlfit")  # doctest: +SKIP
    >>> run = ml.load("run")  # a run folder of 'multilevel fit ... --out run'  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():  # a run folder of ``multilevel fit``: its fit file
        if not (path / RUN_FIT_FILE).is_file():
            raise DataError(
                f"cannot load a fit from {str(path)!r}: it is a folder without "
                f"{RUN_FIT_FILE}; give a fit file or a run folder written by 'multilevel fit'"
            )
        path = path / RUN_FIT_FILE
    if not path.is_file():
        raise DataError(f"cannot load a fit from {str(path)!r}: no such file")
    try:
        return _load(path, trust=bool(trust))
    except _Invalid as err:
        raise DataError(f"cannot load a fit from {str(path)!r}: {err}") from None


def _load(path: Path, *, trust: bool):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise _Invalid(
            f"it is not a zip archive, or it is truncated or damaged ({type(err).__name__}: {err})"
        ) from None
    with archive:
        try:
            meta = _metadata(archive)
            if meta["version"] == PICKLE_VERSION:
                if not trust:
                    raise _refuse_pickle()
                warnings.warn(
                    f"{str(path)!r} is a fit file of the old pickle format, opened with "
                    "trust=True: its pickle ran with your permissions; save the fit again to "
                    "convert it to the current, data-only format",
                    UnsafeFileWarning,
                    stacklevel=3,
                )
                from multilevel.results._legacy import load_version_1

                with _step("its model (model.pkl) cannot be read"):
                    return load_version_1(archive, meta)
            meta = _migrate(meta)
            with _step(f"its {_METADATA} is malformed"):
                kind = meta["kind"]
                if kind not in _KINDS:
                    raise ValueError(f"unknown kind {kind!r} (expected one of {_KINDS})")
                for key in ("model", "design", "posterior" if kind == "fit" else "estimate"):
                    if not isinstance(meta[key], dict):
                        raise ValueError(f"{key} must be an object")
            arrays = _arrays(archive, meta.get("arrays"))
            prefixes = ("design/", "posterior/" if kind == "fit" else "estimate/")
            stray = [name for name in arrays if not name.startswith(prefixes)]
            if stray:
                raise _Invalid(f"its {_METADATA} lists arrays a {kind} has no place for: {stray}")
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise _Invalid(
                f"the archive is truncated or damaged ({type(err).__name__}: {err})"
            ) from None
    spec = _spec(meta, arrays)
    if kind == "fit":
        from multilevel.results.fit import Fit

        return Fit(spec, _posterior(meta, arrays, spec))
    from multilevel.results.estimate import PointFit

    return PointFit(spec, _estimate(meta, arrays, spec))
