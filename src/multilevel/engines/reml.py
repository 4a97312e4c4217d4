"""REML / ML point estimates of gaussian models, as lme4 defines them.

From the cross products of ``[Z X y]`` (:mod:`multilevel.linalg.crossprod`, one pass over the
data), REML and ML minimise the profiled deviance of :mod:`multilevel.linalg.profiled` over
the relative covariance parameters :math:`\\theta` (NLopt's BOBYQA, lme4's default optimizer,
from moment estimates, :func:`moment_start`; Newton steps on finite differences if it stops
early).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import nlopt
import numpy as np

from multilevel.engines.gaussian import gaussian_support
from multilevel.engines.protocol import Support
from multilevel.errors import ConvergenceWarning, EngineError
from multilevel.linalg import blocks
from multilevel.linalg.profiled import PLS, ThetaLayout, lower_column_major, objective
from multilevel.linalg.threads import optimizer_blas_threads
from multilevel.posterior import Estimate
from multilevel.spec.statistics import cross_products_of

__all__ = ["RemlEstimator", "bobyqa", "newton_polish", "moment_start"]


class RemlEstimator:
    """lme4's REML and ML estimates of gaussian-family models with identity link."""

    name = "gaussian"
    fits_statistics = True  # reads only the cross products (data on Dask)
    methods = ("reml", "ml")

    def supports(self, spec) -> Support:
        """As the exact gaussian engine: gaussian, identity link, no ``weights()``."""
        return gaussian_support(spec)

    def estimate(self, spec, *, method: str = "reml") -> Estimate:
        """REML or ML estimates with lme4's definitions.

        Raises
        ------
        EngineError
            A model the engine does not support, or an unknown method.
        """
        if method not in self.methods:
            raise EngineError(f"method must be 'reml' or 'ml', got {method!r}")
        support = self.supports(spec)
        if not support:
            raise EngineError(f"the gaussian engine cannot fit this model: {support.reason}")
        start = time.perf_counter()
        design = spec.design
        cp = cross_products_of(spec)
        crossed = time.perf_counter() - start
        layout = ThetaLayout.of(design, cp.terms)
        reml = method == "reml"
        known = design.se is not None
        if cp.n <= cp.p + (0 if known else 0):
            raise EngineError(f"{cp.n} rows cannot estimate {cp.p} coefficients")

        pls = PLS(cp, layout)

        n, p, log_weights = cp.n, cp.p, cp.log_weights

        def deviance(theta):
            sol = pls(theta, solution=False)
            return objective(sol, n, p, reml=reml, known_sigma=known, log_weights=log_weights)

        low = layout.lower_bounds()
        with optimizer_blas_threads(pls.dense_columns):
            theta0 = moment_start(cp, layout, pls, known_sigma=known)
            result = bobyqa(deviance, theta0, low, initial_step=start_steps(layout, theta0))
            theta = result.x
            polish_evals, converged = 0, bool(result.success)
            if not converged:  # a second opinion from Newton steps
                theta, polish_evals, converged = newton_polish(deviance, theta, low)
            sol = pls(theta)
        dev = objective(sol, cp.n, cp.p, reml=reml, known_sigma=known, log_weights=cp.log_weights)
        optimised = time.perf_counter() - start - crossed
        if not converged:
            warnings.warn(
                f"the {method.upper()} optimizer did not converge ({result.message}); the "
                "estimates may be inaccurate. Check for predictors on very different scales.",
                ConvergenceWarning,
                stacklevel=3,
            )

        if known:
            sigma = 1.0
        else:
            dof = cp.n - cp.p if reml else cp.n
            sigma = float(np.sqrt(sol.r2 / dof))
        estimates, errors = {}, {}
        vcov = sigma**2 * sol.RX_inv
        for j, name in enumerate(spec.b_names):
            estimates[name] = float(sol.beta[j])
            errors[name] = float(np.sqrt(vcov[j, j]))
        group_effects = []
        for i in range(len(design.blocks)):
            factor = sigma * layout.block_factor(theta, i)
            for name, value in spec.covariance[i].named(factor @ factor.T).items():
                estimates[name], errors[name] = value, np.nan
            group_effects.append(layout.block_modes(sol.b, cp.terms, i))
        if not known:
            estimates["sigma"], errors["sigma"] = sigma, np.nan
        return Estimate(
            method=method,
            estimates=estimates,
            std_errors=errors,
            group_effects=tuple(group_effects),
            theta=theta,
            loglik=-0.5 * dev,
            vcov=vcov,
            converged=converged,
            message=str(result.message),
            evaluations=int(result.nfev) + polish_evals,
            timings={"cross_products": crossed, "optimize": optimised},
            reason=f"{method.upper()} by the exact gaussian engine: {support.reason}",
        )


@dataclass(frozen=True)
class Minimum:
    """Where :func:`bobyqa` stopped: the best point, its value, whether NLopt reports
    convergence, its message and the number of evaluations."""

    x: np.ndarray
    fun: float
    success: bool
    message: str
    nfev: int


