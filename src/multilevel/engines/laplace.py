"""Laplace (and adaptive Gauss–Hermite) maximum-likelihood estimates of generalized linear
mixed models, as lme4's ``glmer`` defines them.

Two stages, as ``glmer``: first the relative covariance parameters :math:`\\theta` (and a
negative binomial's shape) with :math:`\\beta` found by PIRLS together with the group effects
(``nAGQ = 0``), then :math:`(\\theta, \\beta)` together, PIRLS finding the group effects only,
each stage by NLopt's BOBYQA (:func:`multilevel.engines.reml.bobyqa`). The deviance is
:func:`multilevel.linalg.pirls.laplace_deviance` (``nagq = 1``) or
:func:`~multilevel.linalg.pirls.agq_deviance`. Standard errors come, as lme4's ``vcov``, from
the finite-difference Hessian of the deviance over :math:`(\\theta, \\beta)`.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from multilevel.engines.protocol import Support
from multilevel.engines.reml import bobyqa, newton_polish
from multilevel.errors import ConvergenceWarning, EngineError
from multilevel.linalg.glm import SUPPORTED_FAMILIES, GLMRows
from multilevel.linalg.pirls import RandomDesign, agq_deviance, find_mode, laplace_deviance
from multilevel.linalg.threads import THREADED_COLUMNS, optimizer_blas_threads
from multilevel.posterior import Estimate

__all__ = ["LaplaceEstimator", "approximation_notes", "laplace_support"]

#: Rows per level below which the Laplace approximation of a binary model is known to
#: underestimate the group-level SDs (Breslow & Lin 1995; Joe 2008). Measured here: with 10
#: rows per level, bernoulli ``(1 + x | g)`` at 2 x 10^5 rows, the Laplace estimate and the
#: nested-Laplace posterior of ``sd_g__x`` are 19% below NUTS's posterior mean (six posterior
#: SDs) and ``sd_g__Intercept`` 4% below; with 20 rows per level the posteriors agree
#: (docs/benchmarks.md, "GLMMs").
FEW_BINARY_ROWS = 20


def approximation_notes(spec, nagq: int = 1) -> list[str]:
    """Where the Laplace approximation is known to be poor for this model, in words with what
    to use instead: binary responses with few rows per level of a grouping factor, where it
    underestimates that factor's SDs (adaptive Gauss-Hermite, ``nagq > 1``, fixes it for one
    scalar term).

    Examples
    --------
    >>> import numpy as np, multilevel as ml
    >>> data = {"y": [0, 1] * 30, "g": np.repeat([f"g{i}" for i in range(20)], 3)}
    >>> spec = ml.build_spec(ml.design("y ~ 1 + (1 | g)", data, family="bernoulli"),
    ...                      "bernoulli", with_priors=False)
    >>> print(approximation_notes(spec)[0])  # doctest: +NORMALIZE_WHITESPACE
    binary responses with 3.0 rows per level of g on average: the Laplace approximation
    underestimates sd_g__Intercept with so few rows per level (Breslow & Lin 1995); use
    nagq=25 (adaptive Gauss-Hermite) or method='nuts' for a posterior
    """
    design = spec.design
    family = spec.family.name
    binary = family == "bernoulli" or (
        family == "binomial"
        and design.trials is not None
        and design.trials.size  # (none on Dask)
        and float(np.mean(design.trials)) < 2
    )
    if not binary or nagq > 1:
        return []
    notes = []
    for block, covariance in zip(design.blocks, spec.covariance, strict=True):
        rows = spec.n_rows / block.n_levels
        if block.multiple_membership or rows >= FEW_BINARY_ROWS:
            continue
        scalar = len(design.blocks) == 1 and block.q == 1
        instead = "nagq=25 (adaptive Gauss-Hermite) or " if scalar else ""
        notes.append(
            f"binary responses with {rows:.1f} rows per level of {block.name} on average: the "
            f"Laplace approximation underestimates {' and '.join(covariance.sd_names)} with "
            f"so few rows per level (Breslow & Lin 1995); use {instead}method='nuts' for a "
            "posterior"
        )
    return notes


def laplace_support(spec) -> Support:
    """Binomial, bernoulli, poisson and negative binomial families with their usual links,
    group terms, no distributional formulas, ``weights()`` or ``se()``."""
    family = spec.family
    links = SUPPORTED_FAMILIES.get(family.name)
    if links is None:
        names = ", ".join(SUPPORTED_FAMILIES)
        exact = (
            " (gaussian models get exact REML / ML estimates: method='reml' or 'ml')"
            if family.name == "gaussian"
            else " (method='nuts' fits it)"
        )
        return Support(False, f"the {family.name} family is not one of {names}{exact}")
    if family.link not in links:
        return Support(
            False, f"the {family.link} link of {family.name} is not one of {', '.join(links)}"
        )
    design = spec.design
    if design.dpars:
        return Support(False, "distributional formulas are not supported")
    if design.weights is not None or design.se is not None:
        return Support(False, "weights() and se() are not supported")
    if not design.blocks:
        return Support(False, "the model has no group-level terms")
    return Support(True, f"{family.name} with {family.link} link")


class LaplaceEstimator:
    """lme4's ``glmer`` estimates (``nAGQ = 1``: Laplace; ``nagq > 1``: adaptive
    Gauss–Hermite for one scalar grouping factor)."""

    name = "laplace"
    methods = ("laplace",)
    fits_statistics = True  # PIRLS passes over a Dask frame's partitions (data on Dask)

    def supports(self, spec) -> Support:
        return laplace_support(spec)

    def estimate(self, spec, *, method: str = "laplace", nagq: int = 1) -> Estimate:
        """Maximum-likelihood estimates with lme4's definitions.

        Raises
        ------
        EngineError
            A model the engine does not support, ``nagq > 1`` with more than one scalar
            grouping factor, or PIRLS failing.
        """
        if method not in self.methods:
            raise EngineError(f"method must be 'laplace', got {method!r}")
        support = self.supports(spec)
        if not support:
            raise EngineError(f"the laplace engine cannot fit this model: {support.reason}")
        nagq = _check_nagq(nagq, spec)
        start = time.perf_counter()
        if spec.statistics is not None:  # rows on Dask: PIRLS passes over the partitions
            from multilevel.distributed.laplace import DaskLaplaceProblem

            problem = DaskLaplaceProblem(spec, nagq)
        else:
            problem = _Problem(spec, nagq)
        # one BLAS thread even for small factors: PIRLS factors thousands of them, and
        # OpenBLAS's threads waking on a busy machine made 0.2 ms factors take 0.1 s
        with optimizer_blas_threads(max(problem.dense_columns, THREADED_COLUMNS)):
            stage1 = problem.first_stage()
            first = time.perf_counter() - start
            result = problem.second_stage(stage1)
            second = time.perf_counter() - start - first
            timings = {"stage1": first, "stage2": second}
            estimate = problem.result(result, support.reason, timings)
        if not estimate.converged:
            warnings.warn(
                f"the Laplace optimizer did not converge ({estimate.message}); the estimates "
                "may be inaccurate. Check for predictors on very different scales.",
                ConvergenceWarning,
                stacklevel=3,
            )
        for note in approximation_notes(spec, nagq):
            warnings.warn(note, ConvergenceWarning, stacklevel=3)
        return estimate


def _check_nagq(nagq, spec) -> int:
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or not 1 <= nagq <= 100:
        raise EngineError(f"nagq must be an integer from 1 to 100, got {nagq!r}")
    blocks = spec.design.blocks
    if nagq > 1 and (len(blocks) != 1 or blocks[0].q != 1 or blocks[0].multiple_membership):
        raise EngineError(
            f"nagq={nagq} (adaptive Gauss-Hermite quadrature) needs a single scalar grouping "
            "term such as (1 | g), as in lme4; use nagq=1 (the Laplace approximation)"
        )
    return int(nagq)


class _Problem:
    """A model's data, its parameter vectors and deviance functions."""

    def __init__(self, spec, nagq: int):
        self.spec = spec
        design = spec.design
        self.rd = rd = RandomDesign(design)
        self.layout = rd.layout
        # every per-row array in the order the random design keeps its rows
        self.X = rd.rows(np.asarray(design.X, dtype=float))
        self.offset = rd.rows(np.asarray(design.offset, dtype=float))
        self.p = self.X.shape[1]
        if rd.first is not None:
            rd.share_columns(self.X)
        self.nb = spec.family.name == "negbinomial"
        shape = 1.0 if self.nb else None
        self.glm = GLMRows.of(spec.family, rd.rows(design.y), rd.rows(design.trials), shape)
        self.nagq = nagq
        level = np.asarray(design.blocks[0].index[:, 0], dtype=np.int64)
        self.level = rd.rows(level) if nagq > 1 else None
        self.u = np.zeros(self.rd.Q)  # warm start of PIRLS, updated by every evaluation
        self.beta = _glm_start(self.X, self.offset, self.glm)
        self.evaluations = 0
        #: columns of the largest dense matrix factored per PIRLS step
        rest = len(self.rd.rest) if self.rd.first is not None else self.rd.Q
        self.dense_columns = rest + self.p

    def _glm_at(self, log_shape):
        return self.glm.with_shape(float(np.exp(log_shape))) if self.nb else self.glm

    def mode(self, theta, beta, log_shape, *, free_beta: bool):
        ZL = self.rd.at(theta)
        mode = find_mode(
            ZL, self.X, self.offset, self._glm_at(log_shape), self.u, beta, free_beta=free_beta
        )
        self.u = mode.u
        if free_beta:
            self.beta = mode.beta
        self.evaluations += 1
        return mode, ZL

    def deviance(self, mode, ZL, log_shape) -> float:
        if self.nagq == 1:
            return laplace_deviance(mode)
        return agq_deviance(mode, ZL, self._glm_at(log_shape), self.level, self.nagq)

    # -- stage 1: theta (and the shape), beta by PIRLS ------------------------------------

    def first_stage(self):
        size = self.layout.size
        low = np.concatenate([self.layout.lower_bounds(), [-np.inf] * self.nb])
        x0 = np.concatenate([self.layout.initial(), [0.0] * self.nb])

        def objective(x):
            log_shape = x[size] if self.nb else None
            try:
                mode, ZL = self.mode(x[:size], self.beta, log_shape, free_beta=True)
            except EngineError:
                return np.inf
            return laplace_deviance(mode)

        # a start for stage two: 1e-10 of the deviance is far below what moves the estimates
        result = bobyqa(objective, x0, low, xtol=1e-6, ftol=1e-8, ftol_rel=1e-10)
        theta = result.x[:size]
        log_shape = result.x[size] if self.nb else None
        mode, _ = self.mode(theta, self.beta, log_shape, free_beta=True)
        return theta, mode.beta, log_shape, mode.beta_covariance

    # -- stage 2: theta and beta together -------------------------------------------------

    def second_stage(self, stage1):
        theta0, beta0, log_shape0, covariance = stage1
        p = self.p
        scale = np.sqrt(np.diag(covariance)) if covariance is not None else np.ones(p)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.scale, self.beta0 = scale, beta0

        low = np.concatenate([self.layout.lower_bounds(), [-np.inf] * (p + self.nb)])
        x0 = np.concatenate([theta0, np.zeros(p), [log_shape0] * self.nb])

        def objective(x):
            return self.full_deviance(x)

        steps = np.concatenate(
            [np.maximum(0.02 * np.abs(theta0), 0.005), np.full(p, 0.05), [0.1] * self.nb]
        )
        result = bobyqa(objective, x0, low, initial_step=steps, xtol=1e-8)
        x, converged, evaluations = result.x, bool(result.success), result.nfev
        if not converged:
            x, more, converged = newton_polish(objective, x, low)
            evaluations += more
        return x, converged, result.message, evaluations

    def unpack(self, x):
        size, p = self.layout.size, self.p
        theta = x[:size]
        beta = self.beta0 + self.scale * x[size : size + p]
        log_shape = x[size + p] if self.nb else None
        return theta, beta, log_shape

    def full_deviance(self, x) -> float:
        theta, beta, log_shape = self.unpack(x)
        try:
            mode, ZL = self.mode(theta, beta, log_shape, free_beta=False)
        except EngineError:
            return np.inf
        return self.deviance(mode, ZL, log_shape)

    # -- estimates --------------------------------------------------------------------------

    def result(self, stage2, reason: str, timings: dict) -> Estimate:
        x, converged, message, evaluations = stage2
        theta, beta, log_shape = self.unpack(x)
        mode, ZL = self.mode(theta, beta, log_shape, free_beta=False)
        deviance = self.deviance(mode, ZL, log_shape)
        vcov = self.beta_covariance(x)
        spec, design = self.spec, self.spec.design
        estimates, errors = {}, {}
        for j, name in enumerate(spec.b_names):
            estimates[name] = float(beta[j])
            errors[name] = float(np.sqrt(vcov[j, j])) if np.isfinite(vcov[j, j]) else np.nan
        b = self.rd.lam(theta) @ mode.u
        group_effects = []
        terms = self.rd.terms
        for i, _ in enumerate(design.blocks):
            factor = self.layout.block_factor(theta, i)
            for name, value in spec.covariance[i].named(factor @ factor.T).items():
                estimates[name], errors[name] = value, np.nan
            group_effects.append(self.layout.block_modes(b, terms, i))
        if self.nb:
            estimates["shape"], errors["shape"] = float(np.exp(log_shape)), np.nan
        label = "Laplace" if self.nagq == 1 else f"adaptive Gauss-Hermite, {self.nagq} nodes"
        return Estimate(
            method="laplace",
            estimates=estimates,
            std_errors=errors,
            group_effects=tuple(group_effects),
            theta=np.asarray(theta, dtype=float),
            loglik=-0.5 * deviance,
            vcov=vcov,
            converged=converged,
            message=str(message),
            evaluations=int(self.evaluations),
            timings=timings,
            reason=f"{label} by the laplace engine: {reason}",
        )

    def beta_covariance(self, x) -> np.ndarray:
        """lme4's ``vcov``: the population block of twice the inverse Hessian of the deviance
        over ``(theta, beta)`` (central differences; ``theta`` entries at their bound of 0
        held there), the shape of a negative binomial held at its estimate."""
        size, p = self.layout.size, self.p
        low = self.layout.lower_bounds()
        free_theta = [i for i in range(size) if not (np.isfinite(low[i]) and x[i] <= 1e-6)]
        idx = np.array(free_theta + list(range(size, size + p)), dtype=int)
        h = np.where(idx < size, 1e-3 * np.maximum(1.0, np.abs(x[idx])), 1e-3)
        hessian = _hessian(self.full_deviance, x, idx, h)
        try:
            inverse = np.linalg.inv(hessian)
        except np.linalg.LinAlgError:
            return np.full((p, p), np.nan)
        k = len(free_theta)
        block = 2.0 * inverse[k:, k:]  # in units of scale: beta = beta0 + scale * z
        block = 0.5 * (block + block.T)
        return block * np.outer(self.scale, self.scale)


