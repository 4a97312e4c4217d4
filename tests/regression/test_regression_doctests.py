"""The docstring examples of the spec, engine and results modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "multilevel.spec.model",
    "multilevel.engines",
    "multilevel.engines._numpyro_model",
    "multilevel.engines.nuts",
    "multilevel.engines._progress",
    "multilevel.engines.gaussian",
    "multilevel.engines.protocol",
    "multilevel.engines.reml",
    "multilevel.engines.collapsed",
    "multilevel.linalg.crossprod",
    "multilevel.linalg.profiled",
    "multilevel.results.diagnostics",
    "multilevel.posterior.mcmc_stats",
    "multilevel.results.fit",
    "multilevel.fit",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(module, optionflags=flags).failed == 0
