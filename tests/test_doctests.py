"""The docstring examples of every module of the package run (a new module is included
without being listed)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import multilevel

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(multilevel.__path__, prefix="multilevel.")
    if not name.endswith("__main__")
)


def test_the_walk_finds_every_layer():
    for layer in ("formula", "design", "spec", "families", "engines", "results", "cli"):
        assert any(m.startswith(f"multilevel.{layer}.") for m in MODULES), layer


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(module, optionflags=flags).failed == 0
