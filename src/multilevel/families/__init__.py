"""The family registry: one record per response family, and the lookups the stages share.

Each :class:`FamilyRecord` (in :mod:`multilevel.families.catalogue`) holds a family's links,
auxiliary parameters with their supports and default priors, response and mean supports,
NumPy log density and random draws, JAX likelihood, aliases and the addition terms it takes.
The design stage (addition terms), :mod:`multilevel.spec.families` (the :class:`Family`
objects), :mod:`multilevel.spec.defaults` (default priors), :mod:`multilevel.family_names`
(aliases) and the NumPyro model read them from here. The package is at the bottom of the
pipeline: it imports NumPy and SciPy only, and JAX when a likelihood is built.

Examples
--------
>>> from multilevel.families import ALIASES, REGISTRY, takes
>>> REGISTRY["student_t"].aux_names, ALIASES["normal"]
(('nu', 'sigma'), 'gaussian')
>>> takes("trials"), takes("se")
(('binomial',), ('gaussian', 'student_t'))
"""

from __future__ import annotations

from types import MappingProxyType

from multilevel.families.catalogue import RECORDS
from multilevel.families.record import (
    DATA_SCALE,
    FAMILY_ADDITIONS,
    Auxiliary,
    FamilyRecord,
    Support,
)

__all__ = [
    "REGISTRY",
    "ALIASES",
    "AUXILIARIES",
    "FAMILY_ADDITIONS",
    "DATA_SCALE",
    "FamilyRecord",
    "Auxiliary",
    "Support",
    "takes",
]

#: Every family's record by name, in the order messages list them.
REGISTRY: MappingProxyType[str, FamilyRecord] = MappingProxyType({r.name: r for r in RECORDS})

#: Other names of the families, lower case -> the name used here (brms's).
ALIASES: dict[str, str] = {alias: r.name for r in RECORDS for alias in r.aliases}

#: Every auxiliary parameter a family here can have, by name.
AUXILIARIES: dict[str, Auxiliary] = {a.name: a for r in RECORDS for a in r.aux}


def takes(addition: str) -> tuple[str, ...]:
    """Names of the families whose record takes the addition term ``addition`` (``"trials"``)."""
    return tuple(r.name for r in RECORDS if addition in r.additions)
