"""Reading fit files of format version 1 (multilevel 0.1 up to the data-only format), whose
model is a pickle (``model.pkl``). Unpickling runs whatever code the file names, so
:func:`multilevel.results.storage.load_fit` calls this only when its caller passed
``trust=True``, and warns. Nothing else in the library unpickles.

Version 1 members: ``metadata.json`` (format, version, the table of arrays:
``{"draws": [[name, member], ...], "sample_stats": [...]}``, ``log_likelihood``: a member or
null), ``arrays/<group>/<k>.npy`` and ``model.pkl`` (``{"spec", "engine", "reason",
"timings", "settings"}``).
"""

from __future__ import annotations

import io
import pickle
import types
import zipfile

import numpy as np

__all__ = ["load_version_1"]

_GROUPS = ("draws", "sample_stats")
#: Where version 1's writer put the function that rebuilds a read-only mapping; read from here.
_MOVED = {("multilevel.results.storage", "_mapping_proxy"): "_mapping_proxy"}


def _mapping_proxy(mapping: dict) -> types.MappingProxyType:
    return types.MappingProxyType(mapping)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _MOVED:
            return globals()[_MOVED[module, name]]
        return super().find_class(module, name)


def _read_array(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    with archive.open(member) as handle:
        return np.lib.format.read_array(io.BytesIO(handle.read()), allow_pickle=False)


def load_version_1(archive: zipfile.ZipFile, metadata: dict):
    """The :class:`~multilevel.results.fit.Fit` of a version-1 archive. Runs the pickle:
    call only for a file the user trusts."""
    from multilevel.posterior import Posterior
    from multilevel.results.fit import Fit
    from multilevel.spec.model import ModelSpec

    groups = {
        group: {name: _read_array(archive, member) for name, member in metadata["arrays"][group]}
        for group in _GROUPS
    }
    member = metadata.get("log_likelihood")
    log_likelihood = None if member is None else _read_array(archive, member)
    model = _Unpickler(io.BytesIO(archive.read("model.pkl"))).load()
    spec = model["spec"]
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"model.pkl holds a {type(spec).__name__}, not a ModelSpec")
    spec = _upgraded(spec)
    posterior = Posterior(
        draws=groups["draws"],
        sample_stats=groups["sample_stats"],
        engine=model["engine"],
        reason=model["reason"],
        timings=model["timings"],
        log_likelihood=log_likelihood,
        settings=model["settings"],
    )
    return Fit(spec, posterior)


def _upgraded(spec):
    """A version-1 spec (its SD and correlation names in lists, before covariance blocks)
    rebuilt by today's :func:`~multilevel.spec.model.build_spec` from its design and family,
    with its own priors."""
    import dataclasses

    from multilevel.spec.model import build_spec

    if "covariance" in vars(spec):
        return spec
    fresh = build_spec(spec.design, spec.family, with_priors=False)
    return dataclasses.replace(
        fresh, priors=spec.priors, centred_intercept_prior=spec.centred_intercept_prior
    )
