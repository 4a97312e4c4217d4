"""Deterministic quadrature for the hyperparameter posterior on an adaptive grid.

The hyperparameters are mapped to an unconstrained space z (log for positive ones). We find
the posterior mode, lay a first grid standardised by the Laplace approximation there, and
use its mean and covariance to standardise the final grid: z = centre + L u with L the lower
Cholesky factor and u on a product grid, so the first coordinate of z is constant along grid
lines (chains put their costly hyperparameter first: it then takes few distinct values). The
grid is widened until the log density on its faces is ``EDGE_DROP`` below the maximum and
halved in step until the posterior mean and SD of every coordinate stop moving. On a smooth
integrand this trapezoid (lattice) rule converges geometrically fast.

Marginal quantiles need the marginal density of each coordinate: for coordinate j we lay a
second grid whose Cholesky factor puts j first, so summing along its lines integrates the
other coordinates exactly as above; the CDF comes from a spline of the log marginal density.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize
from scipy.interpolate import CubicSpline

from multilevel.errors import DataWarning, EngineError

__all__ = [
    "HyperPosterior",
    "MarginalGrid",
    "find_mode",
    "grid_posterior",
    "point_posterior",
    "hyper_draws",
]

EDGE_DROP = 16.0  # log-density drop required at the grid's edges (e^-16 ~ 1e-7)
START_HALF_WIDTH = 5.0
START_STEP = 1.0
MIN_STEP = 1.0 / 16
MOMENT_TOL = 1e-3  # change in mean / SD (in units of the SD) that stops refinement
MAX_POINTS = 400_000


@dataclass(frozen=True)
class MarginalGrid:
    """A grid whose lines run along one coordinate: ``line`` indexes the value ``at``."""

    z: np.ndarray  # (M, d) points
    line: np.ndarray  # (M,) index into ``at``
    at: np.ndarray  # (L,) regularly spaced values of the coordinate
    log_density: np.ndarray  # (M,)

    def reweighted(self, log_factor: np.ndarray) -> MarginalGrid:
        return replace(self, log_density=self.log_density + log_factor)

    def quantiles(self, probs) -> np.ndarray:
        """Quantiles of the coordinate from its marginal density (spline of the log)."""
        logp = self.log_density
        top = logp[np.isfinite(logp)].max()
        dens = np.bincount(self.line, weights=np.exp(logp - top), minlength=len(self.at))
        keep = dens > 0
        at, log_dens = self.at[keep], np.log(dens[keep])
        spline = CubicSpline(at, log_dens)
        fine = np.linspace(at[0], at[-1], 40 * len(at))
        pdf = np.exp(spline(fine) - log_dens.max())
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(fine))])
        return np.interp(np.asarray(probs) * cdf[-1], cdf, fine)


@dataclass(frozen=True)
class HyperPosterior:
    """The hyperparameter posterior as weighted points.

    ``points`` are hyperparameter values (K, d) in the chain's grid order and ``weights``
    sum to one. For ``kind="bayes"`` the points form a grid (``z`` unconstrained, ``u``
    standardised, ``transform`` = L, ``cell`` the step in u) with one marginal grid per
    coordinate; for ``"eb"`` and ``"fixed"`` there is one point.
    """

    kind: str
    points: np.ndarray
    weights: np.ndarray
    positive: tuple[bool, ...] = ()
    log_density: np.ndarray | None = None  # unnormalised log posterior in z space
    z: np.ndarray | None = None
    u: np.ndarray | None = None
    transform: np.ndarray | None = None
    cell: float | None = None
    log_evidence: float | None = None
    marginals: tuple[MarginalGrid, ...] = ()
    covariance: np.ndarray | None = None  # EB: inverse observed information in z space
    boundary: tuple[str, ...] = ()

    def reweighted(self, log_factor_of) -> HyperPosterior:
        """This posterior times exp(log_factor_of(theta)), renormalised (exact on the grid).

        ``log_factor_of`` maps hyperparameter values (K, d) to (K,) log factors, e.g. minus
        one group's log marginal likelihood for leaving the group out.
        """
        logw = np.log(np.maximum(self.weights, 1e-300)) + log_factor_of(self.points)
        logw = np.where(self.weights > 0, logw, -np.inf)
        w = np.exp(logw - np.max(logw))
        positive = np.asarray(self.positive)
        marginals = tuple(
            m.reweighted(log_factor_of(to_theta(m.z, positive))) for m in self.marginals
        )
        return replace(
            self, weights=w / w.sum(), log_density=None, log_evidence=None, marginals=marginals
        )

    def edge_points(self) -> np.ndarray:
        """Mask of the points on the grid's outer layer (none for a one-point posterior)."""
        edge = np.zeros(len(self.weights), bool)
        if self.u is not None:
            for j in range(self.u.shape[1]):
                edge |= np.isclose(self.u[:, j], self.u[:, j].min())
                edge |= np.isclose(self.u[:, j], self.u[:, j].max())
        return edge

    def coarsened(self) -> HyperPosterior | None:
        """The sub-lattice of every other grid point along each axis (step doubled), with
        weights renormalised: the same trapezoid rule at twice the step. None if the grid
        is too small to coarsen."""
        if self.u is None or len(self.weights) < 4 ** self.u.shape[1]:
            return None
        index = np.round(self.u / self.cell).astype(np.int64)
        keep = np.all(index % 2 == 0, axis=1)
        w = self.weights[keep]
        if w.sum() <= 0:
            return None
        return replace(
            self,
            points=self.points[keep],
            weights=w / w.sum(),
            z=self.z[keep],
            u=self.u[keep],
            cell=2 * self.cell,
            log_density=None,
            log_evidence=None,
        )

    def pruned(self, mass: float = 1e-10) -> HyperPosterior:
        """Without the lightest points whose weights sum to at most ``mass``."""
        order = np.argsort(self.weights)
        light = np.cumsum(self.weights[order]) <= mass
        keep = np.ones(len(self.weights), bool)
        keep[order[light]] = False
        w = self.weights[keep]
        subset = {
            k: getattr(self, k)[keep]
            for k in ("log_density", "z", "u")
            if getattr(self, k) is not None
        }
        return replace(self, points=self.points[keep], weights=w / w.sum(), **subset)

    def quantiles(self, j: int, probs) -> np.ndarray:
        """Marginal quantiles of hyperparameter j (grid posteriors only)."""
        q = self.marginals[j].quantiles(probs)
        return np.exp(q) if self.positive[j] else q


