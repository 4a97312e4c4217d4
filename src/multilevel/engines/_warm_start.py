r"""Where NUTS starts, and how it parameterises each block's group effects, from a point
estimate (lme4's: the Laplace engine for GLMMs, REML for gaussian models).

Parameterisation
----------------
Given its block's SD, a level's effect :math:`r_{jk}` has the prior :math:`N(0, sd_k^2)`; the
data add the information :math:`I_{jk}` (the Gaussian approximation of the likelihood at the
estimate, jointly with every other block and coefficient, so that confounded effects keep the
uncertainty the confounding leaves them) about an estimate :math:`\hat s_{jk}`. Given the SD
the effect is then about :math:`N(a, \sigma^2)` with :math:`\sigma^{-2} = I + sd^{-2}`,
:math:`a = I \hat s \sigma^2`, and NUTS samples :math:`u = (r - a) / \sigma`
(:func:`~._numpyro_model._scaled_effects`): nearly standard normal whatever the SD, so
neither funnel forms -- the one a centred parameterisation has where the prior pins the
effects (small SDs), nor the one a non-centred one has where the data do (a factor with 4
levels of 2,500 rows each). It is non-centred where :math:`I = 0` and centred, shifted
and scaled where :math:`I` dominates; a fixed partial centring (Papaspiliopoulos, Roberts &
Sköld 2007; Gorinova, Moore & Hoffman 2020) interpolates between the two with one weight per
level, and left 3-47 divergences per 4,000 draws on the poll model of
``benchmarks/funnel_reference.py`` where this leaves none.

A block whose levels are equally informed (data's shares of precision within
:data:`BALANCED`) is sampled as its mean, non-centred, and its Helmert contrasts, and its mean
is moved into the population coefficient of the same covariate (a shear): the intercept and
the means of several factors' effects are otherwise only jointly identified, a ridge that a
diagonal mass matrix cannot follow and whose width changes with the SDs.

Start
-----
Chains start at the estimate mapped to the sampler's coordinates, each coordinate moved by a
uniform draw of twice its approximate posterior SD (so chains still start apart, for R-hat):
NUTS's warmup then spends its iterations adapting rather than travelling.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["WarmStart", "warm_start"]

_SD_FLOOR = 0.05  # SDs estimated below this (times the response's unit) start here
#: joint precision matrices up to this many columns are inverted for the effects' variances
JOINT_COLUMNS = 3000
#: a block whose levels' data's shares of precision differ by at most this is sampled as
#: mean and contrasts
BALANCED = 0.2


@dataclass(frozen=True)
class WarmStart:
    """What a point estimate tells NUTS.

    Attributes
    ----------
    information, estimates : dict
        Site of a block (``"block0"``) -> ``(rows, q)`` the data's information about its
        effects (of their Helmert contrasts when rotated) and their estimates from the data
        alone, under the Gaussian approximation at the point estimate.
    start : dict
        Site -> constrained starting value (``Intercept_c``, ``b_*``, SDs, ``L_*``, ``r_*``,
        family parameters).
    spread : dict
        Site -> approximate posterior SD of the start, on the constrained scale of ``b_*``
        and ``Intercept_c``, on the sampler's scale of the group effects' sites.
    source : str
        The estimate it came from, e.g. ``"laplace"``.
    rotate : frozenset
        Sites of the blocks to sample as mean and contrasts (levels whose data's share of
        precision is within :data:`BALANCED` of each other).
    """

    information: dict
    estimates: dict
    start: dict
    spread: dict = field(default_factory=dict)
    source: str = ""
    rotate: frozenset = frozenset()

    def describe(self, spec) -> dict:
        """Block label (``"(1 | g)"``) -> its parameterisation in words: how much of its
        effects' precision the data supply at the estimate (0: the prior's, sampled
        non-centred; 1: the data's, sampled centred on their estimates)."""
        out = {}
        for block, cov in zip(spec.design.blocks, spec.covariance, strict=True):
            site = f"block{cov.index}"
            sd = np.array([self.start[name] for name in cov.sd_names])
            info = np.asarray(self.information[site])
            share = float(np.mean(info * sd**2 / (1.0 + info * sd**2)))
            words = f"given the data's information (its share of their precision {share:.2f})"
            if not np.any(info > 0):
                words = "non-centred"
            if site in self.rotate:
                words = f"mean non-centred, contrasts {words}"
            out[block.source or block.name] = words
        return out


