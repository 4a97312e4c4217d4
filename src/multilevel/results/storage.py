"""Saving a :class:`~multilevel.results.fit.Fit` to one file and loading it back.

The file is a zip archive:

``metadata.json``
    Format name and version, the multilevel version that wrote it, the formula, family,
    engine and reason (human-readable; for inspection without multilevel), and the table
    of arrays: each array's name, group and member.
``arrays/<group>/<k>.npy``
    Every posterior draw (``draws``), sampler statistic (``sample_stats``) and the
    pointwise log-likelihood (``log_likelihood``), in NumPy's ``.npy`` format, exactly as
    held in memory (dtype and shape), readable with ``numpy.load(..., allow_pickle=False)``.
``model.pkl``
    A pickle of the :class:`~multilevel.spec.model.ModelSpec` (design arrays, encodings for
    new data, family, priors) and the engine's name, reason, timings and settings.

Loading unpickles ``model.pkl``, which can run code: as with any pickle, load only files
you trust.
"""

from __future__ import annotations

import copyreg
import io
import json
import pickle
import types
import zipfile
from pathlib import Path

import numpy as np

from multilevel.atomic import atomic_open
from multilevel.errors import DataError

__all__ = ["save_fit", "load_fit", "FORMAT", "VERSION"]

#: Name of the file format, in ``metadata.json``.
FORMAT = "multilevel-fit"
#: Version of the file format; a reader refuses newer versions.
VERSION = 1

_METADATA = "metadata.json"
_MODEL = "model.pkl"
_GROUPS = ("draws", "sample_stats")


def _mapping_proxy(mapping: dict) -> types.MappingProxyType:
    """Rebuild a read-only mapping (``MappingProxyType`` cannot be pickled by itself)."""
    return types.MappingProxyType(mapping)


class _Pickler(pickle.Pickler):
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[types.MappingProxyType] = lambda m: (_mapping_proxy, (dict(m),))


def _dumps(obj) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def save_fit(fit, path) -> Path:
    """Write ``fit`` to ``path`` (see the module docstring for the layout).

    The file is written next to ``path`` under a temporary name and then renamed, so an
    interrupted save leaves any earlier file intact.

    Parameters
    ----------
    fit : Fit
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path
    """
    import multilevel

    path = Path(path)
    post = fit.posterior
    spec = fit.spec
    arrays: dict[str, list[list[str]]] = {}
    members: list[tuple[str, np.ndarray]] = []
    for group in _GROUPS:
        entries = arrays.setdefault(group, [])
        for k, (name, value) in enumerate(getattr(post, group).items()):
            member = f"arrays/{group}/{k}.npy"
            entries.append([name, member])
            members.append((member, value))
    log_likelihood = None
    if post.log_likelihood is not None:
        log_likelihood = "arrays/log_likelihood.npy"
        members.append((log_likelihood, post.log_likelihood))
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "multilevel_version": multilevel.__version__,
        "formula": spec.design.info.formula.text,
        "family": str(spec.family),
        "engine": post.engine,
        "reason": post.reason,
        "chains": post.n_chains,
        "draws": post.n_draws,
        "arrays": arrays,
        "log_likelihood": log_likelihood,
    }
    model = {
        "spec": spec,
        "engine": post.engine,
        "reason": post.reason,
        "timings": dict(post.timings),
        "settings": dict(post.settings),
    }
    model_bytes = _dumps(model)

    with atomic_open(path, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
        archive.writestr(
            _METADATA, json.dumps(metadata, indent=1), compress_type=zipfile.ZIP_DEFLATED
        )
        archive.writestr(_MODEL, model_bytes, compress_type=zipfile.ZIP_DEFLATED)
        for member, value in members:
            archive.writestr(member, _npy(value), compress_type=zipfile.ZIP_STORED)
    return path


def _read_array(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    with archive.open(member) as handle:
        return np.lib.format.read_array(io.BytesIO(handle.read()), allow_pickle=False)


def load_fit(path):
    """Read a fit written by :meth:`Fit.save <multilevel.results.fit.Fit.save>`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Fit

    Raises
    ------
    DataError
        A missing file, or one that is not a readable multilevel fit (naming the path and
        what is wrong).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit.save("model.mlfit")  # doctest: +SKIP
    >>> same = ml.load("model.mlfit")  # doctest: +SKIP
    """
    from multilevel.posterior import Posterior
    from multilevel.results.fit import Fit
    from multilevel.spec.model import ModelSpec

    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot load a fit from {str(path)!r}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read(_METADATA))
            if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
                raise ValueError("it is not a multilevel fit file")
            version = metadata.get("version")
            if not isinstance(version, int) or version > VERSION:
                raise ValueError(
                    f"it has format version {version!r}; this multilevel reads up to {VERSION}"
                )
            groups = {
                group: {
                    name: _read_array(archive, member) for name, member in metadata["arrays"][group]
                }
                for group in _GROUPS
            }
            member = metadata.get("log_likelihood")
            log_likelihood = None if member is None else _read_array(archive, member)
            model = pickle.loads(archive.read(_MODEL))
        spec = model["spec"]
        if not isinstance(spec, ModelSpec):
            raise TypeError(f"model.pkl holds a {type(spec).__name__}, not a ModelSpec")
        posterior = Posterior(
            draws=groups["draws"],
            sample_stats=groups["sample_stats"],
            engine=model["engine"],
            reason=model["reason"],
            timings=model["timings"],
            log_likelihood=log_likelihood,
            settings=model["settings"],
        )
    except Exception as err:  # any failure to read arbitrary bytes means a damaged file
        raise DataError(
            f"cannot load a fit from {str(path)!r}: the file is damaged or not a multilevel fit "
            f"({type(err).__name__}: {err})"
        ) from None
    return Fit(spec, posterior)
