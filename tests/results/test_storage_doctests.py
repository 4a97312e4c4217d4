"""The docstring examples of the fit-file modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["multilevel.jsonvalues", "multilevel.results.storage", "multilevel.results.estimate"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(module, optionflags=flags).failed == 0