def point_estimate(spec):
    """lme4's estimate of ``spec`` from the Laplace or REML engine, or None where neither
    fits the model (distributional formulas, weights) or the fit fails."""
    from multilevel.engines.laplace import LaplaceEstimator
    from multilevel.engines.reml import RemlEstimator

    for estimator, method in ((LaplaceEstimator(), "laplace"), (RemlEstimator(), "reml")):
        if not estimator.supports(spec):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a rough estimate serves; its notes are not ours
            try:
                return estimator.estimate(spec, method=method)
            except Exception:  # noqa: BLE001 - any failure: NUTS starts as Stan does
                return None
    return None


def warm_start(spec) -> WarmStart | None:
    """The data's information about the effects, which blocks to rotate, and starting values
    for the NUTS model of ``spec`` (None when no point estimate can be had: NUTS then starts
    as Stan does, non-centred)."""
    if spec.dpars or not spec.design.blocks:
        return None
    estimate = point_estimate(spec)
    if estimate is None or not np.all(np.isfinite(list(estimate.estimates.values()))):
        return None
    design = spec.design
    est = estimate.estimates
    unit = float(est.get("sigma", 1.0))
    beta = np.array([est[name] for name in spec.b_names])
    eta = np.asarray(design.offset, dtype=float) + np.asarray(design.X, dtype=float) @ beta
    for block, r in zip(design.blocks, estimate.group_effects, strict=True):
        eta = eta + _block_term(block, np.asarray(r, dtype=float))
    weight = _fisher_weights(spec, eta, est)

    information, estimates, start, spread = {}, {}, {}, {}
    sds = [np.maximum([est[n] for n in cov.sd_names], _SD_FLOOR * unit) for cov in spec.covariance]
    covariances = _posterior_covariances(spec, weight, sds, est)
    rotate = set()
    for block, cov, r, sd, covariance in zip(
        design.blocks, spec.covariance, estimate.group_effects, sds, covariances, strict=True
    ):
        site = f"block{cov.index}"
        r = np.asarray(r, dtype=float)
        variance = 1.0 / (_information(block, weight) + sd**-2.0)  # the data's alone
        share = 1.0 - variance / sd**2  # of the levels' precision that the data supply
        rotated = bool(
            np.all(np.ptp(share, axis=0) <= BALANCED)
            and block.index.shape[1] == 1  # as the model rotates (_numpyro_model._blocks)
            and block.n_levels > 1
            and np.all(np.asarray(block.weights) == 1.0)
        )
        modes = r
        if rotated:
            from multilevel.engines._numpyro_model import helmert_transpose

            rotate.add(site)
            modes = helmert_transpose(r)
        if covariance is not None:
            variance = _variances(covariance, block, rotated=rotated)
        elif rotated:
            variance = np.broadcast_to(variance.mean(axis=0), modes.shape)
        info = np.maximum(1.0 / variance - sd**-2.0, 0.0)
        # a correlated block stays non-centred (see _numpyro_model._correlated_effects)
        informed = (info > 1e-8 * sd**-2.0) & (not cov.correlated)
        information[site] = np.where(informed, info, 0.0)
        estimates[site] = np.where(
            informed, modes * (info + sd**-2.0) / np.where(informed, info, 1.0), 0.0
        )
        for name, value in zip(cov.sd_names, sd, strict=True):
            start[name] = float(value)
        start[f"r_{site}"] = r
        start[f"L_{site}"] = _cholesky_start(cov, est) if cov.correlated else None
    start = {k: v for k, v in start.items() if v is not None}
    for name, se in zip(spec.b_names, _b_errors(spec, estimate), strict=True):
        start[name] = est[name]
        spread[name] = se
    for name in spec.aux_names:
        if name in est:
            start[name] = est[name]
    return WarmStart(information, estimates, start, spread, estimate.method, frozenset(rotate))


def _variances(covariance: np.ndarray, block, *, rotated: bool) -> np.ndarray:
    """``(levels, q)`` posterior variances of a block's effects from their joint covariance
    (levels-major), or ``(levels - 1, q)`` of its Helmert contrasts when rotated."""
    L, q = block.n_levels, block.q
    if not rotated:
        return np.diag(covariance).reshape(L, q)
    from multilevel.engines._numpyro_model import helmert_transpose

    out = np.empty((L - 1, q))
    for k in range(q):
        C = covariance[k::q, k::q]
        out[:, k] = np.diag(helmert_transpose(helmert_transpose(C).T))
    return out