def _hessian(f, x, idx, h) -> np.ndarray:
    """Central-difference Hessian of ``f`` over the coordinates ``idx`` of ``x``."""
    d = len(idx)
    f0 = f(x)
    out = np.zeros((d, d))

    def at(*moves):
        y = np.array(x, dtype=float)
        for i, step in moves:
            y[idx[i]] += step
        return f(y)

    plus = [at((i, h[i])) for i in range(d)]
    minus = [at((i, -h[i])) for i in range(d)]
    for i in range(d):
        out[i, i] = (plus[i] - 2.0 * f0 + minus[i]) / h[i] ** 2
        for j in range(i + 1, d):
            value = (
                at((i, h[i]), (j, h[j]))
                - at((i, h[i]), (j, -h[j]))
                - at((i, -h[i]), (j, h[j]))
                + at((i, -h[i]), (j, -h[j]))
            ) / (4.0 * h[i] * h[j])
            out[i, j] = out[j, i] = value
    return out


def _glm_start(X, offset, glm) -> np.ndarray:
    """Population coefficients of the GLM without group effects (a few Fisher-scoring
    steps), where PIRLS starts."""
    p = X.shape[1]
    beta = np.zeros(p)
    if not p:
        return beta
    for _ in range(25):
        eta = offset + X @ beta
        score, w = glm.score_and_weight(eta)
        info = X.T @ (w[:, None] * X)
        try:
            step = np.linalg.solve(info, X.T @ score)
        except np.linalg.LinAlgError:
            return np.zeros(p)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta if np.all(np.isfinite(beta)) else np.zeros(p)
