"""``method="stan"``: the generated program compiled and sampled by Stan agrees with the NUTS
engine on one model of every family (the Stan references: tests/engines/nuts/
test_stan_reference.py), and the result is the same Fit as every engine's.

Rule, per named parameter: ``|mean_stan - mean_nuts| <= 4 * hypot(mcse_stan, mcse_nuts) +
0.02 * sd`` and the same for the SDs with their MCSEs: both runs sample one posterior, so the
difference is Monte Carlo error; 4 MCSEs make a false alarm about 1 in 16,000 per comparison
(about 60 comparisons here), the 2% of an SD absorbs the error of the MCSE estimates.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from _cases import needs_stan

import multilevel as ml
from multilevel.engines import stan as stan_engine
from multilevel.families import REGISTRY
from multilevel.fit import fit

CHAINS, DRAWS, WARMUP = 4, 600, 600


def _simulated(family: str, seed: int = 3):
    """``y ~ x + (1 | g)`` data of ``family``: 200 rows, 10 groups."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    n, groups = 200, 10
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.5 * x + rng.normal(scale=0.5, size=groups)[g]
    df = pd.DataFrame({"x": x, "g": g.astype(str)})
    if family in ("gaussian", "student_t"):
        df["y"] = eta + rng.normal(size=n)
    elif family == "bernoulli":
        df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif family == "binomial":
        df["t"] = rng.integers(5, 15, n)
        df["y"] = rng.binomial(df["t"], 1 / (1 + np.exp(-eta)))
    elif family in ("poisson", "negbinomial"):
        df["y"] = rng.poisson(np.exp(eta))
    elif family in ("gamma", "lognormal"):
        df["y"] = rng.gamma(3.0, np.exp(eta) / 3.0)
    elif family == "beta":
        mu = 1 / (1 + np.exp(-eta))
        df["y"] = rng.beta(mu * 8, (1 - mu) * 8)
    return df


#: every family the library fits
FAMILIES = list(REGISTRY)


def _fit(formula, df, family, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.DataWarning)
        return fit(
            formula,
            df,
            family=family,
            method=method,
            chains=CHAINS,
            draws=DRAWS,
            warmup=WARMUP,
            seed=11,
            progress=False,
            target_accept=0.95,
        )


def _disagreements(a, b, names) -> list[str]:
    problems = []
    for name in names:
        x, y = a.posterior.draws[name], b.posterior.draws[name]
        sd = 0.5 * (x.std() + y.std())
        for what, fx, fy, mx, my in (
            ("mean", x.mean(), y.mean(), az.mcse(x, method="mean"), az.mcse(y, method="mean")),
            ("sd", x.std(), y.std(), az.mcse(x, method="sd"), az.mcse(y, method="sd")),
        ):
            tol = 4 * np.hypot(float(mx), float(my)) + 0.02 * sd
            if abs(fx - fy) > tol:
                problems.append(
                    f"{name} {what}: stan {fx:.4g}, nuts {fy:.4g} (tolerance {tol:.3g})"
                )
    return problems


@pytest.mark.slow
@needs_stan
@pytest.mark.parametrize("family", FAMILIES)
def test_stan_agrees_with_nuts_on_every_family(family):
    df = _simulated(family)
    formula = "y | trials(t) ~ x + (1 | g)" if family == "binomial" else "y ~ x + (1 | g)"
    ours = _fit(formula, df, family, "nuts")
    theirs = _fit(formula, df, family, "stan")
    assert theirs.posterior.engine == "stan"
    names = ours.spec.parameter_names
    problems = _disagreements(theirs, ours, names)
    assert not problems, "\n".join(problems)
    # the group effects too, level by level
    key = ours.spec.covariance[0].key
    for level in range(3):
        x = theirs.posterior.draws[key][:, :, level, 0]
        y = ours.posterior.draws[key][:, :, level, 0]
        tol = 4 * np.hypot(float(az.mcse(x)), float(az.mcse(y))) + 0.02 * x.std()
        assert abs(x.mean() - y.mean()) <= tol


