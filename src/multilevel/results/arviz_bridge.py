"""The one place that speaks to the installed ArviZ, whichever line it is.

ArviZ 1.x (the maintained line; Python 3.12+, NumPy 2) builds an :class:`xarray.DataTree`
and returns PSIS-LOO as an ``ELPDDataLOO`` dataclass (``elpd``, ``se``, ``p``, ``elpd_i``,
``pareto_k``, ...). ArviZ 0.2x, which pip still picks on Python 3.11, builds an
``InferenceData`` and returns LOO as an ``ELPDData`` pandas Series (``elpd_loo``, ``p_loo``,
``loo_i``, ...). The rest of the library calls the functions here and hands users what their
ArviZ makes, so ``arviz.compare``, ``arviz.summary`` and ArviZ's plots take our objects.

The netCDF files written here open with either line (``arviz.from_netcdf``): both store one
netCDF-4 group per ArviZ group, written by h5netcdf.

Examples
--------
>>> import numpy as np
>>> from multilevel.results import arviz_bridge
>>> data = arviz_bridge.from_groups({"posterior": {"mu": np.zeros((2, 10))}})
>>> arviz_bridge.group_names(data)
['posterior']
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Mapping
from importlib.metadata import version

import numpy as np

__all__ = [
    "drop_pointwise",
    "effective_parameters",
    "elpd",
    "elpd_pointwise",
    "from_groups",
    "group_names",
    "is_arviz_1",
    "loo",
    "to_netcdf",
    "with_group",
]

Groups = Mapping[str, Mapping[str, np.ndarray]]


@functools.cache
def is_arviz_1() -> bool:
    """Whether the installed ArviZ is of the 1.x line (read from its metadata, no import)."""
    return int(version("arviz").split(".")[0]) >= 1


def _arviz():
    """``import arviz``, without ArviZ 0.2x's daily notice of its own refactor, which would
    read as one of our warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning
        )
        import arviz
    return arviz


def from_groups(groups: Groups, *, coords: Mapping | None = None, dims: Mapping | None = None):
    """ArviZ's container of ``{group: {variable: (chains, draws, ...) array}}``.

    Parameters
    ----------
    groups : mapping
        Group name (``posterior``, ``sample_stats``, ``observed_data``, ...) to its variables.
    coords, dims : mapping, optional
        As :func:`arviz.from_dict`: coordinate values by dimension, dimension names by variable.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        InferenceData with ArviZ 0.x, DataTree with ArviZ 1.x.
    """
    groups = {name: dict(variables) for name, variables in groups.items()}
    if is_arviz_1():  # arviz_base's, which arviz re-exports: a fraction of arviz's import
        from arviz_base import from_dict

        return from_dict(groups, coords=coords, dims=dims)
    return _arviz().from_dict(**groups, coords=coords, dims=dims)


def with_group(data, name: str, variables: Mapping[str, np.ndarray], **kwargs):
    """A copy of ``data`` with one more group (``data`` itself is left as it is).

    ``kwargs`` (``coords``, ``dims``) go to :func:`from_groups`.
    """
    extra = from_groups({name: variables}, **kwargs)
    if is_arviz_1():
        out = data.copy()
        out[name] = extra[name]
        return out
    az = _arviz()

    return az.concat(data, extra, inplace=False)


def group_names(data) -> list[str]:
    """Names of the groups in ``data``, in order (``["posterior", "sample_stats", ...]``)."""
    if is_arviz_1():
        return list(data.children)
    return list(data.groups())


def to_netcdf(data, path, *, groups: list[str]) -> None:
    """Write the given groups of ``data`` to one netCDF-4 file at ``path`` (h5netcdf)."""
    missing = [g for g in groups if g not in group_names(data)]
    if missing:
        raise KeyError(f"no group(s) {missing} in the ArviZ data")
    if is_arviz_1():
        out = data.copy()
        for name in group_names(data):
            if name not in groups:
                del out[name]
        out.to_netcdf(str(path), engine="h5netcdf")
    else:
        data.to_netcdf(str(path), groups=list(groups), engine="h5netcdf")


def loo(data):
    """ArviZ's PSIS-LOO of ``data``'s log-likelihood group, with the pointwise values."""
    az = _arviz()

    return az.loo(data, pointwise=True)


def elpd(result) -> float:
    """The ELPD estimate of a :func:`loo` result (``elpd`` in 1.x, ``elpd_loo`` in 0.x)."""
    return float(result["elpd"] if is_arviz_1() else result["elpd_loo"])


def elpd_pointwise(result) -> np.ndarray:
    """Each observation's ELPD in a :func:`loo` result (``elpd_i`` in 1.x, ``loo_i`` in 0.x)."""
    return np.asarray(result["elpd_i"] if is_arviz_1() else result["loo_i"])


def effective_parameters(result) -> float:
    """The effective number of parameters of a :func:`loo` result (``p`` / ``p_loo``)."""
    return float(result["p"] if is_arviz_1() else result["p_loo"])


def drop_pointwise(result):
    """A :func:`loo` result as ArviZ returns it with ``pointwise=False``."""
    if is_arviz_1():
        return dataclasses.replace(result, elpd_i=None, pareto_k=None)
    return type(result)(result.drop(["loo_i", "pareto_k"]))
