"""Shared fixtures: reference posteriors frozen into the test suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="session")
def stan_reference():
    """Load a frozen Stan reference summary by case name (parameters -> summary dict)."""

    def load(case: str) -> dict:
        return json.loads((REFERENCE / case / "reference.json").read_text())["parameters"]

    return load
