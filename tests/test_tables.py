"""Reading data files: every number in a CSV becomes the double nearest to it, with every
supported pandas (pandas 2's default parser misses by one unit in the last place for about a
third of the values), so the same file gives the same fit everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from multilevel.errors import DataError
from multilevel.tables import read_table


def test_csv_numbers_are_the_nearest_doubles(tmp_path):
    values = np.random.default_rng(0).normal(size=2000) * 10.0 ** np.arange(-3, 5).repeat(250)
    path = tmp_path / "data.csv"
    pd.DataFrame({"y": values, "g": np.arange(2000) % 7}).to_csv(path, index=False)
    frame = read_table(path)
    text = [line.split(",")[0] for line in path.read_text().splitlines()[1:]]
    expected = np.array([float(t) for t in text])  # Python's float() is correctly rounded
    np.testing.assert_array_equal(frame["y"].to_numpy(), expected)
    np.testing.assert_array_equal(frame["y"].to_numpy(), values)  # repr round-trips


# -- separators and missing values (issue 17, item 10) -----------------------------------------


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_semicolon_and_tab_separators_are_read_from_the_header(tmp_path):
    expected = pd.DataFrame({"y": [1.5, 2.0], "x": [3.0, 4.0], "g": ["a", "b"]})
    for name, text in [
        ("semi.csv", "y;x;g\n1.5;3;a\n2;4;b\n"),
        ("tab.csv", "y\tx\tg\n1.5\t3\ta\n2\t4\tb\n"),
        ("comma.txt", "y,x,g\n1.5,3,a\n2,4,b\n"),
    ]:
        frame = read_table(_write(tmp_path, name, text))
        pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_semicolons_with_decimal_commas(tmp_path):
    # R's write.csv2 and spreadsheets in locales with a decimal comma
    frame = read_table(_write(tmp_path, "de.csv", "y;x;g\n1,5;3;a\n-2,25;4;b\n7;;c\n"))
    assert frame["y"].tolist() == [1.5, -2.25, 7.0]
    assert frame["x"].iloc[:2].tolist() == [3.0, 4.0] and np.isnan(frame["x"].iloc[2])
    # a comma in a header keeps the comma as the separator
    frame = read_table(_write(tmp_path, "c.csv", "y,x;z\n1,2\n"))
    assert list(frame.columns) == ["y", "x;z"]


def test_an_explicit_separator(tmp_path):
    path = _write(tmp_path, "pipe.csv", "y|x\n1|2\n3|4\n")
    assert read_table(path, sep="|")["x"].tolist() == [2, 4]
    semi = _write(tmp_path, "s.csv", "a;b\n1;2\n")
    for sep in ("semicolon", ";", "SEMICOLON"):
        assert list(read_table(semi, sep=sep).columns) == ["a", "b"]
    tab = _write(tmp_path, "t.csv", "a\tb\n1\t2\n")
    for sep in ("tab", "\\t", "\t"):
        assert list(read_table(tab, sep=sep).columns) == ["a", "b"]
    with pytest.raises(DataError, match="separator '::' is not one character"):
        read_table(semi, sep="::")


@pytest.mark.parametrize("spelling", ["NA", "N/A", "n/a", "NaN", "null", ".", ""])
def test_spellings_of_missing_values_are_missing(tmp_path, spelling):
    frame = read_table(_write(tmp_path, "na.csv", f"y,g\n0.0953,a\n{spelling},b\n1,\n"))
    assert frame["y"].dtype == float and frame["y"].isna().tolist() == [False, True, False]
    assert frame["g"].isna().tolist() == [False, False, True]


def test_gzipped_semicolon_files(tmp_path):
    import gzip

    path = tmp_path / "d.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("y;g\n1;a\n2;b\n")
    assert list(read_table(path).columns) == ["y", "g"]
