"""The HTML report and the notebook view of a fit.

The report is opened in headless Chromium (Debian packages ``chromium`` and
``chromium-driver``): every section must render and every image must decode. Without a
Chromium binary those tests are skipped, with the reason. ``python tests/report/test_report.py``
writes the screenshot kept in ``docs/report-screenshot.png`` (radon, county-level predictor).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from _cli_runs import exact_run, nuts_run, simulated
from multilevel.posterior import Posterior
from multilevel.report import SECTIONS, build_report, data_summary, render, write_report
from multilevel.report.words import prior_words
from multilevel.results.figures import shrinkage_table
from multilevel.results.fit import Fit

PNG = b"\x89PNG\r\n\x1a\n"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report-screenshot.png"


def chromium() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


needs_chromium = pytest.mark.skipif(
    chromium() is None,
    reason="no Chromium binary (chromium, chromium-browser or google-chrome) on PATH; "
    "install it with: apt-get install chromium chromium-driver",
)


def browse(html: Path, *args: str, profile: Path) -> subprocess.CompletedProcess:
    """Run headless Chromium on a local file."""
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={profile}", *args, html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


class Outline(HTMLParser):
    """Section ids with their headings, images, and the body's attributes."""

    def __init__(self):
        super().__init__()
        self.sections: list[str] = []
        self.headings: dict[str, str] = {}
        self.images: list[str] = []
        self.body: dict[str, str] = {}
        self._in_h2: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id", ""))
        elif tag == "h2" and self.sections:
            self._in_h2 = self.sections[-1]
            self.headings[self._in_h2] = ""
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "body":
            self.body = attrs

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = None

    def handle_data(self, data):
        if self._in_h2:
            self.headings[self._in_h2] += data


def outline(text: str) -> Outline:
    parser = Outline()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def nuts_dir():
    result, out = nuts_run()
    assert result.status == 0, result.err
    return out


@pytest.fixture(scope="module")
def exact_dir():
    result, out = exact_run()
    assert result.status == 0, result.err
    return out


@pytest.fixture(scope="module")
def nuts_fit(nuts_dir):
    return ml.load(nuts_dir / "fit.mlfit")


# --------------------------------------------------------------------------- the HTML itself
@pytest.mark.parametrize("which", ["nuts", "exact"])
def test_report_has_every_section_in_order(which, nuts_dir, exact_dir):
    folder = nuts_dir if which == "nuts" else exact_dir
    page = outline((folder / "report.html").read_text())
    assert page.sections == list(SECTIONS)
    assert page.headings == SECTIONS
    assert len(page.images) == 4  # shrinkage, caterpillar, predictive check, trace/rank


