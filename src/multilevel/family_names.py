"""How a family is written: its name, the aliases users of R and Stan type, and the
``name(link = "...")`` call form. The bottom of the pipeline: the design stage (which checks
addition terms such as ``trials()``) and the family registry (:mod:`multilevel.spec.families`)
read family text through here, so an alias or a link never makes them disagree.

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

__all__ = ["ALIASES", "read_family"]

#: Other names of the families, lower case -> the name used here (brms's).
ALIASES = {
    "normal": "gaussian",
    "student": "student_t",
    "studentt": "student_t",
    "t": "student_t",
    "negative_binomial": "negbinomial",
    "neg_binomial_2": "negbinomial",
    "neg_binomial": "negbinomial",
    "nbinom": "negbinomial",
}

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
