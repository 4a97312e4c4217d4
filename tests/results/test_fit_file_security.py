"""A shared fit file or run folder cannot run code: payloads planted the way an attacker would
(a pickle in the archive, in place of the model or of an array; crafted JSON) are never
executed by ``multilevel.load`` or by ``multilevel summary``, ``predict`` and ``report``; the
old pickle format opens only with an explicit ``trust=True`` / ``--trust``, which warns.

Each payload, if run, writes a marker file; the tests check it is never written (and, first,
that the payload does write it when unpickled, so the tests would catch a reader that
unpickles).
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import pickle
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _storage_fits import fake_fit, simulated

import multilevel as ml
from _cli_runs import exact_run, run_cli
from multilevel.errors import UnsafeFileWarning

FITS = Path(__file__).resolve().parents[1] / "reference" / "fits"


class _Payload:
    """Unpickles into a call of ``exec`` that writes ``marker``."""

    def __init__(self, marker: Path):
        self.code = f"open({str(marker)!r}, 'w').write('the payload ran')"

    def __reduce__(self):
        return builtins.exec, (self.code,)


def payload(marker: Path) -> bytes:
    """Pickle bytes that write ``marker`` when unpickled (checked here once)."""
    data = pickle.dumps(_Payload(marker))
    pickle.loads(data)  # the control: unpickling runs it
    assert marker.read_text() == "the payload ran"
    marker.unlink()
    return data


def _object_npy(marker: Path) -> bytes:
    """An ``.npy`` object array whose element is the payload (``np.save`` pickles it)."""
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _copy_with(good: Path, out: Path, *, meta=None, replace=None, add=None) -> Path:
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "metadata.json" and meta is not None:
                data = json.loads(content)
                meta(data)
                content = json.dumps(data).encode()
            if replace and item.filename in replace:
                content = replace[item.filename]
            dst.writestr(item, content)
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out


def _old_format(marker: Path, out: Path) -> Path:
    """A file as version 1 wrote it (metadata.json, arrays, model.pkl), the pickle replaced
    by the payload."""
    with zipfile.ZipFile(FITS / "v1_conjugate.mlfit") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["model.pkl"] = payload(marker)
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out


def _attacks(tmp_path: Path, marker: Path):
    """(what, a fit file with a payload) for every way a payload can be planted."""
    good = fake_fit("y ~ 1 + x + (1 | g)", simulated(40), draws=20).save(tmp_path / "good.mlfit")
    with zipfile.ZipFile(good) as archive:
        meta = json.loads(archive.read("metadata.json"))
    y_member = meta["arrays"]["design/y"]["member"]
    draws_member = meta["arrays"]["posterior/draws/0"]["member"]
    yield "old format, pickle in model.pkl", _old_format(marker, tmp_path / "old.mlfit")
    yield (
        "old format, the version edited to the current one",
        _copy_with(
            _old_format(marker, tmp_path / "old2.mlfit"),
            tmp_path / "old_as_new.mlfit",
            meta=lambda m: m.update(version=2),
        ),
    )
    yield (
        "current format with a model.pkl added",
        _copy_with(good, tmp_path / "extra.mlfit", add={"model.pkl": payload(marker)}),
    )
    yield (
        "a pickle in place of an array",
        _copy_with(good, tmp_path / "raw.mlfit", replace={y_member: payload(marker)}),
    )
    yield (
        "an object array holding the payload",
        _copy_with(good, tmp_path / "object.mlfit", replace={draws_member: _object_npy(marker)}),
    )
    yield (
        "an object array, the table edited to match",
        _copy_with(
            good,
            tmp_path / "object2.mlfit",
            replace={draws_member: _object_npy(marker)},
            meta=lambda m: m["arrays"]["posterior/draws/0"].update(dtype="object", shape=[1]),
        ),
    )
    code = f"open({str(marker)!r}, 'w').write('the payload ran')"
    yield (
        "a tagged JSON array of dtype object",
        _copy_with(
            good,
            tmp_path / "tagged.mlfit",
            meta=lambda m: m["posterior"]["settings"].update(
                seed={"$array": [code], "dtype": "object", "shape": [1]}
            ),
        ),
    )
    yield (
        "a class path where the kind belongs",
        _copy_with(good, tmp_path / "kind.mlfit", meta=lambda m: m.update(kind="builtins.exec")),
    )
    yield (
        "code in the formula",
        _copy_with(
            good,
            tmp_path / "formula.mlfit",
            meta=lambda m: m["design"].update(formula=f'y ~ 1 + x + exec("{code}") + (1 | g)'),
        ),
    )


def test_no_payload_runs_when_a_fit_file_is_loaded(tmp_path):
    marker = tmp_path / "marker"
    for what, path in _attacks(tmp_path, marker):
        with pytest.raises(ml.DataError) as info:
            ml.load(path)
        assert str(path) in str(info.value), what
        assert not marker.exists(), what


def test_the_old_format_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "marker"
    path = _old_format(marker, tmp_path / "old.mlfit")
    with pytest.raises(ml.DataError, match=r"old format \(version 1\).*trust=True.*--trust"):
        ml.load(path)
    assert not marker.exists()


def test_crafted_text_in_a_consistent_file_is_only_text(tmp_path):
    """A file rewritten consistently (it loads) with code where names belong: a formula
    function, the engine and reason, settings. Nothing of it runs; predicting with a formula
    function outside the whitelist is an error."""
    marker = tmp_path / "marker"
    code = f"__import__('builtins').exec(\"open({str(marker)!r}, 'w').write('ran')\")"
    data = simulated(40).assign(z=np.linspace(1.0, 3.0, 40))  # not constant: not dropped
    good = fake_fit("y ~ 1 + log(z) + (1 | g)", data, draws=20).save(tmp_path / "good.mlfit")

    def edit(meta):
        text = json.dumps(meta).replace("log(z)", "exec(z)").replace("b_logz", "b_execz")
        meta.clear()
        meta.update(json.loads(text))
        meta["posterior"].update(engine=code, reason=code)
        meta["posterior"]["settings"].update(seed=code, sampler=code)

    crafted = _copy_with(good, tmp_path / "crafted.mlfit", meta=edit)
    fit = ml.load(crafted)
    assert fit.spec.design.X_names == ("Intercept", "exec(z)")
    assert fit.posterior.engine == code
    fit.summary()
    repr(fit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.to_arviz()
    with pytest.raises(ml.FormulaError, match=r"unknown function exec\(\)"):
        fit.predict(pd.DataFrame({"z": [1.0], "g": ["g1"]}))
    assert not marker.exists()


def test_trust_opens_the_old_format_with_a_warning():
    with pytest.warns(UnsafeFileWarning, match="old pickle format"):
        fit = ml.load(FITS / "v1_conjugate.mlfit", trust=True)
    assert fit.posterior.engine == "conjugate"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # files of the current format never warn
        ml.load(FITS / "v2_conjugate.mlfit", trust=True)


# -- the command line ----------------------------------------------------------------------------


def _run_folder(tmp_path: Path, fit_file: Path, name: str = "run") -> Path:
    """A copy of the session's finished run folder with ``fit_file`` as its fit.mlfit, the
    manifest's checksum updated as an attacker would."""
    result, source = exact_run()
    assert result.status == 0, result.err
    target = tmp_path / name
    shutil.copytree(source, target)
    shutil.copyfile(fit_file, target / "fit.mlfit")
    manifest = json.loads((target / "run.json").read_text())
    data = (target / "fit.mlfit").read_bytes()
    manifest["files"]["fit.mlfit"] = {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (target / "run.json").write_text(json.dumps(manifest))
    return target


def test_no_payload_runs_through_summary_predict_or_report(tmp_path):
    marker = tmp_path / "marker"
    new = tmp_path / "new.csv"
    pd.DataFrame({"g": ["g1", "g2"]}).to_csv(new, index=False)
    for k, (what, path) in enumerate(_attacks(tmp_path, marker)):
        run = _run_folder(tmp_path, path, f"run{k}")
        summary = run_cli("summary", run)  # reads summary.csv and spec.json, never fit.mlfit
        assert summary.status == 0, (what, summary.err)
        for argv in (["predict", run, new], ["report", run, "--out", tmp_path / "r.html"]):
            result = run_cli(*argv)
            assert result.status == 2, (what, argv[0], result.err)
            assert result.err.startswith("error: cannot load a fit from"), (what, result.err)
            assert "Traceback" not in result.err
        assert not marker.exists(), what
        assert not (tmp_path / "r.html").exists()


def test_an_old_run_folder_says_how_to_open_it(tmp_path):
    run = _run_folder(tmp_path, FITS / "v1_conjugate.mlfit")
    result = run_cli("report", run, "--out", tmp_path / "r.html")
    assert result.status == 2
    assert "old format (version 1)" in result.err and "--trust" in result.err


def test_trust_on_the_command_line_opens_an_old_run_folder_with_a_warning(tmp_path):
    run = _run_folder(tmp_path, FITS / "v1_conjugate.mlfit")
    new = tmp_path / "new.csv"
    pd.DataFrame({"y": [0.0], "sigma": [1.0], "school": ["A"]}).to_csv(new, index=False)
    predicted = run_cli("predict", run, new, "--trust")
    assert predicted.status == 0, predicted.err
    assert "pred_mean" in predicted.out
    report = run_cli("report", run, "--out", tmp_path / "r.html", "--trust")
    assert report.status == 0, report.err
    for result in (predicted, report):
        assert "warning:" in result.err and "old pickle format" in result.err
    assert (tmp_path / "r.html").is_file()
