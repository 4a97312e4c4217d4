"""Run the docstring examples of the design stage."""

import doctest
import importlib

import pytest

MODULES = [
    "multilevel.design",
    "multilevel.design._build",
    "multilevel.design._coding",
    "multilevel.design._evaluate",
    "multilevel.design._groups",
    "multilevel.design._labels",
    "multilevel.design._rank",
    "multilevel.design._structure",
    "multilevel.design._types",
    "multilevel.frame",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