def to_z(theta, positive):
    """Unconstrained coordinates: log of positive hyperparameters."""
    theta = np.asarray(theta, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positive, np.log(np.where(positive, theta, 1.0)), theta)


def to_theta(z, positive):
    """Inverse of :func:`to_z`."""
    return np.where(positive, np.exp(np.clip(z, -700, 700)), z)


def hessian(f, x, step=1e-3):
    """Central-difference Hessian of a scalar function."""
    d = len(x)
    h = np.zeros((d, d))
    f0 = f(x)
    for i in range(d):
        for j in range(i, d):
            ei, ej = np.eye(d)[i] * step, np.eye(d)[j] * step
            if i == j:
                h[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / step**2
            else:
                h[i, j] = h[j, i] = (
                    f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
                ) / (4 * step**2)
    return h


def find_mode(log_density, z0, *, bound=30.0, polish=True):
    """Maximise the scalar ``log_density(z)`` from ``z0`` within ``z0 +- bound``.

    L-BFGS-B finds the basin; with ``polish``, Newton steps with finite-difference
    derivatives then refine the maximum to near machine precision (it is the answer for
    empirical Bayes; a grid posterior only needs the basin).
    """

    def negative(z):
        value = log_density(z)
        return 1e300 if not np.isfinite(value) else -value

    bounds = [(z - bound, z + bound) for z in z0]
    best = None
    for start in (z0, z0 + 0.5, z0 - 0.5):
        res = optimize.minimize(
            negative,
            start,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-10},
        )
        if best is None or res.fun < best.fun:
            best = res
        if best.fun < 1e299:
            break
    if best.fun >= 1e299:
        raise EngineError("could not find a hyperparameter value with finite posterior density")
    x, value = best.x, -best.fun
    for _ in range(8 if polish else 0):
        x, improved = _newton_step(log_density, x, value)
        if improved is None:
            break
        value = improved
    return x, value


