"""Render a :class:`~multilevel.report.content.Report` as one self-contained HTML file.

One template (:data:`TEMPLATE`), filled by :func:`render`. Styles are inline and images are
PNG data URIs, so the file opens offline and can be mailed as it is. A ten-line script
checks, once the page has loaded, that every image decoded: it sets
``data-images-ok``/``data-images-broken`` on ``<body>`` and shows a banner if an image is
broken (the browser test reads these attributes).
"""

from __future__ import annotations

import string

import pandas as pd

from multilevel.report.content import ALL_SECTIONS, MAX_LEVEL_ROWS, Report
from multilevel.report.words import settings_words
from multilevel.results.html import escape, format_number, table_html

__all__ = ["render", "TEMPLATE"]

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;
 background:#fafafa;line-height:1.45}
header{background:#23395d;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}header code{background:none;color:#ffe9a8;font-size:16px}
header p{margin:4px 0 0;font-size:13px;color:#cfd8e8}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:6px 32px;
 font-size:13px;z-index:1}
nav a{margin-right:14px;color:#23395d;text-decoration:none}
main{max-width:1100px;margin:0 auto;padding:8px 32px 40px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:4px 20px 14px;
 margin:16px 0}
h2{font-size:18px;color:#23395d;border-bottom:1px solid #eee;padding-bottom:4px}
code{background:#f1f1f1;padding:1px 4px;border-radius:3px}
table.ml-table{border-collapse:collapse;font-size:13px;margin:8px 0}
.ml-table th,.ml-table td{padding:3px 10px;border-bottom:1px solid #e6e6e6;text-align:right}
.ml-table th:first-child,.ml-table td.text{text-align:left}
.ml-table thead th{background:#f3f5f9}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:6px 10px;margin:6px 0}
.ok{background:#eaf6ea;border-left:4px solid #3c9a3c;padding:6px 10px;margin:6px 0}
.note{color:#666;font-size:13px}
figure{margin:10px 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:13px;color:#555;margin-top:4px}
dl{display:grid;grid-template-columns:fit-content(45%) minmax(0,1fr);gap:2px 16px;font-size:14px}
dt{color:#666}dd{margin:0;overflow-wrap:break-word}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:0 24px}
h3{font-size:15px;color:#444;margin:10px 0 4px}
#ml-broken{display:none;background:#fde2e2;color:#8a1f11;padding:8px 32px}
.ml-search{margin:6px 0;padding:3px 6px;font-size:13px;width:260px}
.ml-levels{max-height:420px;overflow:auto;border:1px solid #eee}
footer{font-size:12px;color:#777;text-align:center;padding:12px}
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } else { broken++; }
  }
  document.body.setAttribute("data-images-ok", ok);
  document.body.setAttribute("data-images-broken", broken);
  if (broken) { document.getElementById("ml-broken").style.display = "block"; }
});
function mlFilter(input) {
  var text = input.value.toLowerCase();
  var rows = document.getElementById(input.getAttribute("data-table")).tBodies[0].rows;
  Array.prototype.forEach.call(rows, function (row) {
    var label = row.cells[0].textContent.toLowerCase();
    row.style.display = label.indexOf(text) >= 0 ? "" : "none";
  });
}
"""

#: The one template of a report; ``$name`` fields are filled by :func:`render`.
TEMPLATE = string.Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="multilevel $version">
<title>$title</title>
<style>$css</style>
</head>
<body>
<div id="ml-broken">Some images of this report could not be displayed.</div>
<header>
<h1>multilevel report: <code>$formula</code></h1>
<p>$family &middot; $n_obs observations &middot; engine $engine &middot; created $created</p>
</header>
<nav>$nav</nav>
<main>
$sections
</main>
<footer>Written by multilevel $version. Self-contained: no network needed to view it.</footer>
<script>$script</script>
</body>
</html>
"""
)


def _dl(items) -> str:
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f"<dl>{rows}</dl>"


def _section(id_: str, body: str) -> str:
    return f'<section id="{id_}"><h2>{escape(ALL_SECTIONS[id_])}</h2>\n{body}\n</section>'


def _table(frame: pd.DataFrame, empty: str = "None.") -> str:
    if frame is None or frame.empty:
        return f'<p class="note">{escape(empty)}</p>'
    return table_html(frame)


def _figure(figure) -> str:
    if figure.image is None:
        return f'<p class="note">{escape(figure.note)}</p>'
    return (
        f'<figure><img src="{figure.image}" alt="{escape(figure.title)}">'
        f"<figcaption>{escape(figure.caption)}</figcaption></figure>"
    )


def _problems(problems) -> str:
    if not problems:
        return '<div class="ok">The data checks found nothing to look at.</div>'
    items = "".join(f'<div class="warn">{escape(p)}</div>' for p in problems)
    return "<p>What <code>multilevel check</code> finds in the data for this model:</p>" + items


def _levels(report: Report) -> str:
    if not report.levels:
        return '<p class="note">The model has no group-level effects.</p>'
    point = report.kind == "point"
    text = (
        "<p>Each level's coefficients: the estimate plus the level's conditional mode "
        "(lme4's <code>coef</code>), and the deviation alone (lme4's <code>ranef</code>).</p>"
        if point
        else "<p>Each level's coefficients, population-level plus the level's deviation "
        "(lme4's <code>coef</code>): posterior mean with 5% and 95% quantiles. Type in the "
        "box to find a level.</p>"
    )
    parts = [text]
    for k, (group, table) in enumerate(report.levels.items()):
        id_ = f"ml-levels-{k}"
        shown = table.iloc[:MAX_LEVEL_ROWS]
        html = table_html(shown).replace(
            '<table class="ml-table">', f'<table class="ml-table" id="{id_}">', 1
        )
        parts.append(
            f"<h3>{escape(group)} ({len(table):,} levels)</h3>"
            f'<input class="ml-search" type="search" placeholder="find a level of '
            f'{escape(group)}" data-table="{id_}" oninput="mlFilter(this)">'
            f'<div class="ml-levels">{html}</div>'
        )
        if len(table) > len(shown):
            parts.append(
                f'<p class="note">The first {len(shown):,} of {len(table):,} levels; all are '
                "in fit.coef() and summary.csv.</p>"
            )
    return "".join(parts)


def _loo(report: Report) -> str:
    if not report.loo:
        return f'<p class="note">{escape(report.loo_note or "Not available.")}</p>'
    loo = report.loo
    head = (
        "<p>Approximate leave-one-out cross-validation by Pareto-smoothed importance "
        "sampling (PSIS-LOO, through ArviZ): the expected log predictive density of a "
        "new observation (<code>elpd_loo</code>; higher is better, compare models with "
        "<code>ml.loo_compare</code>) and the effective number of parameters "
        "(<code>p_loo</code>).</p>"
    )
    numbers = _dl(
        [
            ("elpd_loo", f"{loo['elpd_loo']:.1f} (SE {loo['se']:.1f})"),
            ("p_loo", f"{loo['p_loo']:.1f}"),
            ("looic", f"{loo['looic']:.1f}"),
        ]
    )
    verdict = (
        f'<div class="warn">{escape(report.loo_note)}</div>'
        if report.loo_note
        else f'<div class="ok">Every Pareto k is at most {loo["good_k"]:.2f}: the estimate is '
        "reliable.</div>"
    )
    return head + numbers + "<h3>Pareto k diagnostics</h3>" + _table(report.pareto_k) + verdict


def _factors(report: Report) -> str:
    tables = report.factors
    if not tables:
        return ""
    out = (
        "<p>How the variance of the linear predictor splits between the group terms, the "
        "factors (<code>u · v</code>) and the noise: posterior mean share and 90% interval "
        "(<code>sd_factors</code> is the SD of <code>u · v</code> over the rows; a rotation of "
        "the factors leaves it unchanged).</p>" + _table(tables["shares"])
    )
    if not tables["shrinkage"].empty:
        out += (
            "<h3>Shrinkage toward the groups</h3><p>The share of each side's factor variance "
            "that its groups explain: near 1, a level with few ratings (a new song) is "
            "predicted almost as its group (its artist); near 0, the group says little.</p>"
            + _table(tables["shrinkage"])
        )
    out += (
        "<h3>Calibration</h3><p>Leave-one-out, on a sample of the training rows: how often "
        "each row's central predictive interval, from the fit without that row (importance "
        "weights), covers its rating (gaussian), or the observed frequency of 1 against the "
        "leave-one-out probability (bernoulli).</p>" + _table(tables["calibration"])
    )
    return out


def _seconds(value) -> str:
    return f"{float(value):.2f} s" if isinstance(value, (int, float)) else str(value)


def render(report: Report) -> str:
    """The report as one HTML document (a string)."""
    import multilevel

    figures = {f.id: f for f in report.figures}
    if report.diagnostics:
        diagnostics = "".join(f'<div class="warn">{escape(d)}</div>' for d in report.diagnostics)
    else:
        diagnostics = '<div class="ok">No convergence problems found.</div>'
    diagnostics += _dl(report.checks.items())
    structure = (
        "<h3>Grouping structure</h3>" + _table(report.structure)
        if not report.structure.empty
        else ""
    )
    point = report.kind == "point"
    body = {
        "model": (
            f"<p>{escape(report.model_words)}</p>"
            f"<p>Formula: <code>{escape(report.formula)}</code><br>Family: "
            f"<code>{escape(report.family)}</code></p>"
        ),
        "data": (
            f"<p>{report.n_obs:,} rows from <code>{escape(report.data_source)}</code>; the "
            "columns the model uses:</p>" + _table(report.data_table) + structure
        ),
        "priors": (
            "<p>The prior of every parameter, in Stan's notation (<code>T[0, ]</code>: "
            "truncated at 0). Defaults are weakly informative and scaled to the data.</p>"
            + _table(report.priors)
        ),
        "problems": _problems(report.problems),
        "engine": (
            f"<p>Engine <b>{escape(report.engine)}</b>, chosen because: "
            f"<i>{escape(report.reason)}</i></p>"
            + "".join(f'<p class="note">{escape(n)}</p>' for n in report.notes)
            + '<div class="cols"><div><h3>Settings</h3>'
            + _dl(settings_words(report.settings) if not point else report.settings.items())
            + "</div><div><h3>Timings</h3>"
            + _dl([(k.replace("_", " "), _seconds(v)) for k, v in report.timings.items()])
            + "</div>"
            + (
                "<div><h3>Versions</h3>" + _dl(report.versions.items()) + "</div>"
                if report.versions
                else ""
            )
            + "</div>"
        ),
        "diagnostics": diagnostics,
        "population": (
            (
                "<p>Estimates with standard errors (lme4's <code>vcov</code>, given the "
                "variance components) and t values (z values for a GLMM, as glmer).</p>"
                if point
                else "<p>Posterior mean, SD, 5%, 50% and 95% quantiles, R-hat and effective "
                "sample sizes.</p>"
            )
            + _table(report.population, "The model has no population-level coefficients.")
        ),
        "variance": (
            (
                "<p>Variances and standard deviations of the group-level effects, their "
                "covariances and correlations, and the residual, as lme4's "
                "<code>VarCorr</code> (no standard errors, as lme4).</p>"
                if point
                else "<p>Standard deviations (<code>sd_</code>) and correlations "
                "(<code>cor_</code>) of the group-level effects, and the family's "
                "parameters.</p>"
            )
            + _table(report.variance)
        ),
        "levels": _levels(report),
        "factors": _factors(report),
        "loo": _loo(report),
    }
    for id_ in ("shrinkage", "effects", "ppc", "trace"):
        body[id_] = _figure(figures[id_]) if id_ in figures else '<p class="note">None.</p>'
    shown = [k for k in ALL_SECTIONS if k in report.sections]
    nav = "".join(f'<a href="#{k}">{escape(ALL_SECTIONS[k])}</a>' for k in shown)
    return TEMPLATE.substitute(
        version=escape(multilevel.__version__),
        title=escape(report.title),
        css=_CSS,
        formula=escape(report.formula),
        family=escape(report.family),
        n_obs=escape(format_number(report.n_obs)),
        engine=escape(report.engine),
        created=escape(report.created),
        nav=nav,
        sections="\n".join(_section(k, body[k]) for k in shown),
        script=_SCRIPT,
    )