def bobyqa(
    f,
    x0,
    lower,
    *,
    initial_step=None,
    xtol: float = 1e-10,
    ftol: float = 1e-12,
    ftol_rel: float = 1e-15,
    maxeval: int = 5000,
):
    """Minimise ``f`` from ``x0`` with bounds ``lower`` by NLopt's BOBYQA (as lme4's
    default ``nloptwrap``; ``initial_step`` None: NLopt's, as there), with tighter tolerances
    than lme4's (whose ``1e-8`` leaves sleepstudy's ML SDs 1e-3 off the optimum): it stops
    when a step changes ``x`` by less than ``xtol`` or ``f`` by less than ``ftol`` or
    ``ftol_rel`` times ``|f|``.

    Examples
    --------
    >>> m = bobyqa(lambda x: float((x[0] - 1) ** 2 + (x[1] + 2) ** 2), [0.0, 0.0],
    ...            [0.0, -np.inf])
    >>> np.round(m.x, 6).tolist(), m.success
    ([1.0, -2.0], True)
    """
    x0 = np.asarray(x0, dtype=float)
    best = {"x": x0.copy(), "fun": np.inf, "n": 0}

    def objective(x, grad):
        value = float(f(x))
        best["n"] += 1
        if value < best["fun"]:
            best["x"], best["fun"] = np.array(x, dtype=float), value
        return value

    opt = nlopt.opt(nlopt.LN_BOBYQA, x0.size)
    opt.set_min_objective(objective)
    opt.set_lower_bounds(np.asarray(lower, dtype=float))
    opt.set_xtol_abs(xtol)
    opt.set_ftol_abs(ftol)
    opt.set_ftol_rel(ftol_rel)
    opt.set_maxeval(maxeval)
    if initial_step is not None:
        opt.set_initial_step(np.asarray(initial_step, dtype=float))
    try:
        opt.optimize(x0)
        code = opt.last_optimize_result()
        success = code in (nlopt.FTOL_REACHED, nlopt.XTOL_REACHED, nlopt.SUCCESS)
        message = {nlopt.MAXEVAL_REACHED: f"{maxeval} evaluations reached"}.get(
            code, f"NLopt result code {code}"
        )
    except nlopt.RoundoffLimited:
        success, message = False, "BOBYQA stopped by roundoff"
    if not np.isfinite(best["fun"]):
        raise EngineError("the profiled deviance is not finite at the starting values")
    return Minimum(best["x"], best["fun"], success, message, best["n"])


#: BOBYQA's initial step from the moment start, relative to the diagonal entry of each row
#: of a block's factor (fewest evaluations over sleepstudy, radon, Penicillin, Pastes,
#: InstEval and y ~ x + (x | g) at 10^4 and 10^5 rows among 0.15-0.75; docs/decisions.md)
START_STEP = 0.3


def moment_start(cp, layout, pls, *, known_sigma: bool = False, floor: float = 0.05):
    """Moment estimates of :math:`\\theta` to start the optimizer from: the diagonal of each
    block's relative factor, ``tau / sigma``, off-diagonal entries 0.

    ``sigma^2`` is the residual variance with every group effect free (the PLS at a large
    :math:`\\theta`, ``r^2 / (n - p - Q)``; the least-squares residual variance where that
    leaves fewer than 10 degrees of freedom; 1 with known standard errors). Each
    block-diagonal term's levels get their own least-squares coefficients ``b_l`` on the
    residuals of the population-level least squares (``G_l^{-1} Z_l'r``, from the cross
    products; levels with a singular ``G_l`` left out), and each coefficient's between-level
    variance ``tau^2`` is DerSimonian and Laird's moment estimate from them, with weights
    ``1 / (sigma^2 (G_l^{-1})_aa)``. Entries are kept within ``[floor, 20]``; a term with
    several levels per row (``mm()``) keeps lme4's start (identity).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import design
    >>> d = design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> from multilevel.linalg.crossprod import cross_products
    >>> cp = cross_products(d)
    >>> layout = ThetaLayout.of(d, cp.terms)
    >>> np.round(moment_start(cp, layout, PLS(cp, layout)), 2).tolist()  # REML: 0.97 0.02 0.23
    [0.96, 0.0, 0.23]
    """
    theta = layout.initial()
    p = cp.p
    beta = np.linalg.lstsq(cp.XtX, cp.Xty, rcond=None)[0] if p else np.zeros(0)
    dof = cp.n - p - cp.Q
    if known_sigma:
        s2 = 1.0
    else:
        s2 = (cp.yty - beta @ cp.Xty) / max(cp.n - p, 1)
        if dof >= 10:
            try:
                sol = pls(np.where(theta != 0.0, 1e3, 0.0), solution=False)
                s2 = sol.r2 / dof
            except np.linalg.LinAlgError:
                pass
    if not np.isfinite(s2) or s2 <= 0:
        return theta
    for _, k, col, q, correlated, start in layout.blocks:
        if k not in cp.diag:
            continue
        term = cp.terms[k]
        cols = np.arange(col, col + q)
        G = blocks.entries(blocks.levels_last(cp.diag[k][:, col : col + q, col : col + q]))
        idx = term.offset + np.arange(term.levels)[:, None] * term.q + cols
        c = cp.Zty[idx] - cp.ZtX[idx] @ beta  # Z_l'r, (levels, q)
        with np.errstate(invalid="ignore", divide="ignore"):
            L = blocks.cholesky(G, np)
            ok = np.ones(term.levels, dtype=bool)
            for a in range(q):
                ok &= L[a][a] ** 2 > 1e-8 * G[a][a]  # False for nan: singular G_l
            if ok.sum() < 2:
                continue
            L = [[None if x is None else x[ok] for x in row] for row in L]
            b = blocks.upper_solve(L, blocks.lower_solve(L, list(c[ok].T)))
            tau = []
            for a in range(q):  # (G_l^{-1})_aa = |L_l^{-1} e_a|^2
                unit = [np.full(ok.sum(), float(j == a)) for j in range(q)]
                w = 1.0 / (s2 * sum(x * x for x in blocks.lower_solve(L, unit)))
                mean = np.sum(w * b[a]) / w.sum()
                excess = np.sum(w * (b[a] - mean) ** 2) - (len(w) - 1)
                tau2 = excess / (w.sum() - np.sum(w * w) / w.sum())
                tau.append(np.sqrt(max(tau2, 0.0) / s2) if np.isfinite(tau2) else 1.0)
        values = np.clip(tau, floor, 20.0)
        if correlated:
            rows, cols_ = lower_column_major(q)
            theta[start + np.flatnonzero(rows == cols_)] = values
        else:
            theta[start : start + q] = values
    return theta