def _newton_step(f, x, value, step=1e-4):
    """One Newton step on f at x, kept only if it increases f."""
    d = len(x)
    eye = np.eye(d) * step
    grad = np.array([(f(x + eye[i]) - f(x - eye[i])) / (2 * step) for i in range(d)])
    h = hessian(f, x, step=1e-3)
    if not np.all(np.isfinite(grad)) or not np.all(np.isfinite(h)):
        return x, None
    try:
        move = -np.linalg.solve(h, grad)
    except np.linalg.LinAlgError:
        return x, None
    if np.any(np.linalg.eigvalsh((h + h.T) / 2) >= 0) or not np.all(np.isfinite(move)):
        return x, None
    candidate = x + move
    new = f(candidate)
    if np.isfinite(new) and new > value + 1e-13:
        return candidate, new
    return x, None


def _standardisation(log_density, mode, d):
    """Lower Cholesky factor of the Laplace covariance at the mode (robust fallbacks)."""
    for step in (1e-3, 1e-2, 1e-1):
        h = -hessian(log_density, mode, step)
        if np.all(np.isfinite(h)):
            try:
                cov = np.linalg.inv(h)
                return np.linalg.cholesky((cov + cov.T) / 2)
            except np.linalg.LinAlgError:
                diag = np.diag(h)
                if np.all(diag > 0):
                    return np.diag(1.0 / np.sqrt(diag))
    return np.eye(d)


def _product_grid(lo, hi, step):
    axes = [np.arange(a, b + step / 2, step) for a, b in zip(lo, hi, strict=True)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.reshape(-1) for m in mesh], axis=1)


def _moments(u, logp):
    w = np.exp(logp - logp.max())
    w /= w.sum()
    mean = w @ u
    sd = np.sqrt(np.maximum(w @ (u - mean) ** 2, 1e-300))
    return mean, sd


def _evaluator(log_density, centre, chol):
    def evaluate(lo, hi, step):
        u = _product_grid(lo, hi, step)
        if len(u) > MAX_POINTS:
            raise EngineError(
                f"the hyperparameter posterior needs more than {MAX_POINTS} grid points; "
                "use hyper='eb' or more informative hyperpriors"
            )
        z = centre + u @ chol.T
        logp = np.asarray(log_density(z), float)
        return u, z, np.where(np.isfinite(logp), logp, -np.inf)

    return evaluate


def _widen(evaluate, d, step):
    """Grow a box (in u) until the log density on every face is negligible."""
    lo, hi = np.full(d, -START_HALF_WIDTH), np.full(d, START_HALF_WIDTH)
    u, z, logp = evaluate(lo, hi, step)
    for _ in range(40):
        top = logp.max()
        grown = False
        for j in range(d):
            grow = step * np.ceil(max(2.0, 0.25 * (hi[j] - lo[j])) / step)
            if logp[np.isclose(u[:, j], u[:, j].min())].max() > top - EDGE_DROP:
                lo[j] -= grow
                grown = True
            if logp[np.isclose(u[:, j], u[:, j].max())].max() > top - EDGE_DROP:
                hi[j] += grow
                grown = True
        if not grown:
            return lo, hi, (u, z, logp)
        u, z, logp = evaluate(lo, hi, step)
    warnings.warn(
        "the hyperparameter posterior has heavy tails; the grid stopped growing before its "
        "edges became negligible: consider more informative hyperpriors",
        DataWarning,
        stacklevel=5,
    )
    return lo, hi, (u, z, logp)


