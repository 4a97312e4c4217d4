"""Simulators and coverage bookkeeping shared by the coverage studies.

Every study is simulation-based calibration (Talts et al. 2018) in its interval form: each
data set draws its parameters from the *same* priors the model is fitted with (passed to
``ml.fit`` explicitly), its group effects from their normal distribution, then the data from
the family. The posterior's 90% central interval then contains the truth with probability
exactly 0.9, for every parameter, whatever the data size and however much the prior matters,
if (and only if) the model, the priors and the sampler are right. Data sets are independent,
so the count of hits of one parameter over K data sets is Binomial(K, 0.9).

The truth is drawn here from the prior *strings* with scipy, independently of how the library
resolves them, so a prior that does not reach its parameter, a wrong truncation, a wrong link
or a wrong weighting of group effects all show up as miscalibration.

Shapes (rows, levels, formula, priors) are fixed within a study, so that the fits of one study
can reuse the compiled model.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

import multilevel as ml
from multilevel.spec.families import get_family

#: Nominal level of the central intervals (``q5``, ``q95`` of ``Fit.summary``).
LEVEL = 0.9
#: Family-wise false-alarm rate of one study's checks (split Bonferroni-style across them).
ALPHA = 0.001

#: Sampler settings of every coverage fit: short, but ample for 5% / 95% quantiles. NUTS is
#: asked for by name, so that the gaussian studies test the NumPyro model too (``"auto"``
#: would take the exact gaussian engine for them). The studies rely on the engine keeping its
#: compiled sampler between fits of one shape: only the first fit of a study compiles.
FIT_SETTINGS = dict(method="nuts", chains=2, draws=300, warmup=300, progress=False)

# ---------------------------------------------------------------------------------------------
# Priors (Stan strings) and draws from them
# ---------------------------------------------------------------------------------------------

#: Lower bound of each positive parameter class (Stan's ``real<lower=...>``).
_LOWER = {"sd": 0.0, "sigma": 0.0, "shape": 0.0, "phi": 0.0, "nu": 1.0}


def draw(prior: str, rng: np.random.Generator, *, lower: float | None = None) -> float:
    """One draw from a Stan-syntax prior string (``"normal(0, 1)"``), truncated below."""
    name, _, args = prior.partition("(")
    p = [float(a) for a in args.rstrip(")").split(",")]
    frozen = {
        "normal": lambda: stats.norm(p[0], p[1]),
        "lognormal": lambda: stats.lognorm(p[1], scale=np.exp(p[0])),
        "student_t": lambda: stats.t(p[0], p[1], p[2]),
        "gamma": lambda: stats.gamma(p[0], scale=1.0 / p[1]),
    }[name.strip()]()
    lo = 0.0 if lower is None else frozen.cdf(lower)
    return float(frozen.ppf(lo + (1.0 - lo) * rng.uniform()))


def _prior_draws(priors: Mapping[str, str], names: Mapping[str, str], rng) -> dict[str, float]:
    """Draw each parameter ``name -> prior class`` from ``priors[class]``."""
    out = {}
    for name, cls in names.items():
        out[name] = draw(priors[cls], rng, lower=_LOWER.get(cls.split("_")[0]))
    return out


# ---------------------------------------------------------------------------------------------
# One simulated data set
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Simulated:
    """A data set and the true value of every parameter under its brms name.

    ``classes`` maps each name to the class whose coverage it counts towards: the name itself
    for a scalar parameter, ``r_<group>`` for every group-level effect of a group.
    """

    data: pd.DataFrame
    truth: dict[str, float]
    classes: dict[str, str]


def _labels(prefix: str, codes: np.ndarray, width: int = 2) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in codes], dtype=object)


def _group_effects(
    truth: dict, classes: dict, group: str, levels, sd: float, rng, coef: str = "Intercept"
) -> np.ndarray:
    """Draw ``N(0, sd)`` effects for ``levels``, recording them as ``r_<group>[level,coef]``."""
    effects = rng.normal(0.0, sd, size=len(levels))
    for level, value in zip(levels, effects, strict=True):
        name = f"r_{group}[{level},{coef}]"
        truth[name] = float(value)
        classes[name] = f"r_{group}"
    return effects


def _respond(family: str, eta: np.ndarray, aux: Mapping[str, float], trials, rng) -> np.ndarray:
    fam = get_family(family)
    y = fam.rvs(fam.inverse_link(eta), dict(aux), trials=trials, seed=rng)
    if family == "beta":  # float64 beta draws can round to exactly 0 or 1
        y = np.clip(y, 1e-9, 1 - 1e-9)
    return y


# -- per-family study: y ~ 1 + x + (1 | g) ------------------------------------------------------

FAMILY_N, FAMILY_LEVELS = 100, 10
FAMILY_FORMULA = "y ~ 1 + x + (1 | g)"
BINOMIAL_TRIALS = 10

_COMMON = {"b": "normal(0, 0.5)", "sd": "normal(0, 0.5)"}
#: Per family, the priors the study simulates from and fits with: intercepts on the link scale
#: where data of that family are typical (counts around e, probabilities around 0.5), family
#: parameters lognormal around usual values (nu near 5, shape near 5, phi near 10).
FAMILY_PRIORS: dict[str, dict[str, str]] = {
    "gaussian": {"Intercept": "normal(0, 1)", **_COMMON, "sigma": "lognormal(-0.2, 0.3)"},
    "student_t": {
        "Intercept": "normal(0, 1)",
        **_COMMON,
        "nu": "lognormal(1.6, 0.3)",
        "sigma": "lognormal(-0.2, 0.3)",
    },
    "bernoulli": {"Intercept": "normal(0, 0.8)", **_COMMON},
    "binomial": {"Intercept": "normal(0, 0.8)", **_COMMON},
    "poisson": {"Intercept": "normal(1, 0.5)", **_COMMON},
    "negbinomial": {"Intercept": "normal(1, 0.5)", **_COMMON, "shape": "lognormal(1.6, 0.3)"},
    "gamma": {"Intercept": "normal(0, 0.5)", **_COMMON, "shape": "lognormal(1.6, 0.3)"},
    "lognormal": {"Intercept": "normal(0, 1)", **_COMMON, "sigma": "lognormal(-0.2, 0.3)"},
    "beta": {"Intercept": "normal(0, 0.5)", **_COMMON, "phi": "lognormal(2.3, 0.3)"},
}


def family_formula(family: str) -> str:
    return (
        FAMILY_FORMULA.replace("y ~", "y | trials(n) ~")
        if family == "binomial"
        else (FAMILY_FORMULA)
    )


def simulate_family(family: str, seed: int) -> Simulated:
    """``y ~ 1 + x + (1 | g)``: 100 rows, 10 levels of 10 rows, all parameters from the prior."""
    rng = np.random.default_rng(seed)
    priors = FAMILY_PRIORS[family]
    aux_names = get_family(family).aux_names
    names = {"b_Intercept": "Intercept", "b_x": "b", "sd_g__Intercept": "sd"}
    names.update({a: a for a in aux_names})
    truth = _prior_draws(priors, names, rng)
    classes = {name: name for name in truth}
    levels = _labels("g", np.arange(FAMILY_LEVELS))
    u = _group_effects(truth, classes, "g", levels, truth["sd_g__Intercept"], rng)
    g = np.repeat(np.arange(FAMILY_LEVELS), FAMILY_N // FAMILY_LEVELS)
    x = rng.normal(size=FAMILY_N)
    eta = truth["b_Intercept"] + truth["b_x"] * x + u[g]
    trials = np.full(FAMILY_N, BINOMIAL_TRIALS) if family == "binomial" else None
    y = _respond(family, eta, {a: truth[a] for a in aux_names}, trials, rng)
    data = pd.DataFrame({"y": y, "x": x, "g": levels[g]})
    if trials is not None:
        data["n"] = trials
    return Simulated(data, truth, classes)


# -- crossed: y ~ 1 + x + (1 | g1) + (1 | g2) ---------------------------------------------------

CROSSED_FORMULA = "y ~ 1 + x + (1 | g1) + (1 | g2)"
CROSSED_LEVELS = (8, 6)  # every pair twice: 96 rows
GAUSSIAN_PRIORS = {
    "Intercept": "normal(0, 1)",
    "b": "normal(0, 0.5)",
    "sd": "normal(0, 0.7)",
    "sigma": "lognormal(-0.7, 0.3)",
}


def simulate_crossed(seed: int) -> Simulated:
    """Two crossed factors (8 x 6 levels, each cell twice), gaussian."""
    rng = np.random.default_rng(seed)
    names = {
        "b_Intercept": "Intercept",
        "b_x": "b",
        "sd_g1__Intercept": "sd",
        "sd_g2__Intercept": "sd",
        "sigma": "sigma",
    }
    truth = _prior_draws(GAUSSIAN_PRIORS, names, rng)
    classes = {name: name for name in truth}
    n1, n2 = CROSSED_LEVELS
    levels1, levels2 = _labels("p", np.arange(n1)), _labels("q", np.arange(n2))
    u1 = _group_effects(truth, classes, "g1", levels1, truth["sd_g1__Intercept"], rng)
    u2 = _group_effects(truth, classes, "g2", levels2, truth["sd_g2__Intercept"], rng)
    i1 = np.tile(np.repeat(np.arange(n1), n2), 2)
    i2 = np.tile(np.arange(n2), 2 * n1)
    x = rng.normal(size=i1.size)
    eta = truth["b_Intercept"] + truth["b_x"] * x + u1[i1] + u2[i2]
    y = rng.normal(eta, truth["sigma"])
    return Simulated(
        pd.DataFrame({"y": y, "x": x, "g1": levels1[i1], "g2": levels2[i2]}), truth, classes
    )


# -- nested three levels: y ~ 1 + x + (1 | a/b/c) -----------------------------------------------

NESTED_FORMULA = "y ~ 1 + x + (1 | a/b/c)"
NESTED_SHAPE = (4, 3, 2, 4)  # 4 a, 3 b per a, 2 c per b, 4 rows per c: 96 rows


def simulate_nested(seed: int) -> Simulated:
    """``a / b / c`` with labels reused across parents (b1 of a1 is not b1 of a2), gaussian."""
    rng = np.random.default_rng(seed)
    names = {
        "b_Intercept": "Intercept",
        "b_x": "b",
        "sd_a__Intercept": "sd",
        "sd_a:b__Intercept": "sd",
        "sd_a:b:c__Intercept": "sd",
        "sigma": "sigma",
    }
    truth = _prior_draws(GAUSSIAN_PRIORS, names, rng)
    classes = {name: name for name in truth}
    na, nb, nc, reps = NESTED_SHAPE
    ia, ib, ic = (
        a.ravel() for a in np.meshgrid(np.arange(na), np.arange(nb), np.arange(nc), indexing="ij")
    )
    a_labels = np.array([f"a{i}" for i in range(na)], dtype=object)
    b_labels = np.array([f"b{i}" for i in range(nb)], dtype=object)
    c_labels = np.array([f"c{i}" for i in range(nc)], dtype=object)
    ab = a_labels[ia] + ":" + b_labels[ib]
    abc = ab + ":" + c_labels[ic]
    ua = _group_effects(truth, classes, "a", a_labels, truth["sd_a__Intercept"], rng)
    ab_levels = np.array(list(dict.fromkeys(ab)), dtype=object)
    uab = _group_effects(truth, classes, "a:b", ab_levels, truth["sd_a:b__Intercept"], rng)
    uabc = _group_effects(truth, classes, "a:b:c", abc, truth["sd_a:b:c__Intercept"], rng)
    cell = np.repeat(np.arange(abc.size), reps)  # row -> c-cell
    x = rng.normal(size=cell.size)
    eta = (
        truth["b_Intercept"]
        + truth["b_x"] * x
        + ua[ia[cell]]
        + uab[ia[cell] * nb + ib[cell]]
        + uabc[cell]
    )
    y = rng.normal(eta, truth["sigma"])
    data = pd.DataFrame(
        {"y": y, "x": x, "a": a_labels[ia[cell]], "b": b_labels[ib[cell]], "c": c_labels[ic[cell]]}
    )
    return Simulated(data, truth, classes)


# -- multiple membership: y ~ 1 + x + (1 | mm(g1, g2, weights = cbind(w1, w2))) ------------------

MM_FORMULA = "y ~ 1 + x + (1 | mm(g1, g2, weights = cbind(w1, w2)))"
MM_N, MM_LEVELS = 100, 10


def simulate_membership(seed: int) -> Simulated:
    """Each row belongs to two of 10 groups; its effect is ``w1 * u[g1] + w2 * u[g2]`` with
    weights in [0.3, 1.2] taken as given (no ``scale``)."""
    rng = np.random.default_rng(seed)
    names = {"b_Intercept": "Intercept", "b_x": "b", "sd_mmg1g2__Intercept": "sd", "sigma": "sigma"}
    truth = _prior_draws(GAUSSIAN_PRIORS, names, rng)
    classes = {name: name for name in truth}
    levels = _labels("m", np.arange(MM_LEVELS))
    u = _group_effects(truth, classes, "mmg1g2", levels, truth["sd_mmg1g2__Intercept"], rng)
    # every level appears among the first memberships, so every level is in the data
    g1 = np.resize(np.arange(MM_LEVELS), MM_N)
    g2 = (g1 + rng.integers(1, MM_LEVELS, size=MM_N)) % MM_LEVELS
    w1 = rng.uniform(0.3, 1.2, size=MM_N)
    w2 = rng.uniform(0.3, 1.2, size=MM_N)
    x = rng.normal(size=MM_N)
    eta = truth["b_Intercept"] + truth["b_x"] * x + w1 * u[g1] + w2 * u[g2]
    y = rng.normal(eta, truth["sigma"])
    data = pd.DataFrame({"y": y, "x": x, "g1": levels[g1], "g2": levels[g2], "w1": w1, "w2": w2})
    return Simulated(data, truth, classes)


# -- group-specific noise: y ~ 1 + x + (1 | g), sigma ~ 1 + (1 | g) ------------------------------

SIGMA_N, SIGMA_LEVELS = 120, 12
SIGMA_FORMULA = "y ~ 1 + x + (1 | g)"
SIGMA_DPAR_FORMULA = "sigma ~ 1 + (1 | g)"
SIGMA_PRIORS = {
    "Intercept": "normal(0, 1)",
    "b": "normal(0, 0.5)",
    "sd_g__Intercept": "normal(0, 0.7)",
    "Intercept_sigma": "normal(-0.7, 0.3)",
    "sd_g__sigma_Intercept": "normal(0, 0.4)",
}


def simulate_group_noise(seed: int) -> Simulated:
    """Gaussian with ``log sigma_i = b_sigma_Intercept + v[g_i]``, ``v ~ N(0, sd_sigma)``."""
    rng = np.random.default_rng(seed)
    names = {
        "b_Intercept": "Intercept",
        "b_x": "b",
        "sd_g__Intercept": "sd_g__Intercept",
        "b_sigma_Intercept": "Intercept_sigma",
        "sd_g__sigma_Intercept": "sd_g__sigma_Intercept",
    }
    truth = {}
    for name, cls in names.items():
        lower = 0.0 if name.startswith("sd_") else None
        truth[name] = draw(SIGMA_PRIORS[cls], rng, lower=lower)
    classes = {name: name for name in truth}
    levels = _labels("g", np.arange(SIGMA_LEVELS))
    u = _group_effects(truth, classes, "g", levels, truth["sd_g__Intercept"], rng)
    v = rng.normal(0.0, truth["sd_g__sigma_Intercept"], size=SIGMA_LEVELS)
    for level, value in zip(levels, v, strict=True):
        name = f"r_g__sigma[{level},Intercept]"
        truth[name] = float(value)
        classes[name] = "r_g__sigma"
    g = np.repeat(np.arange(SIGMA_LEVELS), SIGMA_N // SIGMA_LEVELS)
    x = rng.normal(size=SIGMA_N)
    eta = truth["b_Intercept"] + truth["b_x"] * x + u[g]
    sigma = np.exp(truth["b_sigma_Intercept"] + v[g])
    y = rng.normal(eta, sigma)
    return Simulated(pd.DataFrame({"y": y, "x": x, "g": levels[g]}), truth, classes)


# ---------------------------------------------------------------------------------------------
# Coverage bookkeeping and checks
# ---------------------------------------------------------------------------------------------


@dataclass
class Coverage:
    """Per data set and parameter class: which truths fell inside / below / above the interval."""

    name: str
    inside: dict[str, list[np.ndarray]] = field(default_factory=dict)
    below: dict[str, list[np.ndarray]] = field(default_factory=dict)  # truth < q5
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    divergent_fits: int = 0

    def add(self, sim: Simulated, summary: pd.DataFrame) -> None:
        missing = [n for n in sim.truth if n not in summary.index]
        if missing:
            raise AssertionError(
                f"{self.name}: no summary rows for {missing[:5]}; rows are "
                f"{list(summary.index[:8])}..."
            )
        by_class: dict[str, list[str]] = {}
        for name, cls in sim.classes.items():
            by_class.setdefault(cls, []).append(name)
        for cls, names in by_class.items():
            truth = np.array([sim.truth[n] for n in names])
            q5 = summary.loc[names, "q5"].to_numpy()
            q95 = summary.loc[names, "q95"].to_numpy()
            self.inside.setdefault(cls, []).append((q5 <= truth) & (truth <= q95))
            self.below.setdefault(cls, []).append(truth < q5)

    @property
    def k(self) -> int:
        return len(next(iter(self.inside.values())))

    def table(self) -> pd.DataFrame:
        """Coverage per class: data sets, values per data set, hit rate, below / above rates."""
        rows = {}
        for cls, hits in self.inside.items():
            h = np.array(hits, dtype=float)
            b = np.array(self.below[cls], dtype=float)
            rows[cls] = {
                "K": h.shape[0],
                "per_set": h.shape[1],
                "coverage": h.mean(),
                "below": b.mean(),
                "above": 1.0 - h.mean() - b.mean(),
            }
        return pd.DataFrame(rows).T

    def report(self) -> str:
        table = self.table().to_string(float_format=lambda v: f"{v:.3f}")
        seconds = np.array(self.seconds)
        return (
            f"{self.name}: {self.k} data sets, {seconds.mean():.2f} s per fit "
            f"(total {seconds.sum():.0f} s, first {seconds[0]:.1f} s, process CPU "
            f"{sum(self.cpu_seconds):.0f} s), {self.divergent_fits} fits with divergences\n{table}"
        )

    # -- checks --------------------------------------------------------------------------------

    def failures(self, alpha: float = ALPHA) -> list[str]:
        """Every check that rejects calibration at family-wise level ``alpha``.

        - each scalar parameter: its hit count over K independent data sets against
          Binomial(K, 0.9), two-sided;
        - each group's effects pooled over levels, and all scalar parameters pooled: the mean
          over data sets of the per-data-set hit fraction. Fractions of different data sets
          are independent, values within a data set are not, so its standard error is the
          larger of the observed one (across data sets) and the binomial one for K x m
          independent values; the mean is compared with 0.9 on a t scale with K - 1 degrees
          of freedom. The same test on the fraction below q5 and above q95 (each nominally
          0.05) catches a bias that a two-sided hit rate could hide.
        """
        scalar = [c for c, h in self.inside.items() if h[0].size == 1]
        pooled = [c for c, h in self.inside.items() if h[0].size > 1]
        if len(scalar) > 1:
            pooled.append("all scalar parameters")
        n_checks = len(scalar) + 3 * len(pooled)
        a = alpha / n_checks
        out = []
        for cls in scalar:
            hits = int(np.sum(self.inside[cls]))
            k = self.k
            lo = stats.binom.cdf(hits, k, LEVEL)
            hi = stats.binom.sf(hits - 1, k, LEVEL)
            if min(lo, hi) < a / 2:
                out.append(f"{cls}: {hits}/{k} intervals hold the truth (Binomial({k}, 0.9))")
        for cls in pooled:
            if cls == "all scalar parameters":
                inside = np.column_stack([np.concatenate(self.inside[c]) for c in scalar])
                below = np.column_stack([np.concatenate(self.below[c]) for c in scalar])
            else:
                inside = np.array(self.inside[cls], dtype=float)
                below = np.array(self.below[cls], dtype=float)
            above = 1.0 - inside - below
            for what, values, target in (
                ("coverage", inside, LEVEL),
                ("below q5", below, (1 - LEVEL) / 2),
                ("above q95", above, (1 - LEVEL) / 2),
            ):
                message = _pooled_failure(np.asarray(values, dtype=float), target, a)
                if message:
                    out.append(f"{cls} {what}: {message}")
        return out


def _pooled_failure(values: np.ndarray, target: float, a: float) -> str | None:
    """A t-test of the mean per-data-set fraction against ``target`` (see failures)."""
    k, m = values.shape
    fractions = values.mean(axis=1)
    se = max(fractions.std(ddof=1) / np.sqrt(k), np.sqrt(target * (1 - target) / (k * m)))
    t = (fractions.mean() - target) / se
    limit = stats.t.isf(a / 2, df=k - 1)
    if abs(t) > limit:
        return f"{fractions.mean():.3f} vs {target:.3f} (t = {t:.1f}, limit {limit:.1f})"
    return None


def run_study(
    name: str,
    simulate: Callable[[int], Simulated],
    formula: str,
    priors: Mapping[str, str],
    k: int,
    *,
    family: str = "gaussian",
    seed: int = 0,
    **fit_kwargs,
) -> Coverage:
    """Simulate ``k`` data sets (seeds ``seed``, ``seed + 1``, ...), fit each, record coverage."""
    coverage = Coverage(name)
    settings = dict(FIT_SETTINGS, **fit_kwargs)
    for i in range(k):
        sim = simulate(seed + i)
        start = time.perf_counter()
        cpu = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.ConvergenceWarning)
            result = ml.fit(
                formula, sim.data, family=family, priors=dict(priors), seed=seed + i, **settings
            )
        summary = result.summary()
        coverage.seconds.append(time.perf_counter() - start)
        coverage.cpu_seconds.append(time.process_time() - cpu)
        coverage.divergent_fits += int(np.any(result.posterior.sample_stats["diverging"]))
        coverage.add(sim, summary)
    return coverage
