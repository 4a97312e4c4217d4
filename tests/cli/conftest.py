"""The run folders the command tests share: written once per test session by
``multilevel fit`` (see ``tests/_cli_runs.py``) and only read afterwards."""

from __future__ import annotations

import pytest

from _cli_runs import exact_run, nuts_run


@pytest.fixture(scope="module")
def nuts():
    """``y ~ 1 + x + (1 | g)`` fitted with ``--method nuts``: (result, run folder)."""
    result, out = nuts_run()
    assert result.status == 0, result.err
    return result, out


@pytest.fixture(scope="module")
def exact():
    """``y ~ 1 + (1 | g)`` from Parquet, fitted by the exact conjugate engine."""
    result, out = exact_run()
    assert result.status == 0, result.err
    return result, out
