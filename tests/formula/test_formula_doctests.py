"""Run the docstring examples of every formula module."""

import doctest
import importlib

import pytest

MODULES = [
    "multilevel.formula",
    "multilevel.formula._diagnostics",
    "multilevel.formula.lexer",
    "multilevel.formula.ast",
    "multilevel.formula.parser",
    "multilevel.formula.terms",
    "multilevel.formula.rewrite",
    "multilevel.formula.groups",
    "multilevel.formula.build",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
