"""The bad-input catalogue: user mistakes through the Python API and the command line.

Every case asserts the error class (a :class:`~multilevel.errors.MultilevelError` subclass),
that the message names the offender (column, term, function, level, prior, file, ...), and
that nothing was written or changed: each case runs in its own folder, whose every file is
compared before and after. Through the command line a mistake exits with status 2 and one
``error: ...`` message, never a traceback.

Data that can be fitted but deserve a word (rows left out for missing values, collinear or
constant columns dropped, integer codes used as numbers, a response with one value, missing
values in new data) are cases too: ``warn(...)`` asserts that the call gives a
:class:`~multilevel.errors.DataWarning` naming the offender and what to do, ``note(...)``
that ``multilevel check`` lists it under "Data problems" (and exits with status 0).

To add a case, append an ``api(...)``, ``cli(...)``, ``warn(...)`` or ``note(...)`` line to
:data:`CASES`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from _cli_runs import EXACT_FORMULA, exact_run, simulated
from multilevel.cli import COMMANDS, build_parser, main
from multilevel.cli._common import speak_cli
from multilevel.errors import (
    ConvergenceWarning,
    DataError,
    DataWarning,
    EngineError,
    FormulaError,
    FormulaSyntaxError,
    MultilevelError,
    PriorError,
)

FORMULA = "y ~ x + (1 | g)"
# a short run, in case an input is (wrongly) accepted: the case then fails fast
QUICK = dict(chains=1, draws=10, warmup=10, seed=0, progress=False)


class Workspace:
    """A case's folder: ``data.csv`` (columns y, x, g, k) and, on request, a copy of a
    finished run folder."""

    def __init__(self, root: Path):
        self.root = root
        self.data = simulated().assign(k=lambda d: np.arange(len(d)) % 4)
        self.csv = root / "data.csv"
        self.data.to_csv(self.csv, index=False)

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, content: bytes | str) -> Path:
        path = self.root / name
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        return path

    def run_dir(self, name: str = "run") -> Path:
        """A copy of the session's finished run of ``y ~ 1 + (1 | g)``."""
        result, source = exact_run()
        assert result.status == 0, result.err
        target = self.root / name
        if not target.exists():
            shutil.copytree(source, target)
        return target

    def fit(self):
        return ml.load(self.run_dir() / "fit.mlfit")


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # "api", "cli", "warn" or "note"
    action: Callable  # Workspace -> None (api: raises; warn: warns) or -> argv (cli, note)
    error: type
    names: tuple[str, ...]
    prepare: Callable | None = None  # Workspace -> None, before the snapshot


def api(id_, action, error, *names, prepare=None) -> Case:
    return Case(id_, "api", action, error, names, prepare)


def cli(id_, argv, error, *names, prepare=None) -> Case:
    return Case(id_, "cli", argv, error, names, prepare)


def warn(id_, action, *names, prepare=None) -> Case:
    return Case(id_, "warn", action, DataWarning, names, prepare)


def note(id_, argv, *names, prepare=None) -> Case:
    return Case(id_, "note", argv, DataWarning, names, prepare)


def _csv(name: str, change: Callable, **to_csv):
    """A ``prepare`` that writes the workspace's data, changed by ``change``, to ``name``."""

    def prepare(ws: Workspace):
        change(ws.data.copy()).to_csv(ws.path(name), index=False, **to_csv)

    return prepare


def _with_na(d: pd.DataFrame) -> pd.DataFrame:
    """x missing in rows 3, 7 (NaN) and 11 (".": text, as SAS writes it)."""
    x = d["x"].astype(object)
    x[[3, 7]] = np.nan
    x[11] = "."
    return d.assign(x=x)


def _dates(d: pd.DataFrame) -> pd.DataFrame:
    return d.assign(d=pd.date_range("2024-01-01", periods=len(d), freq="D"))


def _fit(formula=FORMULA, data=None, **kwargs):
    def run(ws: Workspace):
        frame = ws.data if data is None else data(ws.data)
        ml.fit(formula, frame, **{**QUICK, **kwargs})

    return run


