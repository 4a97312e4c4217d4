"""Fit files written by every format version keep loading: the golden files in
tests/reference/fits/ (one per engine and version, written by make_fits.py there and never
rewritten) load, and give the summary and predictions stored beside them.

When the format changes (a new ``VERSION`` with its step in ``MIGRATIONS``), the files of
earlier versions stay and new ones are added; this test then covers both.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import multilevel as ml
from multilevel.errors import UnsafeFileWarning
from multilevel.results.estimate import PointFit
from multilevel.results.fit import Fit
from multilevel.results.storage import PICKLE_VERSION, VERSION
from multilevel.tables import CSV_EXACT_FLOATS

FITS = Path(__file__).resolve().parents[1] / "reference" / "fits"
GOLDEN = sorted(FITS.glob("v*.mlfit"))
#: Tolerance of the comparison with the stored numbers: they are the same draws, so only
#: a change of floating-point summation order in a later version may move them.
RTOL = 1e-9


#: pandas 2 has no "str" dtype: text labels that pandas 3 wrote as "str" come back as objects
TEXT_DTYPE_KEPT = int(pd.__version__.split(".")[0]) >= 3


def _text_as_object(meta):
    """The metadata with text level labels spelt "object", as pandas 2 writes them."""
    if isinstance(meta, dict):
        if meta.get("dtype") == "str" and isinstance(meta.get("values"), list):
            return {**meta, "dtype": "object"}
        return {key: _text_as_object(value) for key, value in meta.items()}
    if isinstance(meta, list):
        return [_text_as_object(value) for value in meta]
    return meta


def _version(path: Path) -> int:
    return int(path.name[1:].split("_", 1)[0])


def _load(path: Path):
    if _version(path) == PICKLE_VERSION:
        with pytest.warns(UnsafeFileWarning):
            return ml.load(path, trust=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading a file of a data-only version warns of nothing
        return ml.load(path)


def test_every_version_and_engine_has_golden_files():
    names = {p.stem for p in GOLDEN}
    for engine in ("conjugate", "exact", "nuts", "reml"):
        assert f"v2_{engine}" in names
    assert f"v{PICKLE_VERSION}_conjugate" in names
    assert max(_version(p) for p in GOLDEN) == VERSION, "add golden files of the new version"
    for path in GOLDEN:
        assert path.stat().st_size < 200_000, path.name


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_a_golden_file_loads_and_gives_its_stored_summary(path):
    fit = _load(path)
    expected = pd.read_csv(path.with_suffix(".summary.csv"), index_col=0, **CSV_EXACT_FLOATS)
    summary = fit.summary()
    assert list(summary.index) == list(expected.index)
    assert list(summary.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(
        summary, expected, check_exact=False, rtol=RTOL, check_names=False
    )
    engine = path.stem.split("_", 1)[1]
    if engine == "reml":
        assert isinstance(fit, PointFit) and fit.method == "reml"
    else:
        assert isinstance(fit, Fit)
        assert fit.posterior.engine == engine.removesuffix("_dpar")


@pytest.mark.parametrize(
    "path",
    [p for p in GOLDEN if p.with_suffix(".predict.csv").is_file()],
    ids=lambda p: p.stem,
)
def test_a_golden_file_predicts_its_stored_rows(path):
    fit = _load(path)
    newdata = pd.read_csv(path.with_suffix(".newdata.csv"), **CSV_EXACT_FLOATS)
    predicted = fit.predict(newdata, new_groups="population")
    if isinstance(predicted, pd.Series):
        predicted = predicted.to_frame()
    expected = pd.read_csv(path.with_suffix(".predict.csv"), index_col=0, **CSV_EXACT_FLOATS)
    pd.testing.assert_frame_equal(
        predicted, expected, check_exact=False, rtol=RTOL, check_index_type=False
    )


def test_a_file_of_the_old_format_converts_by_saving_it_again(tmp_path):
    old = _load(FITS / f"v{PICKLE_VERSION}_conjugate.mlfit")
    new = ml.load(old.save(tmp_path / "converted.mlfit"))
    pd.testing.assert_frame_equal(new.summary(), old.summary())
    pd.testing.assert_frame_equal(new.coef("school"), old.coef("school"))


@pytest.mark.parametrize(
    "path", [p for p in GOLDEN if _version(p) == VERSION], ids=lambda p: p.stem
)
def test_a_golden_file_of_this_version_saves_back_to_the_same_content(path, tmp_path):
    """Loading loses nothing: saving the loaded fit writes the same JSON (but for the
    versions of the packages that wrote it) and the same arrays."""
    again = _load(path).save(tmp_path / path.name)
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(again) as new:
        assert old.namelist() == new.namelist()
        for name in old.namelist():
            if name != "metadata.json":
                assert old.read(name) == new.read(name), name
        meta_old, meta_new = (json.loads(a.read("metadata.json")) for a in (old, new))
    del meta_old["written_by"], meta_new["written_by"]
    if not TEXT_DTYPE_KEPT:
        meta_old = _text_as_object(meta_old)
    assert meta_new == meta_old