def _marginal_grid(log_density, centre, cov, j, step, costly) -> MarginalGrid:
    """A grid whose first standardised axis runs along coordinate j.

    When j is not one of the first ``costly`` coordinates (those the density is expensive
    to evaluate at), the grid is not sheared between j and them, so they keep few distinct
    values; this changes only the grid's efficiency, not what it integrates.
    """
    d = len(centre)
    order = [j] + [k for k in range(d) if k != j]
    cov = cov.copy()
    if j >= costly:
        cov[j, :costly] = cov[:costly, j] = 0.0
    chol_perm = np.linalg.cholesky(cov[np.ix_(order, order)])
    chol = np.zeros((d, d))
    chol[np.ix_(order, range(d))] = chol_perm
    _, _, (u, z, logp) = _widen(_evaluator(log_density, centre, chol), d, step)
    levels, line = np.unique(np.round(u[:, 0] / step).astype(int), return_inverse=True)
    at = centre[j] + chol[j, 0] * levels * step
    return MarginalGrid(z, line.reshape(-1), at, logp)


def grid_posterior(log_density, mode, *, positive, step=None, costly=0) -> HyperPosterior:
    """Adaptive-grid posterior of ``log_density`` (a function of z arrays (K, d)); the
    first ``costly`` coordinates are the expensive ones (see :func:`_marginal_grid`)."""
    d = len(mode)
    positive = tuple(bool(p) for p in positive)
    scalar = lambda z: float(log_density(np.atleast_2d(z))[0])  # noqa: E731
    step = START_STEP if step is None else step
    chol = _standardisation(scalar, mode, d)
    _, _, (u, z, logp) = _widen(_evaluator(log_density, mode, chol), d, 1.0)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    centre = w @ z
    cov = (z - centre).T @ ((z - centre) * w[:, None]) + 1e-12 * np.eye(d)
    chol = np.linalg.cholesky(cov)
    evaluate = _evaluator(log_density, centre, chol)
    lo, hi, (u, z, logp) = _widen(evaluate, d, step)
    mean, sd = _moments(u, logp)
    while step > MIN_STEP:  # refine until the moments settle
        if len(u) * 2**d > MAX_POINTS:
            warnings.warn(
                f"stopped refining the hyperparameter grid at {len(u)} points (step {step:g}); "
                "posterior summaries may be off in the 4th digit",
                DataWarning,
                stacklevel=4,
            )
            break
        fine_u, fine_z, fine_logp = evaluate(lo, hi, step / 2)
        fine_mean, fine_sd = _moments(fine_u, fine_logp)
        settled = np.all(np.abs(fine_mean - mean) < MOMENT_TOL * sd) and np.all(
            np.abs(fine_sd - sd) < MOMENT_TOL * sd
        )
        u, z, logp, step, mean, sd = fine_u, fine_z, fine_logp, step / 2, fine_mean, fine_sd
        if settled:
            break
    top = logp.max()
    w = np.exp(logp - top)
    log_evidence = float(top + np.log(w.sum()) + np.log(step**d * abs(np.linalg.det(chol))))
    marginals = tuple(_marginal_grid(log_density, centre, cov, j, step, costly) for j in range(d))
    return HyperPosterior(
        kind="bayes",
        points=to_theta(z, np.asarray(positive)),
        weights=w / w.sum(),
        positive=positive,
        log_density=logp,
        z=z,
        u=u,
        transform=chol,
        cell=step,
        log_evidence=log_evidence,
        marginals=marginals,
    )


def point_posterior(kind, theta, positive, covariance=None, boundary=()) -> HyperPosterior:
    """A one-point hyperparameter 'posterior' (empirical Bayes or fixed values)."""
    theta = np.asarray(theta, float).reshape(1, -1)
    return HyperPosterior(
        kind,
        theta,
        np.ones(1),
        tuple(bool(p) for p in positive),
        covariance=covariance,
        boundary=tuple(boundary),
    )


def hyper_draws(post: HyperPosterior, n: int, rng: np.random.Generator):
    """Draws from the grid posterior: a cell by weight, then uniform within the cell."""
    if post.u is None:
        return np.repeat(post.points, n, axis=0)
    idx = rng.choice(len(post.weights), size=n, p=post.weights)
    jitter = (rng.uniform(size=(n, post.u.shape[1])) - 0.5) * post.cell
    z = post.z[idx] + jitter @ post.transform.T
    return to_theta(z, np.asarray(post.positive))
