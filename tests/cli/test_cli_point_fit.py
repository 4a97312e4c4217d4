"""``multilevel fit ... --method reml`` (and ml): a run folder of a point fit, its report,
and the commands that read it."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

import multilevel as ml
from _cli_runs import run_cli, workdir


@pytest.fixture(scope="module")
def sleep_csv():
    path = workdir() / "sleepstudy.csv"
    ml.datasets.load("sleepstudy").to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def reml_run(sleep_csv):
    out = workdir() / "reml_run"
    result = run_cli("fit", sleep_csv, "Reaction ~ Days + (Days | Subject)", "--method", "reml",
                     "--out", out)  # fmt: skip
    assert result.status == 0, result.err
    return result, out


def test_reml_run_folder(reml_run):
    result, out = reml_run
    assert "PointFit (REML)" in result.out
    assert sorted(p.name for p in out.iterdir()) == [
        "fit.mlfit", "report.html", "run.json", "spec.json", "summary.csv",
    ]  # fmt: skip
    manifest = json.loads((out / "run.json").read_text())
    assert "posterior.nc" not in manifest["files"]
    assert "estimates, not draws" in manifest["not_written"]["posterior.nc"]
    assert manifest["settings"]["method"] == "reml"
    spec = json.loads((out / "spec.json").read_text())
    assert spec["engine"] == "gaussian (reml)" and spec["chains"] is None
    fit = ml.load(out / "fit.mlfit")
    reference = ml.fit(
        "Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), method="reml"
    )
    np.testing.assert_allclose(fit.fixef(), reference.fixef())
    table = (out / "summary.csv").read_text()
    assert table.startswith("parameter,estimate,std_error")
    summary = run_cli("summary", str(out))
    assert summary.status == 0 and "point estimates (no draws)" in summary.out
    assert "None" not in summary.out


def test_reml_report_sections(reml_run):
    _, out = reml_run
    text = (out / "report.html").read_text()
    ids = re.findall(r'<section id="(\w+)"', text)
    assert ids == ["model", "data", "problems", "engine", "population", "variance", "levels"]
    words = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", text).split()))
    assert "REML (restricted maximum likelihood), as lme4's lmer(REML = TRUE)" in words
    assert "no posterior.nc" in words
    assert "t value" in words and "std_error" in words and "Residual" in words
    assert "Subject (18 levels)" in words and "Intercept deviation" in words
    assert "<img" not in text  # no sampler plots


def test_ml_and_predict_and_report_again(sleep_csv, reml_run, tmp_path):
    out = tmp_path / "ml_run"
    result = run_cli("fit", sleep_csv, "Reaction ~ Days + (1 | Subject)", "--method", "ml",
                     "--out", out)  # fmt: skip
    assert result.status == 0, result.err
    assert "PointFit (ML)" in result.out
    new = tmp_path / "new.csv"
    new.write_text("Days,Subject\n0,308\n9,999\n")
    result = run_cli("predict", out, new, "--new-groups", "population")
    assert result.status == 0, result.err
    fit = ml.load(out / "fit.mlfit")
    expected = fit.predict({"Days": [0, 9], "Subject": ["308", "999"]}, new_groups="population")
    for value in expected:
        assert f"{value:.4g}"[:5] in result.out
    result = run_cli("report", reml_run[1], "--out", tmp_path / "again.html")
    assert result.status == 0, result.err
    assert "Estimates per level" in (tmp_path / "again.html").read_text()


def test_laplace_run_with_cbind_and_quadrature(tmp_path):
    """``--method laplace`` (glmer) on cbpp with lme4's ``cbind`` response: a point-fit run
    folder whose report says glmer and prints z values; ``--nagq 25`` is adaptive
    Gauss-Hermite; ``--nagq`` with another method is refused."""
    data = tmp_path / "cbpp.csv"
    ml.datasets.load("cbpp").to_csv(data, index=False)
    formula = "cbind(incidence, size - incidence) ~ factor(period) + (1 | herd)"  # CSV: codes
    out = tmp_path / "laplace_run"
    result = run_cli("fit", data, formula, "--family", "binomial", "--method", "laplace",
                     "--out", out)  # fmt: skip
    assert result.status == 0, result.err
    assert "PointFit (LAPLACE)" in result.out and "b_factorperiod4" in result.out
    fit = ml.load(out / "fit.mlfit")
    assert fit.fixef()["Intercept"] == pytest.approx(-1.39853, abs=1e-4)  # glmer's
    assert json.loads((out / "run.json").read_text())["settings"]["nagq"] == 1
    words = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", (out / "report.html").read_text())
                                   .split()))  # fmt: skip
    assert "as lme4's glmer(nAGQ = 1)" in words and "z value" in words
    assert "Residual" not in words
    agq = tmp_path / "agq_run"
    result = run_cli("fit", data, formula, "--family", "binomial", "--method", "laplace",
                     "--nagq", "25", "--out", agq)  # fmt: skip
    assert result.status == 0, result.err
    assert "Gauss-Hermite, 25 nodes" in result.out
    assert ml.load(agq / "fit.mlfit").loglik() == pytest.approx(-91.98337, abs=1e-4)
    refused = run_cli("fit", data, formula, "--family", "binomial", "--method", "nuts",
                      "--nagq", "5", "--out", tmp_path / "nope")  # fmt: skip
    assert refused.status == 2 and "option of --method laplace" in refused.err
