"""Every file the library writes is complete or absent, and gets the mode a plain ``open``
gives (0666 less the umask; folders 0777 less it) without the library touching the umask,
which can only be read by setting it, process-wide (racy with threads)."""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel import atomic
from multilevel.tables import write_table


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    """Run with umask 027; the library must not call os.umask."""
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_files_and_folders_get_the_plain_modes_and_the_umask_is_never_set(
    tmp_path, umask_027, monkeypatch
):
    def no_umask(*args):
        raise AssertionError("the library set the process-wide umask")

    monkeypatch.setattr(os, "umask", no_umask)
    with atomic.atomic_open(tmp_path / "a.txt", "w") as handle:
        handle.write("x")
    write_table(pd.DataFrame({"y": [1.0]}), tmp_path / "t.csv")
    folder = atomic.fresh_folder(tmp_path / "run", "partial")
    assert folder.name.startswith(".run.partial-")
    assert _mode(tmp_path / "a.txt") == 0o640
    assert _mode(tmp_path / "t.csv") == 0o640
    assert _mode(folder) == 0o750


def test_a_saved_fit_follows_the_umask_like_the_other_files(tmp_path, umask_027):
    data = pd.DataFrame({"y": [1.0, 2.0, 0.5, 3.0, 2.5, 1.5], "g": list("aabbcc")})
    with warnings.catch_warnings():  # 50 draws of 6 rows: diagnostics and grid warnings
        warnings.simplefilter("ignore")
        fit = ml.fit("y ~ 1 + (1 | g)", data, method="conjugate", chains=1, draws=50, seed=1)
    fit.save(tmp_path / "fit.mlfit")
    assert _mode(tmp_path / "fit.mlfit") == 0o640  # was 0600, from mkstemp


def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic.atomic_open(target, "w") as handle:
        handle.write("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    with atomic.atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:  # writers that take a path
            np.save(handle, np.arange(3))
        assert target.read_text() == "old"  # replaced only at the end
    assert np.array_equal(np.load(target), np.arange(3))