@pytest.mark.slow
@needs_stan
def test_a_stan_fit_is_a_fit_like_any_other(tmp_path):
    """Distributional formula, weights, offset and weighted multiple membership in one model;
    summary, coef, predict, loo and the report all work on the Stan engine's draws."""
    from _cases import feature_data

    df = feature_data(n=150)
    formula = [
        "y | weights(w) ~ x + offset(o) + (1 | mm(g, g2, weights = cbind(w1, w2)))",
        "sigma ~ x + (1 | h)",
    ]
    stan = _fit(formula, df, "gaussian", "stan")
    nuts = _fit(formula, df, "gaussian", "nuts")
    problems = _disagreements(stan, nuts, nuts.spec.parameter_names)
    assert not problems, "\n".join(problems)
    table = stan.summary()
    assert "b_sigma_x" in table.index and (table["r_hat"] < 1.02).all()
    assert stan.posterior.settings["backend"] in ("cmdstanpy", "pystan")
    assert {"diverging", "tree_depth", "energy"} <= set(stan.posterior.sample_stats)
    assert stan.posterior.sample_stats["diverging"].shape == (CHAINS, DRAWS)
    assert stan.posterior.log_likelihood.shape == (CHAINS, DRAWS, len(df))
    np.testing.assert_allclose(
        stan.predict(df.head(5))["mean"], nuts.predict(df.head(5))["mean"], rtol=0.05, atol=0.05
    )
    stan.loo()
    assert "stan" in stan.posterior.reason.lower()
    from multilevel.report import write_report

    page = write_report(stan, tmp_path / "report.html", progress=False)
    assert "b_sigma_x" in page.read_text()
    again = ml.load(stan.save(tmp_path / "fit.mlfit"))
    assert again.posterior.engine == "stan"


def test_draws_are_read_back_in_chain_and_draw_order():
    """PyStan stacks draws draw-major (draw 1 of every chain, then draw 2, ...): the read-out
    puts each back in its chain."""

    class FakeFit:
        param_names = ("v", "m")
        dims = ([2], [2, 3])

        def __getitem__(self, name):
            chains, draws = 3, 4
            base = np.arange(draws * chains)  # position s * chains + c
            if name == "v":
                return np.stack([base, base + 100])
            if name == "m":
                return np.stack([base + 1000 * k for k in range(6)]).reshape(2, 3, -1, order="F")
            return base[None, :]

    out = stan_engine._from_pystan(FakeFit(), ["v", "m", "lp__"], chains=3, draws=4)
    assert out["lp__"].shape == (3, 4)
    # chain c, draw s came from position s * 3 + c
    np.testing.assert_array_equal(out["lp__"][1], [1, 4, 7, 10])
    assert out["v"].shape == (3, 4, 2)
    np.testing.assert_array_equal(out["v"][2, :, 1], [102, 105, 108, 111])
    assert out["m"].shape == (3, 4, 2, 3)


def test_without_a_backend_method_stan_says_how_to_install_one(monkeypatch):
    monkeypatch.setattr(stan_engine, "_cmdstanpy_reason", lambda: "CmdStanPy is not installed")
    monkeypatch.setattr(stan_engine, "_pystan_reason", lambda: "PyStan is not installed")
    with pytest.raises(ml.EngineError, match="cmdstanpy.install_cmdstan"):
        ml.fit("y | se(sigma) ~ 1 + (1 | school)", ml.datasets.load("eight_schools"), method="stan")


def test_an_unknown_backend_name_is_refused(monkeypatch):
    monkeypatch.setenv("MULTILEVEL_STAN_BACKEND", "rstan")
    with pytest.raises(ml.EngineError, match="valid values are cmdstanpy, pystan"):
        stan_engine.stan_backend()


def test_auto_never_picks_stan():
    spec = ml.build_spec(ml.design("y ~ x + (1 | g)", _simulated("poisson")), "poisson")
    from multilevel.engines import select_engine

    engine, _ = select_engine(spec, "auto")
    assert engine.name != "stan"


@pytest.mark.slow
@needs_stan
def test_any_seed_is_accepted_and_repeats_the_draws():
    """A seed beyond PyStan's 31 bits (any the library takes: below 2^32) is accepted, and
    the same seed gives the same draws (the program is the gaussian family test's: compiled
    once)."""
    df = _simulated("gaussian")
    runs = [
        fit(
            "y ~ x + (1 | g)",
            df,
            method="stan",
            seed=3_000_000_005,
            chains=2,
            draws=200,
            warmup=200,
            progress=False,
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].posterior.draws["b_x"], runs[1].posterior.draws["b_x"])
    assert runs[0].posterior.settings["seed"] == 3_000_000_005