def test_report_is_self_contained(nuts_dir):
    text = (nuts_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text and "url(" not in text
    for src in outline(text).images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        assert data.startswith(PNG)
        width, height = (int.from_bytes(data[k : k + 4], "big") for k in (16, 20))
        assert width > 300 and height > 200


def test_report_content(nuts_dir, nuts_fit):
    text = (nuts_dir / "report.html").read_text()
    words = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    assert "y is modelled with a gaussian likelihood (identity link) on 80 observations" in words
    assert "The intercept varies by g (6 levels)" in words
    assert "y ~ 1 + x + (1 | g)" in words
    for name, prior in nuts_fit.spec.priors.items():  # every prior, with who set it
        shown = re.escape(prior_words(prior))  # 4 significant digits
        assert re.search(rf"{re.escape(name)} {shown} (yours|default)", words)
    assert nuts_fit.posterior.reason in words  # engine and why
    for problem in nuts_fit.diagnostics():  # every warning
        assert problem in words
    assert "divergent transitions" in words
    for name in ("b_Intercept", "b_x", "sd_g__Intercept", "sigma"):
        assert name in words
    for column in ("y", "x"):  # data summary
        assert re.search(rf"\b{column} (number|text)", words)
    # an id column is described by its levels, not a mean and SD
    assert re.search(r"\bg grouping factor 0 6 6 levels, \d+ to \d+ rows each", words)
    assert "seed 7" in words


def test_report_of_independent_draws_says_so(exact_dir):
    words = " ".join(re.sub(r"<[^>]+>", " ", (exact_dir / "report.html").read_text()).split())
    assert "The draws are independent (exact engine, no Markov chain)" in words
    assert "independent draws (no Markov chain" in words


def _fake_fit(formula: str, data: pd.DataFrame, family: str = "gaussian") -> Fit:
    """A fit with hand-made draws of the right shapes (no sampler: fast)."""
    from multilevel.fit import _spec

    spec = _spec(formula, data, family, None)
    rng = np.random.default_rng(0)
    shape = (2, 100)
    draws = {}
    for name in spec.parameter_names:
        positive = name.startswith("sd_") or name == "sigma"
        draws[name] = rng.uniform(0.3, 1.0, shape) if positive else rng.normal(0, 0.3, shape)
    for i, block in enumerate(spec.design.blocks):
        draws[f"r_block{i}"] = rng.normal(0, 0.5, shape + (block.n_levels, block.q))
    stats = {"diverging": np.zeros(shape, bool), "lp": rng.normal(size=shape)}
    return Fit(spec, Posterior(draws=draws, sample_stats=stats, engine="test", reason="test"))


def test_report_without_group_effects_and_with_a_discrete_response(tmp_path):
    data = simulated().assign(k=lambda d: (d["y"] > 1).astype(int))
    fit = _fake_fit("k ~ x", data, "bernoulli")
    report = build_report(fit, data_table=data_summary(data, ["k", "x"]))
    figures = {f.id: f for f in report.figures}
    assert figures["shrinkage"].image is None
    assert "no group-level effects" in figures["shrinkage"].note
    assert figures["ppc"].image is not None and figures["trace"].image is not None
    page = outline(render(report))
    assert page.sections == list(SECTIONS) and len(page.images) == 2


# --------------------------------------------------------------------------- in a browser
@needs_chromium
@pytest.mark.parametrize("which", ["nuts", "exact"])
def test_report_renders_in_chromium(which, nuts_dir, exact_dir, tmp_path):
    folder = nuts_dir if which == "nuts" else exact_dir
    done = browse(folder / "report.html", "--dump-dom", profile=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    page = outline(done.stdout)
    assert page.sections == list(SECTIONS)
    assert page.headings == SECTIONS
    # the page's own check, run by the browser after loading: every image decoded
    assert page.body.get("data-images-ok") == "4", page.body
    assert page.body.get("data-images-broken") == "0", page.body
    shot = tmp_path / "shot.png"
    done = browse(folder / "report.html", f"--screenshot={shot}", "--window-size=1200,3000",
                  profile=tmp_path / "profile")  # fmt: skip
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG) and len(data) > 50_000
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1200, 3000)


@needs_chromium
def test_chromium_check_catches_a_broken_image(nuts_dir, tmp_path):
    """The image check is not vacuous: a damaged image is reported as broken."""
    text = (nuts_dir / "report.html").read_text()
    damaged = text.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1)
    assert damaged != text
    (tmp_path / "damaged.html").write_text(damaged)
    done = browse(tmp_path / "damaged.html", "--dump-dom", profile=tmp_path / "profile")
    body = outline(done.stdout).body
    assert body.get("data-images-ok") == "3" and body.get("data-images-broken") == "1"