def start_steps(layout, theta) -> np.ndarray:
    """BOBYQA's initial step for each entry of :math:`\\theta`: :data:`START_STEP` times the
    diagonal entry of its row of the block's factor (an off-diagonal entry moves on the scale
    of its row)."""
    steps = np.empty(layout.size)
    for _, _, _, q, correlated, start in layout.blocks:
        if correlated:
            rows, cols = lower_column_major(q)
            diagonal = theta[start + np.flatnonzero(rows == cols)]
            steps[start : start + len(rows)] = diagonal[rows]
        else:
            steps[start : start + q] = theta[start : start + q]
    return START_STEP * steps


def newton_polish(f, x, lower, *, steps: int = 6, tol: float = 1e-10):
    """Refine a minimum of a smooth ``f`` by Newton steps on central-difference derivatives.

    Coordinates at their lower bound stay there. Returns the point, the number of
    evaluations spent and whether it is a minimum: the Newton decrement ``g' H^-1 g`` of
    the free coordinates fell below ``1e-8 max(1, |f|)`` with ``H`` positive definite, or
    the last step moved less than ``tol`` (relative), or every coordinate sits at its bound
    with ``f`` rising off it. A Hessian that is not positive definite, a line search that
    finds no decrease, or ``steps`` steps without one of these: not converged.
    """
    x = np.asarray(x, dtype=float).copy()
    lower = np.asarray(lower, dtype=float)
    evals = 0
    fx = f(x)
    evals += 1
    converged = False
    for _ in range(steps):
        h = 1e-4 * np.maximum(1.0, np.abs(x))
        free = ~((x - lower <= h) & np.isfinite(lower))
        idx = np.flatnonzero(free)
        if idx.size == 0:
            rises = [f(x + np.where(np.arange(x.size) == i, h, 0.0)) >= fx for i in range(x.size)]
            evals += x.size
            converged = all(rises)
            break
        d = idx.size
        grad = np.zeros(d)
        hess = np.zeros((d, d))
        plus, minus = np.zeros(d), np.zeros(d)
        for a, i in enumerate(idx):
            e = np.zeros_like(x)
            e[i] = h[i]
            plus[a], minus[a] = f(x + e), f(x - e)
            grad[a] = (plus[a] - minus[a]) / (2 * h[i])
            hess[a, a] = (plus[a] - 2 * fx + minus[a]) / h[i] ** 2
        evals += 2 * d
        for a in range(d):
            for c in range(a + 1, d):
                i, j = idx[a], idx[c]
                e_i, e_j = np.zeros_like(x), np.zeros_like(x)
                e_i[i], e_j[j] = h[i], h[j]
                value = (
                    f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)
                ) / (4 * h[i] * h[j])
                hess[a, c] = hess[c, a] = value
                evals += 4
        try:
            chol = np.linalg.cholesky(hess)
        except np.linalg.LinAlgError:
            break
        step = np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        if grad @ step <= 1e-8 * max(1.0, abs(fx)):  # the Newton decrement: at the minimum
            converged = True
            break
        t = 1.0
        while t > 1e-4:
            trial = x.copy()
            trial[idx] = np.maximum(x[idx] - t * step, lower[idx])
            f_trial = f(trial)
            evals += 1
            if f_trial <= fx:
                break
            t /= 2
        else:
            break
        moved = np.max(np.abs(trial - x) / np.maximum(1.0, np.abs(x)))
        x, fx = trial, f_trial
        if moved < tol:
            converged = True
            break
    return x, evals, converged
