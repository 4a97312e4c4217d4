"""How a family is written: its name, the aliases users of R and Stan type, and the
``name(link = "...")`` call form. The bottom of the pipeline: the design stage (which checks
addition terms such as ``trials()``) and :func:`multilevel.spec.families.get_family` read
family text through here, so an alias or a link never makes them disagree. The aliases are
those of the family records (:mod:`multilevel.families`).

Examples
--------
>>> from multilevel.family_names import read_family
>>> read_family("Normal")
('gaussian', None)
>>> read_family("poisson(link = 'identity')")
('poisson', 'identity')
"""

from __future__ import annotations

import re

from multilevel.families import ALIASES

__all__ = ["ALIASES", "read_family"]

_CALL = re.compile(
    r"^\s*([A-Za-z_][A-Za-z_0-9.]*)\s*(?:\(\s*(?:(?:link\s*=\s*)?['\"]?([A-Za-z_0-9]*)['\"]?)?\s*\))?\s*$"
)


def read_family(text: str) -> tuple[str, str | None] | None:
    """``(name, link)`` of family text: the name lower-cased with aliases resolved, the link
    if the text names one; None if the text is not a name or a ``name(link)`` call."""
    match = _CALL.match(text)
    if match is None:
        return None
    name = match.group(1).lower()
    return ALIASES.get(name, name), match.group(2) or None