def _posterior_covariances(spec, weight: np.ndarray, sds, est: dict) -> list:
    """Per block, the covariance matrix of its effects (levels-major) under the Gaussian
    approximation of their posterior at the estimate, jointly with the population
    coefficients (effects confounded with other blocks' or with a coefficient get the
    variance the confounding leaves them), or Nones when the joint precision matrix has more
    than :data:`JOINT_COLUMNS` columns."""
    import scipy.sparse as sp

    design = spec.design
    sizes = [b.n_levels * b.q for b in design.blocks]
    if sum(sizes) + design.X.shape[1] > JOINT_COLUMNS:
        return [None] * len(sizes)
    from multilevel.spec.covariance import correlation_matrix

    columns, prior = [], []
    for block, cov, sd in zip(design.blocks, spec.covariance, sds, strict=True):
        n, q = block.Z.shape
        Z = sp.csr_matrix((n, block.n_levels * q))
        for k in range(block.index.shape[1]):
            rows = np.repeat(np.arange(n), q)
            cols = (block.index[:, k][:, None] * q + np.arange(q)).ravel()
            values = (np.asarray(block.weights)[:, k][:, None] * block.Z).ravel()
            Z = Z + sp.csr_matrix((values, (rows, cols)), shape=Z.shape)
        columns.append(Z)
        cor = correlation_matrix(np.array([est[c] for c in cov.cor_names]), cov.q)
        cov_matrix = sd[:, None] * (cor if cov.correlated else np.eye(cov.q)) * sd[None, :]
        prior.append(sp.kron(sp.eye(block.n_levels), np.linalg.inv(cov_matrix)))
    A = sp.hstack([*columns, sp.csr_matrix(np.asarray(design.X, dtype=float))]).tocsr()
    precision = (A.T @ sp.diags(weight) @ A).toarray()
    Q = sum(sizes)
    precision[:Q, :Q] += sp.block_diag(prior).toarray()
    try:
        covariance = np.linalg.inv(precision)
    except np.linalg.LinAlgError:
        return [None] * len(sizes)
    out, at = [], 0
    for size in sizes:
        out.append(covariance[at : at + size, at : at + size])
        at += size
    return out


def _block_term(block, r: np.ndarray) -> np.ndarray:
    """The block's contribution to the linear predictor at effects ``r`` ``(levels, q)``."""
    Z = np.asarray(block.Z, dtype=float)
    term = np.zeros(Z.shape[0])
    for k in range(block.index.shape[1]):
        term += np.asarray(block.weights)[:, k] * np.sum(Z * r[block.index[:, k]], axis=1)
    return term


def _information(block, weight: np.ndarray) -> np.ndarray:
    """``(levels, q)`` Fisher information of each level's coefficients (the diagonal)."""
    Z = np.asarray(block.Z, dtype=float)
    info = np.zeros((block.n_levels, block.q))
    for k in range(block.index.shape[1]):
        m = np.asarray(block.weights)[:, k]
        np.add.at(info, block.index[:, k], weight[:, None] * (Z * m[:, None]) ** 2)
    return info


def _fisher_weights(spec, eta: np.ndarray, est: dict) -> np.ndarray:
    """Each row's Fisher information about its linear predictor at the estimate."""
    design = spec.design
    if spec.family.name == "gaussian":
        sigma = np.asarray(design.se, float) if design.se is not None else est["sigma"]
        return np.broadcast_to(1.0 / np.square(sigma), eta.shape).astype(float)
    from multilevel.linalg.glm import GLMRows

    shape = est.get("shape") if spec.family.name == "negbinomial" else None
    rows = GLMRows.of(spec.family, np.asarray(design.y, float), design.trials, shape)
    return rows.score_and_weight(eta)[1]


def _b_errors(spec, estimate) -> list[float]:
    ses = [estimate.std_errors.get(name, np.nan) for name in spec.b_names]
    return [float(s) if np.isfinite(s) and s > 0 else 1.0 for s in ses]


def _cholesky_start(cov, est: dict):
    """Cholesky factor of the estimated correlation matrix (identity if not positive
    definite)."""
    from multilevel.spec.covariance import correlation_matrix

    cor = np.clip([est[name] for name in cov.cor_names], -0.9, 0.9)
    try:
        return np.linalg.cholesky(correlation_matrix(np.asarray(cor), cov.q))
    except np.linalg.LinAlgError:
        return np.eye(cov.q)
