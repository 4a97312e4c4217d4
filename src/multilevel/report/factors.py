"""What a report shows about a factor model (``factors(user, item, k)``): how the variance of
the linear predictor splits between the group terms, the factors and the noise; how strongly
items (users) shrink toward their group's factors; and whether the predictive intervals cover
as often as they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from multilevel.results.predict import design_rows, linear_predictor, predict_design

__all__ = ["factor_tables", "CALIBRATION_ROWS"]

#: Rows of the training data (a seeded sample) whose predictive intervals are checked.
CALIBRATION_ROWS = 5000
_LEVELS = (0.5, 0.8, 0.9, 0.95)


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    return float(values.mean()), float(np.quantile(values, 0.05)), float(np.quantile(values, 0.95))


def variance_shares(fit) -> pd.DataFrame:
    """Per component (each group term, the factors, the residual on the latent or response
    scale), its share of their summed variances: posterior mean and 90% interval."""
    draws, spec = fit.posterior.draws, fit.spec
    parts = {}
    for block, cov in zip(spec.design.blocks, spec.covariance, strict=True):
        parts[block.source or block.name] = sum(draws[n].ravel() ** 2 for n in cov.sd_names)
    parts["factors (u · v)"] = draws["sd_factors"].ravel() ** 2
    if "sigma" in draws:
        parts["residual (sigma)"] = draws["sigma"].ravel() ** 2
    elif spec.family.name == "bernoulli":
        parts["latent residual (probit: 1)"] = np.ones_like(parts["factors (u · v)"])
    total = sum(parts.values())
    rows = {name: _interval(value / total) for name, value in parts.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["share", "q5", "q95"])


def group_shrinkage(fit) -> pd.DataFrame:
    """Per grouped side (items by artist): the share of its factors' variance the groups
    explain, with 90% interval."""
    draws, fs = fit.posterior.draws, fit.spec.factors
    rows = {}
    for name, g, _ in fs.shares:
        rows[fs.sets[g]] = _interval(draws[name].ravel())
    return pd.DataFrame.from_dict(rows, orient="index", columns=["share", "q5", "q95"])


def _loo_weights(loglik: np.ndarray) -> np.ndarray:
    """Leave-one-out importance weights ``(S, n)`` from pointwise log-likelihoods: ``1 /
    p(y | theta)``, truncated at ``sqrt(S)`` times their mean (Ionides 2008), normalised."""
    raw = np.exp(-(loglik - loglik.min(axis=0)))
    raw = np.minimum(raw, raw.mean(axis=0) * np.sqrt(raw.shape[0]))
    return raw / raw.sum(axis=0)


def calibration(fit, seed: int = 0) -> pd.DataFrame:
    """Leave-one-out calibration on a sample of the training rows: how often the central
    leave-one-out predictive intervals cover the rating (gaussian: the exact probability
    integral transform of each row under its leave-one-out predictive, a weighted mixture of
    the draws' normals), or the observed frequency of 1 against the leave-one-out
    probability (bernoulli). In-sample intervals would cover too often: a row's own rating
    pulls its fit toward it."""
    spec, design = fit.spec, fit.spec.design
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(design.n, size=min(design.n, CALIBRATION_ROWS), replace=False))
    y = np.asarray(design.y)[rows]
    sample = design_rows(design, rows)
    eta = predict_design(spec, fit.posterior, sample, kind="linear")
    if spec.family.name == "bernoulli":
        signed = np.where(y > 0.5, eta, -eta)
        p = np.sum(_loo_weights(special.log_ndtr(signed)) * special.ndtr(eta), axis=0)
        bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
        table = {
            f"{0.2 * b:.1f}-{0.2 * b + 0.2:.1f}": (
                float(p[bins == b].mean()),
                float(y[bins == b].mean()),
                int((bins == b).sum()),
            )
            for b in range(5)
            if (bins == b).any()
        }
        return pd.DataFrame.from_dict(
            table, orient="index", columns=["predicted", "observed", "rows"]
        )
    sigma = _sigma(fit, sample, eta.shape)
    z = (y - eta) / sigma
    weights = _loo_weights(-0.5 * z * z - np.log(sigma))
    pit = np.sum(weights * special.ndtr(z), axis=0)
    table = {}
    for level in _LEVELS:
        inside = float(np.mean(np.abs(pit - 0.5) <= level / 2))
        spread = 2 * np.sqrt(level * (1 - level) / rows.size)
        table[f"{level:.0%}"] = (level, inside, spread)
    return pd.DataFrame.from_dict(table, orient="index", columns=["nominal", "covered", "±2 se"])


def _sigma(fit, sample, shape) -> np.ndarray:
    """The residual SD of each draw and row: ``sigma``, or its formula's inverse link."""
    draws = fit.posterior.draws
    if "sigma" in draws:
        return np.broadcast_to(np.asarray(draws["sigma"], dtype=float).reshape(-1, 1), shape)
    eta = linear_predictor(fit.spec, draws, sample.dpars["sigma"], parameter="sigma")
    return np.exp(eta)


def factor_tables(fit, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The three tables (``"shares"``, ``"shrinkage"``, ``"calibration"``) of a factor
    model's report section; empty for a model without ``factors()``."""
    if getattr(fit.spec, "factors", None) is None:
        return {}
    return {
        "shares": variance_shares(fit),
        "shrinkage": group_shrinkage(fit),
        "calibration": calibration(fit, seed),
    }