def _corrupt(role_file: str, how: str = "append"):
    def prepare(ws: Workspace):
        path = ws.run_dir() / role_file
        if how == "append":
            with open(path, "ab") as handle:
                handle.write(b"junk")
        elif how == "garbage":
            path.write_bytes(b"\x00\x01 not json")
        elif how == "delete":
            path.unlink()

    return prepare


CASES = [
    # ------------------------------------------------------------------ formulas (API)
    api("unclosed parenthesis", _fit("y ~ x + (1 | g"), FormulaSyntaxError,
        "unclosed parenthesis", "y ~ x + (1 | g", "^"),
    api("two tildes", _fit("y ~ ~ x"), FormulaSyntaxError, "'~'", "^"),
    api("no tilde", _fit("y x"), FormulaError, "no '~'"),
    api("empty formula", _fit(""), FormulaError, "empty"),
    api("unknown function", _fit("y ~ foo(x) + (1 | g)"), FormulaError, "foo()", "log()"),
    api("same variable both sides of |", _fit("y ~ x + (x | x)"), FormulaError,
        "x appears on both sides"),
    api("formula of the wrong type", _fit(42), FormulaError, "int"),
    api("formula without a response", _fit("~ x + (1 | g)"), FormulaError, "no response", "y ~"),
    # ------------------------------------------------------------------ data (API)
    api("misspelled predictor", _fit("y ~ xx + (1 | g)"), DataError,
        "'xx'", "did you mean 'x'?"),
    api("misspelled grouping factor", _fit("y ~ x + (1 | gg)"), DataError,
        "'gg'", "did you mean 'g'?"),
    api("missing response", _fit("weight ~ x + (1 | g)"), DataError, "'weight'", "y, x, g"),
    api("empty data", _fit(data=lambda d: d.iloc[:0]), DataError, "no rows"),
    api("all-NaN column", _fit(data=lambda d: d.assign(x=np.nan)), DataError,
        "'x'", "only missing values"),
    api("NaN in the response under na_action='error'",
        _fit(data=lambda d: d.assign(y=[np.nan] + [1.0] * (len(d) - 1)), na_action="error"),
        DataError, "'y'", "missing values", "row 0", "na_action='omit'"),
    api("infinite value", _fit(data=lambda d: d.assign(x=[np.inf] + [0.0] * (len(d) - 1))),
        DataError, "'x'", "infinite", "row 0"),
    api("continuous response, bernoulli family", _fit(family="bernoulli"), DataError,
        "'y'", "bernoulli", "0 or 1"),
    api("negative counts, poisson family", _fit(family="poisson"), DataError,
        "'y'", "poisson", "non-negative integer"),
    api("text response", _fit(data=lambda d: d.assign(y="high")), DataError,
        "y must be numeric", "'high'"),
    api("text in a numeric function", _fit("y ~ log(g) + (1 | g)"), DataError,
        "g is categorical", "log(g)"),
    api("grouping factor with one level", _fit(data=lambda d: d.assign(g="g1")), DataError,
        "g", "single level", "'g1'"),
    api("data of the wrong type", _fit(data=lambda d: 5), DataError, "data must be", "int"),
    api("columns of unequal length", _fit(data=lambda d: {"y": [1.0, 2.0], "x": [1.0]}),
        DataError, "same length"),
    api("negative trials", _fit("k | trials(x) ~ 1 + (1 | g)", family="binomial"), DataError,
        "trials(x)", "non-negative"),
    # ------------------------------------------------------------------ priors, family, engine
    api("unknown prior target", _fit(priors={"sdd": "normal(0, 1)"}), PriorError,
        "'sdd'", "did you mean 'sd'?", "sd_g__Intercept"),
    api("prior for a group not in the model", _fit(priors={"sd_county": "normal(0, 1)"}),
        PriorError, "'sd_county'", "sd_g"),
    api("malformed prior string", _fit(priors={"sd": "normal(0,"}), PriorError,
        "'sd'", "normal(0,"),
    api("negative SD in a prior", _fit(priors={"sd": "normal(0, -1)"}), PriorError,
        "'sd'", "must be positive", "-1"),
    api("unknown prior distribution", _fit(priors={"b": "normall(0, 1)"}), PriorError,
        "'normall'", "normal"),
    api("correlation prior that is not LKJ",
        _fit("y ~ x + (x | g)", priors={"cor": "normal(0, 1)"}), PriorError, "'cor'", "lkj"),
    api("unknown family", _fit(family="gausian"), EngineError, "'gausian'",
        "did you mean 'gaussian'?"),
    api("link the family does not have", _fit(family="gaussian(link='logit')"), EngineError,
        "'logit'", "identity"),
    api("unknown method", _fit(method="vi"), EngineError, "'vi'", "auto"),
    api("zero chains", _fit(method="nuts", chains=0), EngineError, "chains", "0"),
    api("laplace for a gaussian model", _fit(method="laplace"), EngineError,
        "laplace engine cannot fit", "gaussian", "method='reml'"),
    api("laplace for a gamma model",
        _fit(data=lambda d: d.assign(y=d["y"].abs() + 0.1), family="gamma", method="laplace"),
        EngineError, "gamma", "method='nuts'"),
    api("nagq with a correlated slope",
        _fit("k ~ x + (1 + x | g)", family="poisson", method="laplace", nagq=9), EngineError,
        "nagq=9", "single scalar grouping term", "(1 | g)", "nagq=1"),
    api("nagq with another method", _fit(family="gaussian", method="exact", nagq=5),
        EngineError, "nagq=5", "method='laplace'", "method='exact'"),
    # ------------------------------------------------------------------ the first hour (API)
    api("missing values under na_action='error'",
        _fit(data=_with_na, na_action="error"), DataError,
        "column 'x'", "rows 3, 7, 11", "na_action='omit'"),
    api("every row has a missing value", _fit(data=lambda d: d.assign(x=[np.nan, 1.0] * 40)
                                             .assign(y=[1.0, np.nan] * 40)),
        DataError, "every row", "'x'", "'y'"),
    api("one row per level of a grouping factor (gaussian)",
        _fit("y ~ x + (1 | id)", data=lambda d: d.assign(id=np.arange(len(d)))), DataError,
        "grouping factor id has 80 levels for 80 rows", "lme4 refuses", "remove (1 | id)"),
    api("as many group effects as rows (gaussian)",
        _fit("y ~ x + (1 + x | id)", data=lambda d: d.assign(id=np.arange(len(d)) // 2)),
        DataError, "(1 + x | id)", "80 group effects", "simplify the term", "(1 | id)"),
    api("a date column as a predictor", _fit("y ~ d + (1 | g)", data=_dates), DataError,
        "column 'd'", "dates", "convert", "factor(d)"),
    api("dates written as text as a predictor",
        _fit("y ~ d + (1 | g)", data=lambda d: _dates(d).assign(d=lambda e: e["d"].astype(str))),
        DataError, "column 'd'", "dates written as text", "'2024-01-01'", "factor(d)"),
    api("cbind() response with the gaussian family", _fit("cbind(k, 4 - k) ~ x + (1 | g)"),
        FormulaError, "cbind(k, 4 - k)", "binomial", "family='binomial'", "--family binomial"),
    api("cbind() response with one column", _fit("cbind(k) ~ x + (1 | g)", family="binomial"),
        FormulaError, "cbind(k)", "cbind(successes, failures)"),
    api("trials() with the poisson family",
        _fit("k | trials(4) ~ x + (1 | g)", family="poisson"), FormulaError,
        "trials()", "poisson", "family='binomial'", "--family binomial"),
    api("family that is not in the list", _fit(family="beta_binomial"), EngineError,
        "'beta_binomial'", "did you mean 'binomial'?", "valid families: gaussian"),
    api("relevel() without the reference level", _fit("y ~ relevel(g) + (1 | k)"),
        FormulaError, "relevel(g)", 'ref = "b"'),
    api("relevel() to a level the data do not have",
        _fit("y ~ relevel(g, ref = 'g9') + (1 | k)"), DataError, "'g9'", "g1, g2"),
    api("a number column with a word in it",
        _fit(data=lambda d: d.assign(y=["?"] + list(d["y"].astype(str)[1:]))), DataError,
        "y must be numeric", "'?'", "row 0", "write NA"),
    warn("rows with missing values are left out", _fit(data=_with_na, method="reml"),
         "3 of 80 rows are left out", "column 'x'", "rows 3, 7, 11", "na_action='error'"),
    warn("integer codes used as a number", _fit("y ~ k + (1 | g)", method="reml"),
         "k is used as a number", "4 distinct whole numbers (0, 1, 2, 3)", "factor(k)"),
    warn("collinear predictors", _fit("y ~ x + I(2 * x) + (1 | g)", method="reml"),
         "I(2 * x) (= 2 * x)", "rank deficient", "dropped, as lme4 does", "remove it"),
    warn("constant predictor", _fit("y ~ x + c + (1 | g)", data=lambda d: d.assign(c=3.0),
                                    method="reml"),
         "column c (= 3 * Intercept) is constant", "dropped", "remove it"),
    warn("a binomial response without a success",
         _fit("z | trials(n) ~ 1 + (1 | g)", data=lambda d: d.assign(z=0, n=4),
              family="binomial"),
         "the response z is 0 in every row", "no successes", "check the data"),
    warn("missing values in new data", lambda ws: ws.fit().predict(
        pd.DataFrame({"g": ["g1", None, "g2"]})),
         "row 1", "missing values", "predictions are NaN", prepare=lambda ws: ws.run_dir()),
    # ------------------------------------------------------------------ results (API)
    api("new level under the default policy",
        lambda ws: ws.fit().predict(pd.DataFrame({"g": ["g1", "Atlantis"]})),
        DataError, "'Atlantis'", "new_groups", prepare=lambda ws: ws.run_dir()),
    api("prediction without the grouping column",
        lambda ws: ws.fit().predict(pd.DataFrame({"x": [1.0]})), DataError, "'g'",
        prepare=lambda ws: ws.run_dir()),
    api("load a missing file", lambda ws: ml.load(ws.path("nothing.mlfit")), DataError,
        "nothing.mlfit", "no such file"),
    api("load a damaged file", lambda ws: ml.load(ws.run_dir() / "fit.mlfit"), DataError,
        "fit.mlfit", "damaged", prepare=_corrupt("fit.mlfit", "garbage")),
    # ------------------------------------------------------------------ command line: fit, check
    cli("data file missing", lambda ws: ["fit", "nope.csv", FORMULA, "--out", "run"],
        DataError, "'nope.csv'", "does not exist"),
    cli("unknown data format", lambda ws: ["fit", "data.xlsx", FORMULA, "--out", "run"],
        DataError, "'data.xlsx'", ".csv", ".parquet",
        prepare=lambda ws: ws.write("data.xlsx", "x")),
    cli("empty CSV file", lambda ws: ["fit", "empty.csv", FORMULA, "--out", "run"], DataError,
        "'empty.csv'", "empty", prepare=lambda ws: ws.write("empty.csv", "")),
    cli("CSV with a header and no rows", lambda ws: ["fit", "head.csv", FORMULA, "--out", "run"],
        DataError, "'head.csv'", "no rows", prepare=lambda ws: ws.write("head.csv", "y,x,g\n")),
    cli("Parquet file that is not Parquet",
        lambda ws: ["fit", "bad.parquet", FORMULA, "--out", "run"], DataError, "'bad.parquet'",
        "PARQUET", prepare=lambda ws: ws.write("bad.parquet", "y,x,g\n1,2,a\n")),
    cli("--nagq with the gaussian method",
        lambda ws: ["fit", "data.csv", FORMULA, "--method", "reml", "--nagq", "3", "--out",
                    "run"],
        EngineError, "--nagq 3", "--method laplace"),
    cli("misspelled column", lambda ws: ["fit", "data.csv", "y ~ xx + (1 | g)", "--out", "run"],
        DataError, "'xx'", "did you mean 'x'?"),
    cli("malformed formula", lambda ws: ["check", "data.csv", "y ~ (x"], FormulaSyntaxError,
        "unclosed parenthesis", "y ~ (x", "^"),
    cli("--prior without '='",
        lambda ws: ["fit", "data.csv", FORMULA, "--prior", "sd normal(0, 1)", "--out", "run"],
        PriorError, "'sd normal(0, 1)'", "TARGET=DISTRIBUTION"),
    cli("--prior target given twice",
        lambda ws: ["fit", "data.csv", FORMULA, "--prior", "sd=normal(0, 1)", "--prior",
                    "sd=normal(0, 2)", "--out", "run"],
        PriorError, "'sd'", "twice"),
    cli("unknown prior target",
        lambda ws: ["check", "data.csv", FORMULA, "--prior", "sigmaa=normal(0, 1)"], PriorError,
        "'sigmaa'", "did you mean 'sigma'?"),
    cli("--out is a non-empty folder that is not a run",
        lambda ws: ["fit", "data.csv", FORMULA, "--out", "mine"], DataError, "'mine'",
        "not empty",
        prepare=lambda ws: (ws.path("mine").mkdir(), ws.write("mine/notes.txt", "keep"))),
    cli("--out is a file", lambda ws: ["fit", "data.csv", FORMULA, "--out", "data.csv"],
        DataError, "'data.csv'", "is a file"),
    cli("zero chains", lambda ws: ["fit", "data.csv", FORMULA, "--method", "nuts", "--chains",
                                   "0", "--out", "run"], EngineError, "chains", "0"),
    cli("--na-action error with missing values",
        lambda ws: ["check", "na.csv", FORMULA, "--na-action", "error"], DataError,
        "column 'x'", "rows 3, 7, 11", "--na-action omit", prepare=_csv("na.csv", _with_na)),
    cli("cbind() response without --family binomial",
        lambda ws: ["fit", "data.csv", "cbind(k, 4 - k) ~ x + (1 | g)", "--out", "run"],
        FormulaError, "cbind(k, 4 - k)", "--family binomial"),
    cli("trials() without --family binomial",
        lambda ws: ["check", "data.csv", "k | trials(4) ~ x + (1 | g)"], FormulaError,
        "trials()", "gaussian", "--family binomial"),
    cli("--family that is not in the list",
        lambda ws: ["check", "data.csv", FORMULA, "--family", "beta_binomial"], EngineError,
        "'beta_binomial'", "did you mean 'binomial'?"),
    cli("--sep of two characters", lambda ws: ["check", "data.csv", FORMULA, "--sep", "::"],
        DataError, "'::'", "semicolon", "tab"),
    cli("one row per level of a grouping factor (gaussian)",
        lambda ws: ["fit", "ids.csv", "y ~ x + (1 | id)", "--out", "run"], DataError,
        "grouping factor id has 80 levels for 80 rows", "remove (1 | id)",
        prepare=_csv("ids.csv", lambda d: d.assign(id=np.arange(len(d))))),
    cli("dates in a CSV file as a predictor",
        lambda ws: ["check", "dates.csv", "y ~ d + (1 | g)"], DataError, "column 'd'",
        "dates written as text", "factor(d)", prepare=_csv("dates.csv", _dates)),
    note("missing values spelled NA, n/a and '.' in a CSV file",
         lambda ws: ["check", "na.csv", FORMULA], "3 of 80 rows are left out", "column 'x'",
         "rows 3, 7, 11", prepare=_csv("na.csv", _with_na, na_rep="n/a")),
    note("integer codes used as a number", lambda ws: ["check", "data.csv", "y ~ k + (1 | g)"],
         "k is used as a number", "factor(k)"),
    note("one row per level of a grouping factor, in check",
         lambda ws: ["check", "ids.csv", "y ~ x + (1 | id)"], "the model cannot be fitted",
         "80 levels for 80 rows", "remove (1 | id)",
         prepare=_csv("ids.csv", lambda d: d.assign(id=np.arange(len(d))))),
    note("collinear predictors, in check",
         lambda ws: ["check", "data.csv", "y ~ x + I(2 * x) + (1 | g)"],
         "I(2 * x) (= 2 * x)", "dropped, as lme4 does"),
    # ------------------------------------------------------------------ command line: run folders
    cli("missing run folder", lambda ws: ["summary", "no_such_run"], DataError,
        "'no_such_run'", "does not exist"),
    cli("interrupted run folder", lambda ws: ["summary", "run2"], DataError, "'run2'",
        "interrupted", prepare=lambda ws: ws.path(".run2.partial-abc").mkdir()),
    cli("folder that is not a run", lambda ws: ["summary", "."], DataError, "'.'",
        "run.json"),
    cli("damaged manifest", lambda ws: ["summary", "run"], DataError, "run.json", "damaged",
        prepare=_corrupt("run.json", "garbage")),
    cli("changed summary.csv", lambda ws: ["summary", "run"], DataError, "summary.csv",
        "checksum", prepare=_corrupt("summary.csv")),
    cli("changed fit file", lambda ws: ["predict", "run", "data.csv"], DataError, "fit.mlfit",
        "differs", prepare=_corrupt("fit.mlfit")),
    cli("deleted fit file", lambda ws: ["report", "run"], DataError, "fit.mlfit", "missing",
        prepare=_corrupt("fit.mlfit", "delete")),
    cli("new level under the default policy",
        lambda ws: ["predict", "run", "new.csv", "--out", "pred.csv"], DataError, "'Atlantis'",
        "--new-groups population",
        prepare=lambda ws: (ws.run_dir(), ws.write("new.csv", "g\ng1\nAtlantis\n"))),
    cli("prediction file of unknown format",
        lambda ws: ["predict", "run", "data.csv", "--out", "pred.xlsx"], DataError,
        "'pred.xlsx'", ".csv", prepare=lambda ws: ws.run_dir()),
    cli("report written into a folder", lambda ws: ["report", "run", "--out", "run"],
        DataError, "'run'", "folder", prepare=lambda ws: ws.run_dir()),
    # ------------------------------------------------------------ run folders: --out, save, load
    cli("--out cannot be written (found before reading the data)",
        lambda ws: ["fit", "nope.csv", FORMULA, "--out", _unwritable(ws)], DataError,
        "run'", "cannot be written", "choose a folder you can write to",
        prepare=lambda ws: _unwritable(ws, make=True)),
    cli("--out holds a run, no --overwrite",
        lambda ws: ["fit", "data.csv", FORMULA, "--out", "run"], DataError, "'run'",
        "already holds a run", "--overwrite", prepare=lambda ws: ws.run_dir()),
    cli("--overwrite onto a folder that is not a run",
        lambda ws: ["fit", "data.csv", FORMULA, "--out", "mine", "--overwrite"], DataError,
        "'mine'", "not empty", "choose a new folder name",
        prepare=lambda ws: (ws.path("mine").mkdir(), ws.write("mine/notes.txt", "keep"))),
    api("save a fit onto a folder", lambda ws: ws.fit().save(ws.path("run")), DataError,
        "run'", "is a folder", "run/fit.mlfit", prepare=lambda ws: ws.run_dir()),
    api("load a folder that is not a run", lambda ws: ml.load(ws.path("mine")), DataError,
        "mine'", "without fit.mlfit", "run folder", prepare=lambda ws: ws.path("mine").mkdir()),
]  # fmt: skip


def _unwritable(ws: Workspace, make: bool = False) -> str:
    """``--out`` in a folder that cannot be written: a read-only folder, or (as root, whom
    permissions do not stop) a place in /sys."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/sys/multilevel-test-run"
    if make:
        ws.path("locked").mkdir()
        ws.path("locked").chmod(0o555)
    return str(ws.path("locked") / "run")


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with its content's hash."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return Workspace(tmp_path)


def test_catalogue_is_large_and_distinct():
    assert len(CASES) >= 30
    assert len({(c.kind, c.id) for c in CASES}) == len(CASES)
    assert sum(c.kind == "api" for c in CASES) >= 20 and sum(c.kind == "cli" for c in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.id}" for c in CASES])
def test_bad_input(case: Case, workspace: Workspace):
    if case.prepare is not None:
        case.prepare(workspace)
    before = _snapshot(workspace.root)
    if case.kind in ("warn", "note"):
        message = _warned(case, workspace)
        for name in case.names:
            assert name in message, f"{name!r} not in the message: {message}"
        assert _snapshot(workspace.root) == before, "the call wrote or changed files"
        return
    if case.kind == "api":
        with pytest.raises(case.error) as info:
            case.action(workspace)
        message = str(info.value)
    else:
        argv = [str(a) for a in case.action(workspace)]
        # the class, from the command itself
        args = build_parser().parse_args(argv)
        args.argv = argv
        with pytest.raises(case.error) as info:
            COMMANDS[args.command].run(args)
        message = speak_cli(str(info.value))  # what the command line prints
        # what the user sees: status 2, one error message, no traceback
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
        assert status == 2
        assert "Traceback" not in err.getvalue()
        errors = [line for line in err.getvalue().splitlines() if line.startswith("error: ")]
        assert errors == [f"error: {message.splitlines()[0]}"], err.getvalue()
    assert isinstance(info.value, MultilevelError)
    for name in case.names:
        assert name in message, f"{name!r} not in the message: {message}"
    assert _snapshot(workspace.root) == before, "the failed call wrote or changed files"


def _warned(case: Case, workspace: Workspace) -> str:
    """The DataWarning (``warn``) or data problem listed by ``check`` (``note``) that names
    the case's first offender."""
    if case.kind == "warn":
        with pytest.warns(DataWarning) as record, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the cases' runs are short
            case.action(workspace)
        messages = [str(w.message) for w in record if issubclass(w.category, DataWarning)]
    else:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([str(a) for a in case.action(workspace)])
        assert status == 0, err.getvalue()
        listed = out.getvalue().split("Data problems:", 1)[1]
        messages = [line[4:] for line in listed.splitlines() if line.startswith("  - ")]
    found = [m for m in messages if case.names[0] in m]
    assert found, f"{case.names[0]!r} in none of {messages}"
    return found[0]


def test_argument_errors_exit_2_without_traceback(workspace, capsys):
    for argv in (["fit", "data.csv", FORMULA], ["fit", "data.csv", FORMULA, "--out", "r",
                 "--method", "magic"], ["predict"], ["summary", "run", "--nope"]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err
    assert list(workspace.root.iterdir()) == [workspace.csv]


def test_parquet_without_pyarrow_is_a_clear_error(workspace, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    workspace.data.to_parquet(workspace.path("d.parquet"))
    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(DataError, match="needs the pyarrow package: pip install pyarrow"):
        from multilevel.tables import read_table

        read_table(workspace.path("d.parquet"))


def test_exact_formula_is_the_shared_run():
    assert EXACT_FORMULA == "y ~ 1 + (1 | g)"  # the runs copied above come from it


def test_missing_response_values_get_no_unrelated_hint(workspace):
    """The 0/1 coding hint belongs to a text response only, not to missing values."""
    with pytest.raises(DataError) as info:
        _fit(data=lambda d: d.assign(y=[np.nan] + [1.0] * (len(d) - 1)), na_action="error")(
            workspace
        )
    assert "two-category" not in str(info.value)
    with pytest.raises(DataError, match="two-category"):
        _fit(data=lambda d: d.assign(y="high"))(workspace)