@needs_chromium
def test_search_box_finds_a_level_in_chromium(nuts_dir, tmp_path):
    """Typing in the per-level table's search box leaves the rows whose label holds the
    text: the browser types the last level's label and reports the rows left showing."""
    text = (nuts_dir / "report.html").read_text()
    typing = """<script>
var box = document.querySelector(".ml-search");
var rows = document.getElementById(box.getAttribute("data-table")).tBodies[0].rows;
var all = Array.prototype.map.call(rows, function (r) { return r.cells[0].textContent; });
box.value = all[all.length - 1].toUpperCase();
box.dispatchEvent(new Event("input"));
var shown = Array.prototype.filter.call(rows, function (r) { return r.style.display !== "none"; });
document.body.setAttribute("data-typed", box.value);
document.body.setAttribute("data-all", JSON.stringify(all));
document.body.setAttribute("data-shown", JSON.stringify(
  shown.map(function (r) { return r.cells[0].textContent; })));
</script></body>"""
    assert text.count("</body>") == 1
    (tmp_path / "typed.html").write_text(text.replace("</body>", typing))
    done = browse(tmp_path / "typed.html", "--dump-dom", profile=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    body = outline(done.stdout).body
    labels, shown = json.loads(body["data-all"]), json.loads(body["data-shown"])
    typed = body["data-typed"].lower()
    assert len(labels) > 3 and typed
    assert shown == [label for label in labels if typed in label.lower()]
    assert 0 < len(shown) < len(labels)


# --------------------------------------------------------------------------- notebooks
def test_repr_html_is_a_compact_summary(nuts_fit):
    text = nuts_fit._repr_html_()
    assert text.startswith('<div class="ml-fit">') and text.endswith("</div>")
    assert "y ~ 1 + x + (1 | g)" in text and "<table" in text
    assert "g (6 levels)" in text and "engine: <b>nuts</b>" in text
    for name in nuts_fit.spec.parameter_names:
        assert f"<th>{name}</th>" in text
    assert "r_g[" not in text.split("<table")[1].split("</table>")[0]  # named parameters only
    assert len(text) < 20_000


def test_repr_is_readable(nuts_fit):
    text = repr(nuts_fit)
    lines = text.splitlines()
    assert lines[0] == "Fit: y ~ 1 + x + (1 | g)"
    assert "engine: nuts" in text and "group g: 6 levels" in text
    assert lines[-1].startswith("  convergence: ")
    assert all(len(line) < 400 for line in lines)


def test_plot_methods_return_figures(nuts_fit):
    from matplotlib.figure import Figure

    for make, panels in (
        (nuts_fit.plot_shrinkage, 1),
        (nuts_fit.plot_effects, 1),
        (nuts_fit.plot_ppc, 1),
    ):
        fig = make()
        assert isinstance(fig, Figure)
        assert len(fig.axes) == panels
        assert fig.axes[0].has_data()


def test_shrinkage_table_own_estimate_is_the_group_mean(exact_dir):
    """For y ~ 1 + (1 | g), a level's own estimate is its mean response and the partially
    pooled one lies between it and the population mean."""
    fit = ml.load(exact_dir / "fit.mlfit")
    table = shrinkage_table(fit).set_index("level")
    means = simulated().groupby("g")["y"].agg(["mean", "size"])
    np.testing.assert_allclose(table["own"], means.loc[table.index, "mean"], rtol=1e-10)
    assert (table["n"] == means.loc[table.index, "size"]).all()
    lo = np.minimum(table["own"], table["population"])
    hi = np.maximum(table["own"], table["population"])
    assert ((table["mean"] > lo - 0.05) & (table["mean"] < hi + 0.05)).all()
    np.testing.assert_allclose(table["mean"], fit.coef("g").loc[table.index, "Intercept"])


def test_shrinkage_table_with_a_slope_is_per_level_least_squares(nuts_fit):
    """Own estimate with a population slope: the level's mean of y - x * b_x."""
    table = shrinkage_table(nuts_fit).set_index("level")
    data = simulated()
    b_x = np.mean(nuts_fit.posterior.draws["b_x"], dtype=float)
    own = (data["y"] - data["x"] * b_x).groupby(data["g"]).mean()
    np.testing.assert_allclose(table["own"], own.loc[table.index], rtol=1e-5)  # float32 draws


def test_write_report_api(nuts_fit, tmp_path):
    path = write_report(nuts_fit, tmp_path / "r.html")
    assert outline(path.read_text()).sections == list(SECTIONS)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


@pytest.mark.parametrize(
    "name",
    [
        "multilevel.cli",
        "multilevel.tables",
        "multilevel.rundir",
        "multilevel.report.words",
        "multilevel.report.content",
        "multilevel.results.html",
        "multilevel.results.figures",
    ],
)
def test_doctests(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(module, optionflags=flags).failed == 0


# --------------------------------------------------------------------------- docs screenshot
def write_screenshot(path: Path = SCREENSHOT) -> None:
    """Fit the radon example through the command line and screenshot its report (cropped to
    the page, 256 colours)."""
    import os
    import tempfile

    from PIL import Image

    from multilevel.cli import main

    folder = Path(tempfile.mkdtemp())
    os.chdir(folder)  # relative paths, as a user would type them
    ml.datasets.load("radon").to_csv("radon.csv", index=False)
    status = main(
        [
            "fit",
            "radon.csv",
            "log_radon ~ floor + log_uppm + (1 | county)",
            "--chains",
            "4",
            "--draws",
            "500",
            "--seed",
            "1",
            "--out",
            "radon_run",
        ]
    )
    if status:
        raise SystemExit(status)
    raw = folder / "raw.png"
    done = browse(
        folder / "radon_run" / "report.html",
        f"--screenshot={raw}",
        "--window-size=1100,9000",
        profile=folder / "profile",
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    image = Image.open(raw).convert("RGB")
    pixels = np.asarray(image)
    background = pixels[-1, -1]
    rows = np.flatnonzero((pixels != background).any(axis=(1, 2)))
    image = image.crop((0, 0, image.width, int(rows.max()) + 16))
    image.quantize(256).save(path, optimize=True)
    print(f"wrote {path} ({image.width} x {image.height})")


if __name__ == "__main__":  # python tests/report/test_report.py: refresh docs/report-screenshot.png
    sys.exit(write_screenshot())
