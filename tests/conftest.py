"""Shared fixtures: reference posteriors frozen into the test suite.

The suite keeps compiled code (JAX's persistent cache, Stan programs) in a folder of its own
under the system's temporary folder, shared by the test processes and kept between runs, not
in the user's cache (unless MULTILEVEL_CACHE is set).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference"

_USER = os.getuid() if hasattr(os, "getuid") else "user"
os.environ.setdefault(
    "MULTILEVEL_CACHE", str(Path(tempfile.gettempdir()) / f"multilevel-tests-{_USER}")
)


@pytest.fixture(scope="session")
def stan_reference():
    """Load a frozen Stan reference summary by case name (parameters -> summary dict)."""

    def load(case: str) -> dict:
        return json.loads((REFERENCE / case / "reference.json").read_text())["parameters"]

    return load
