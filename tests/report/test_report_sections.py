"""The report's sections for a first-hour user: data problems (what ``multilevel check``
finds), a searchable table of per-level estimates, PSIS-LOO with Pareto k, the engine in
plain words, rounded priors, id columns described by their levels, the predictive check's
caption for counts, and R-hat with two decimals in the notebook view."""

from __future__ import annotations

import html
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from _fitted import fake_fit, simulated
from multilevel.checks import data_problems
from multilevel.posterior import Posterior
from multilevel.report import build_report, data_summary, render
from multilevel.results.fit import Fit


def words_of(text: str) -> str:
    text = re.sub(r"<script>.*?</script>|<style>.*?</style>", " ", text, flags=re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", text).split()))


def _section(text: str, id_: str) -> str:
    match = re.search(rf'<section id="{id_}">(.*?)</section>', text, flags=re.S)
    assert match, f"no section {id_}"
    return match.group(1)


def _with_log_likelihood(fit: Fit, *, outlier: bool = False) -> Fit:
    """The fake fit with a gaussian log-likelihood of its own draws (y ~ 1 + ...)."""
    post = fit.posterior
    y = np.asarray(fit.spec.design.y, dtype=float).copy()
    if outlier:
        y[0] += 40.0
    mu = fit.predict(kind="mean", summary=False).reshape(post.n_chains, post.n_draws, -1)
    sigma = np.asarray(post.draws["sigma"])[..., None]
    ll = stats.norm.logpdf(y, mu, sigma)
    return Fit(
        fit.spec,
        Posterior(
            draws=post.draws,
            sample_stats=post.sample_stats,
            engine="exact",
            reason="test draws",
            log_likelihood=ll,
            settings={"seed": 1, "sampler": "independence", "acceptance": 0.5901411711,
                      "thin": 6, "defensive_weight": 0.05},
        ),
    )  # fmt: skip


def test_data_problems_section_lists_what_check_finds():
    data = ml.datasets.load("cbpp")
    fit = fake_fit("incidence ~ period + (1 | herd)", data, family="poisson")
    problems = data_problems(fit.spec)
    assert problems  # cbpp: a herd with a single row, a count response
    text = render(build_report(fit))
    section = words_of(_section(text, "problems"))
    for problem in problems:
        assert problem in section
    clean = fake_fit("y ~ 1 + x + (1 | g)", simulated())
    section = words_of(_section(render(build_report(clean)), "problems"))
    assert "found nothing" in section


def test_levels_table_is_searchable_and_right():
    fit = fake_fit("y ~ 1 + x + (1 + x | g) + (1 | h)", simulated())
    report = build_report(fit)
    table = report.levels["g"]
    coef, q95 = fit.coef("g"), fit.coef("g", "q95")
    np.testing.assert_allclose(table["Intercept"], coef["Intercept"])
    np.testing.assert_allclose(table["x q95"], q95["x"])
    counts = simulated()["g"].value_counts()
    assert (table["rows"] == counts.loc[table.index]).all()
    text = render(report)
    section = _section(text, "levels")
    assert section.count('type="search"') == 2  # one box per grouping factor
    assert 'oninput="mlFilter(this)"' in section and "function mlFilter" in text
    for level in coef.index:
        assert f"<tr><th>{level}</th>" in section


def test_loo_section_with_pareto_k():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        fit = ml.fit("y ~ 1 + (1 | g)", simulated(), method="conjugate", chains=2, draws=1000,
                     seed=1, progress=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", ml.ConvergenceWarning)  # every k is good here
        report = build_report(fit)
    result = fit.loo()
    from multilevel.results.arviz_bridge import effective_parameters, elpd

    # the report's PSIS (multilevel.results.psis) gives ArviZ's numbers, to rounding
    assert report.loo["elpd_loo"] == pytest.approx(elpd(result), rel=1e-12)
    assert report.loo["p_loo"] == pytest.approx(effective_parameters(result), rel=1e-12)
    section = words_of(_section(render(report), "loo"))
    assert f"elpd_loo {elpd(result):.1f} (SE {float(result['se']):.1f})" in section
    assert "Pareto k diagnostics" in section
    assert f"good (k <= {float(result['good_k']):.2f})" in section
    assert report.pareto_k["rows"].tolist() == [fit.spec.design.n, 0, 0]
    assert "Every Pareto k is at most" in section


def test_loo_section_warns_on_high_pareto_k():
    fit = _with_log_likelihood(fake_fit("y ~ 1 + x + (1 | g)", simulated()), outlier=True)
    report = build_report(fit)
    assert report.pareto_k.loc[report.pareto_k.index[1:], "rows"].sum() >= 1
    section = words_of(_section(render(report), "loo"))
    assert "PSIS-LOO is unreliable" in section


def test_loo_section_without_log_likelihood_says_why():
    fit = fake_fit("y ~ 1 + x + (1 | g)", simulated())
    section = words_of(_section(render(build_report(fit)), "loo"))
    assert "Not available" in section and "log-likelihood" in section


def test_engine_in_plain_words_and_priors_rounded():
    fit = _with_log_likelihood(fake_fit("y ~ 1 + x + (1 | g)", simulated()))
    text = render(build_report(fit))
    section = words_of(_section(text, "engine"))
    assert "defensive_weight" not in section and "0.05" not in section
    assert "proposals from a wider safety distribution 5%" in section
    assert "proposals accepted 59%" in section and "every 6th draw kept" in section
    assert "0.5901" not in section
    data = ml.datasets.load("sleepstudy")
    spec_fit = fake_fit("Reaction ~ Days + (Days | Subject)", data)
    priors = words_of(_section(render(build_report(spec_fit)), "priors"))
    assert "normal(0, 48.89)" in priors and "48.8915" not in priors  # 4 significant digits
    assert "student_t(3, 288.7, 59.3)" in priors


def test_id_columns_are_described_by_levels():
    data = simulated().assign(g=lambda d: d["g"].str[1:].astype(int))  # an integer id
    fit = fake_fit("y ~ 1 + x + (1 | g)", data)
    report = build_report(fit, data_table=data_summary(data, ["y", "x", "g"]))
    row = report.data_table.loc["g"]
    assert row["type"] == "grouping factor"
    assert pd.isna(row["mean"]) and pd.isna(row["sd"])
    counts = data["g"].value_counts()
    assert row["values"] == f"6 levels, {counts.min()} to {counts.max()} rows each"
    assert np.isfinite(report.data_table.loc["x", "mean"])  # a predictor keeps its mean


def test_ppc_caption_matches_the_plot_for_counts():
    data = simulated().assign(k=lambda d: np.arange(len(d)) % 4)
    counts = build_report(fake_fit("k ~ 1 + x + (1 | g)", data, family="poisson"))
    caption = {f.id: f for f in counts.figures}["ppc"].caption
    assert "frequency of each value" in caption and "density" not in caption
    gaussian = build_report(fake_fit("y ~ 1 + x + (1 | g)", simulated()))
    assert "density" in {f.id: f for f in gaussian.figures}["ppc"].caption


def test_notebook_r_hat_has_two_decimals():
    fit = fake_fit("y ~ 1 + x + (1 | g)", simulated())
    text = fit._repr_html_()
    r_hat = fit.summary().loc["b_x", "r_hat"]
    cells = re.search(r"<tr><th>b_x</th>(.*?)</tr>", text).group(1)
    values = re.findall(r'<td class="num">([^<]*)</td>', cells)
    assert values[4] == f"{r_hat:.2f}"  # mean, sd, q5, q95, r_hat, ess_bulk
    assert re.fullmatch(r"\d+", values[5])