def test_the_cmdstanpy_backend_writes_caches_and_reads_back_its_draws(monkeypatch, tmp_path):
    """The CmdStanPy path against a stand-in for cmdstanpy (CmdStan itself cannot be installed
    here): the program is written once under the cache by its hash, the settings reach
    ``sample`` under CmdStan's names, and CmdStanPy's chain-major draws and ``(draws,
    chains)`` sampler statistics come back as ``(chains, draws, ...)``."""
    import sys
    import types

    from _cases import feature_data

    from multilevel.engines.protocol import SamplerSettings
    from multilevel.fit import _spec

    chains, draws = 3, 5
    calls = []

    class FakeFit:
        def stan_variable(self, name):
            shape = {"b": (1,), "sd_1": (1,), "r_1": (8, 1)}.get(name, ())
            position = np.arange(chains * draws, dtype=float)  # chain c, draw s: c * draws + s
            column = position.reshape((-1,) + (1,) * len(shape))
            values = np.broadcast_to(column, (chains * draws, *shape))
            return values + (1.0 if name in ("sd_1", "sigma") else 0.0)

        def method_variables(self):
            grid = np.arange(draws)[:, None] * 10 + np.arange(chains)[None, :]  # (draws, chains)
            return {name: grid.astype(float) for name in ("divergent__", "treedepth__", "lp__")}

    class FakeModel:
        def __init__(self, stan_file):
            calls.append(("compile", Path(stan_file)))

        def sample(self, **options):
            calls.append(("sample", options))
            return FakeFit()

    fake = types.ModuleType("cmdstanpy")
    fake.cmdstan_path = lambda: str(tmp_path / "cmdstan")
    fake.CmdStanModel = FakeModel
    monkeypatch.setitem(sys.modules, "cmdstanpy", fake)
    monkeypatch.setattr(stan_engine, "_cmdstanpy_reason", lambda: None)
    monkeypatch.setenv("MULTILEVEL_STAN_BACKEND", "cmdstanpy")
    monkeypatch.setenv("MULTILEVEL_CACHE", str(tmp_path / "cache"))
    spec = _spec("y ~ x + (1 | g)", feature_data(), "gaussian", None)
    settings = SamplerSettings(
        chains=chains, draws=draws, warmup=7, seed=3_000_000_001, progress=False, target_accept=0.9
    )
    posterior = stan_engine.StanEngine().fit(spec, settings)

    (_, stan_file), (_, options) = calls
    assert (
        stan_file
        == tmp_path
        / "cache"
        / "stan"
        / stan_engine.program_hash(ml.stan_code("y ~ x + (1 | g)", feature_data()))
        / "model.stan"
    )
    assert stan_file.read_text().startswith("// generated by multilevel")
    assert options["chains"] == chains and options["iter_sampling"] == draws
    assert options["iter_warmup"] == 7 and options["adapt_delta"] == 0.9
    assert options["max_treedepth"] == 10 and options["seed"] == 3_000_000_001
    assert options["data"]["N"] == 120 and options["data"]["N_1"] == 8
    np.testing.assert_array_equal(posterior.draws["b_x"][2], [10, 11, 12, 13, 14])
    assert posterior.draws[spec.covariance[0].key].shape == (chains, draws, 8, 1)
    np.testing.assert_array_equal(posterior.sample_stats["tree_depth"][1], [1, 11, 21, 31, 41])
    assert posterior.settings["backend"] == "cmdstanpy"
    assert posterior.log_likelihood.shape == (chains, draws, 120)


def test_a_pystan_that_needs_pkg_resources_is_refused_with_the_fix(monkeypatch, tmp_path):
    """PyStan 3.10 (the newest for Python 3.11) imports pkg_resources, which setuptools 81
    removed: the engine says so before a compile, and how to mend it."""
    import importlib.util
    import types

    (tmp_path / "stan").mkdir()
    (tmp_path / "stan" / "plugins.py").write_text("import pkg_resources\n")
    (tmp_path / "httpstan").mkdir()
    real = importlib.util.find_spec
    fake = {
        "stan": types.SimpleNamespace(origin=str(tmp_path / "stan" / "__init__.py")),
        "httpstan": types.SimpleNamespace(origin=str(tmp_path / "httpstan" / "__init__.py")),
        "pkg_resources": None,
    }
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: fake[name] if name in fake else real(name)
    )
    assert "setuptools<81" in stan_engine._pystan_reason()
    fake["pkg_resources"] = types.SimpleNamespace(origin="here")
    assert stan_engine._pystan_reason() is None
