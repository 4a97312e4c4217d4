r"""Nested-Laplace posteriors of generalized linear mixed models (``method="inla"``), after
Rue, Martino & Chopin (2009).

The variance parameters :math:`\psi` (every SD, each correlation block, a negative binomial's
shape) are held unconstrained exactly as the NUTS engine samples them (the bijection of each
prior's support: the log of an SD; NumPyro's ``corr_cholesky`` bijection of a block's
correlations). Given :math:`\psi`, the latent field :math:`x = (u, \beta)` — all spherical
group effects (:math:`b = \Lambda_\psi u`) and the population coefficients — is approximated
by the Gaussian at its posterior mode :math:`\tilde x(\psi)`, found by PIRLS with
:math:`\beta` free and the spec's prior on :math:`\beta` in the objective (its gradient and
curvature in every PIRLS step; :func:`multilevel.linalg.pirls.find_mode`), with precision
:math:`H(\psi)` the PIRLS system over :math:`(u, \beta)`. Then

.. math:: \log \tilde p(\psi \mid y) = \log p(y \mid \tilde x) - \tfrac12 \tilde u^\top\tilde u
          + \log p(\tilde\beta) - \tfrac12 \log|H(\psi)| + \log p(\psi) + \log|J(\psi)|,

the Laplace approximation of the marginal posterior (prior and Jacobian as NUTS's
unconstrained sites: both engines target the same posterior). Its mode :math:`\psi^*` is
found by BOBYQA, its Hessian there by central differences; with :math:`H_\psi = V\Lambda V^\top`
the standardized coordinates are :math:`\psi = \psi^* + V\Lambda^{-1/2} z`.

Integration points
    ``grid`` (up to :data:`GRID_DIMENSION` variance parameters): the lattice of step
    :data:`GRID_STEP` in :math:`z`, explored outwards from the mode while the log density
    is within :data:`CUTOFF` of the mode's (INLA's grid strategy). ``ccd`` (more): INLA's
    central composite design, the centre, :math:`2d` star points and a (fractional)
    factorial at radius :math:`f_0\sqrt d` (:data:`F0`), each direction scaled by the
    skewness-correcting factors :math:`s_j^\pm` of the log density at :math:`z = \pm\sqrt2`.

Draws
    ``chains x draws`` independent draws: an integration point with probability equal to its
    weight, then :math:`\psi` within the point's cell (grid: each coordinate from the log-linear
    interpolation of the log density over the cell, whose integral gives the point's weight;
    ccd: from the skew-scaled standard normal restricted to the point's Voronoi cell), then
    :math:`(u, \beta)` from the point's Gaussian by back-substitution with its Cholesky
    factor, :math:`b = \Lambda u`. The Gaussian's mean is the mode moved by the first-order
    skewness correction :math:`-\tfrac12 H^{-1}\nabla\log|H|` (``_Nested._mean_correction``;
    without it cbpp's coefficients sat 0.1-0.2 posterior SD above long NUTS runs' means).
    The draws are shuffled over chains, so ``R-hat`` and ESS
    read as for independent draws.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections import deque

import numpy as np

from multilevel.engines.laplace import approximation_notes, laplace_support
from multilevel.engines.protocol import SamplerSettings, Support
from multilevel.errors import ConvergenceWarning, EngineError
from multilevel.linalg.glm import SUPPORTED_FAMILIES
from multilevel.posterior import Posterior

__all__ = ["AUTO_ROWS", "InlaEngine"]

#: Rows from which ``method="auto"`` fits a non-gaussian model by the nested Laplace: NUTS's
#: cost grows with the rows (one pass over them per leapfrog step), and it took over ten
#: minutes at 2 x 10^5 bernoulli rows (issue 18): about a minute from 2 x 10^4.
AUTO_ROWS = 20_000
#: Variance parameters up to which the integration points are a grid (more: ccd), as
#: R-INLA's ``int.strategy = "auto"``: a 3-dimensional grid took 200-300 points, 20 times a
#: Laplace fit's time, where the ccd takes 15.
GRID_DIMENSION = 2
#: Grid step in standardized coordinates, by dimension.
GRID_STEP = {1: 0.5, 2: 0.75}
#: Grid points are kept while the log density is within this of the mode's (a 2-dimensional
#: Gaussian has 99.8% of its mass there).
CUTOFF = 6.0
#: Radius of the ccd design, in units of sqrt(dimension) (INLA's ``f0``).
F0 = 1.1
_MAX_POINTS = 3000
_DRAW_BATCH = 512  # draws of the latent field per back-substitution
_CORRECTION_DRAWS = 200  # draws that estimate the linear predictors' variances (mean correction)
_MAX_LOG_LIK_VALUES = 50_000_000


def inla_support(spec) -> Support:
    """What the Laplace engine supports, with priors the nested Laplace can use: none with
    bounds on a population coefficient."""
    support = laplace_support(spec)
    if not support:
        if spec.family.name not in SUPPORTED_FAMILIES:
            return Support(
                False,
                f"the {spec.family.name} family is not one of {', '.join(SUPPORTED_FAMILIES)}; "
                "method='nuts' fits it"
                + (
                    " (and method='exact' a gaussian model)"
                    if spec.family.name == "gaussian"
                    else ""
                ),
            )
        return Support(False, f"{support.reason}; method='nuts' fits it")
    for name in spec.b_names:
        prior = spec.priors.get(name)
        if prior is not None and (prior.lower is not None or prior.dist in ("uniform", "beta")):
            return Support(
                False,
                f"the bounded prior {prior.to_stan()} on {name} is not supported by the "
                "nested Laplace (method='nuts' fits it)",
            )
    return support


class InlaEngine:
    """Nested-Laplace posteriors (INLA, Rue, Martino & Chopin 2009) of bernoulli, binomial,
    poisson and negative binomial multilevel models: the variance parameters integrated on a
    grid or central composite design around the mode of their Laplace-approximated marginal
    posterior, the population coefficients and all group effects Gaussian given them (see
    :mod:`multilevel.engines.inla`). The spec's priors are used as by the NUTS engine.

    Reads ``chains``, ``draws`` (independent draws: ``chains x draws`` in all), ``seed`` and
    ``log_likelihood`` from the :class:`~multilevel.engines.protocol.SamplerSettings`.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.fit("incidence | trials(size) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"), family="binomial", method="inla",
    ...              chains=2, draws=500, seed=1, progress=False)
    >>> fit.posterior.engine, fit.posterior.settings["strategy"]
    ('inla', 'grid')
    >>> 0.5 < float(fit.posterior.draws["sd_herd__Intercept"].mean()) < 1.0
    True
    """

    name = "inla"
    methods = ("inla",)
    auto_label = "nested Laplace, "

    def supports(self, spec) -> Support:
        """Bernoulli, binomial, poisson and negative binomial families with group terms (the
        Laplace engine's models), priors without bounds on the population coefficients."""
        return inla_support(spec)

    def auto_supports(self, spec) -> Support:
        """For ``method="auto"``, asked only for a spec :meth:`supports`: from
        :data:`AUTO_ROWS` rows (below, NUTS fits them in about a minute or less), unless their
        responses are binary with few rows per level, where the approximation is known to be
        poor (:func:`multilevel.engines.laplace.approximation_notes`)."""
        n = spec.design.n
        if n < AUTO_ROWS:
            return Support(False, f"{n:,} rows: NUTS takes at most about a minute")
        notes = approximation_notes(spec)
        if notes:  # a fast wrong answer is worse than a slow right one
            return Support(
                False,
                f"{notes[0].split(': ')[0]}: the nested Laplace would underestimate the SDs, so "
                f"NUTS, which takes minutes at {n:,} rows (method='inla' for the fast "
                "approximation)",
            )
        return Support(
            True,
            f"{n:,} rows: NUTS would take minutes; nested Laplace (INLA) with the "
            f"{spec.family.name} family; method='nuts' for MCMC",
        )

    def fit(self, spec, settings: SamplerSettings, *, reason: str = "") -> Posterior:
        """Independent draws from the nested-Laplace approximation of the posterior.

        Returns
        -------
        Posterior
            Draws under brms names, ``r_block<i>`` deviations, the pointwise log-likelihood,
            and in ``settings`` the seed, the strategy and the integration points.

        Raises
        ------
        EngineError
            A model the engine does not support (with what fits it), or one whose PIRLS
            system cannot be factored.
        """
        support = self.supports(spec)
        if not support:
            raise EngineError(f"the inla engine cannot fit this model: {support.reason}")
        _check_memory(spec, settings)
        import jax

        from multilevel.engines._compile_cache import enable

        enable()

        from multilevel.engines.laplace import _Problem
        from multilevel.linalg.threads import THREADED_COLUMNS, optimizer_blas_threads

        start = time.perf_counter()
        with jax.enable_x64(True):
            problem = _Problem(spec, 1)
            with optimizer_blas_threads(max(problem.dense_columns, THREADED_COLUMNS)):
                nested = _Nested(spec, problem)
                result = nested.run(settings)
        result["timings"]["total"] = time.perf_counter() - start
        notes = [
            note.split("; use ")[0] + "; the nested Laplace shares this: use method='nuts'"
            for note in approximation_notes(spec)
        ]
        for note in notes:
            warnings.warn(note, ConvergenceWarning, stacklevel=3)
        described = (
            f"nested Laplace: {result['dimension']} variance parameter(s) on a "
            f"{result['strategy']} of {result['points']} points"
        )
        full_reason = f"{reason or support.reason}; {described}"
        if result["note"]:
            full_reason += f"; {result['note']}"
        if notes:
            full_reason += "; approximation: " + "; ".join(notes)
        return Posterior(
            draws=result["draws"],
            sample_stats=result["stats"],
            engine=self.name,
            reason=full_reason,
            timings=result["timings"],
            log_likelihood=result["log_likelihood"],
            settings={
                "seed": settings.seed,
                "chains": settings.chains,
                "draws": settings.draws,
                "sampler": "independent draws from the nested Laplace approximation",
                "independent_draws": True,
                "strategy": result["strategy"],
                "points": result["points"],
                "step": result["step"],
                "cutoff": CUTOFF,
                "evaluations": result["evaluations"],
                "approximation_notes": tuple(notes),
            },
        )


class _Hyper:
    """The variance parameters: their unconstrained coordinates, priors and Jacobians (JAX,
    as NumPyro's sites in the NUTS model) and the map to lme4's ``theta`` and the shape."""

    def __init__(self, spec, problem):
        import jax
        import jax.numpy as jnp
        import numpyro.distributions as dist
        from numpyro.distributions import constraints
        from numpyro.distributions.transforms import biject_to

        from multilevel.engines._numpyro_model import (
            numpyro_distribution,
            support_constraint,
            support_key,
        )

        self.layout = problem.layout
        design = spec.design
        entries = []  # (kind, position, size, payload)
        position = 0
        for i, cov in enumerate(spec.covariance):
            q = design.blocks[i].q
            sds = []
            for name in cov.sd_names:
                prior = spec.priors[name]
                entries.append(("scalar", position, 1, (name, prior)))
                sds.append(position)
                position += 1
            cor = None
            if cov.correlated and q > 1:
                m = q * (q - 1) // 2
                eta = float(spec.priors[cov.cor_names[0]].params[0])
                entries.append(("lkj", position, m, (q, eta)))
                cor = (position, m, q)
                position += m
            entries.append(("block", i, 0, (tuple(sds), cor)))
        self.shape_at = None
        if problem.nb:
            entries.append(("scalar", position, 1, ("shape", spec.priors["shape"])))
            self.shape_at = position
            position += 1
        self.dimension = position
        self.blocks = [e[3] for e in entries if e[0] == "block"]
        scalars = [e for e in entries if e[0] == "scalar"]
        lkjs = [e for e in entries if e[0] == "lkj"]
        corr = biject_to(constraints.corr_cholesky)

        def constrain(psi):
            values = jnp.zeros(self.dimension)
            for _, at, _, (_, prior) in scalars:
                t = biject_to(support_constraint(support_key(prior)))
                values = values.at[at].set(t(psi[at]))
            chol = [corr(psi[at : at + m]) for _, at, m, _ in lkjs]
            return values, chol

        def log_prior(psi):
            total = 0.0
            for _, at, _, (_, prior) in scalars:
                t = biject_to(support_constraint(support_key(prior)))
                x = psi[at]
                v = t(x)
                total = total + t.log_abs_det_jacobian(x, v)
                if prior.dist != "flat":
                    total = total + numpyro_distribution(prior.dist, prior.params).log_prob(v)
            for _, at, m, (q, eta) in lkjs:
                x = psi[at : at + m]
                L = corr(x)
                total = total + corr.log_abs_det_jacobian(x, L)
                total = total + dist.LKJCholesky(q, eta).log_prob(L)
            return total

        self._constrain = jax.jit(constrain)
        self._constrain_many = jax.jit(jax.vmap(constrain))
        self._log_prior = jax.jit(log_prior)
        self.lkj_positions = [(at, m) for _, at, m, _ in lkjs]

    def log_prior(self, psi) -> float:
        return float(self._log_prior(np.asarray(psi, dtype=float)))

    def _factors(self, values, chol):
        """Per design block its lower factor ``diag(sd) L`` (one psi)."""
        out = []
        k = 0
        for sds, cor in self.blocks:
            sd = np.asarray([values[at] for at in sds], dtype=float)
            if cor is not None:
                out.append(sd[:, None] * np.asarray(chol[k], dtype=float))
                k += 1
            else:
                out.append(np.diag(sd))
        return out

    def theta(self, psi):
        """lme4's ``theta`` (``Lambda`` = the group effects' Cholesky factor, the families'
        scale being 1) and the shape (None without one)."""
        from multilevel.linalg.profiled import lower_column_major

        values, chol = self._constrain(np.asarray(psi, dtype=float))
        values = np.asarray(values)
        factors = self._factors(values, chol)
        theta = np.zeros(self.layout.size)
        for i, _, _, q, correlated, at in self.layout.blocks:
            factor = factors[i]
            if correlated:
                theta[at : at + q * (q + 1) // 2] = factor[lower_column_major(q)]
            else:
                theta[at : at + q] = np.diagonal(factor)
        shape = float(values[self.shape_at]) if self.shape_at is not None else None
        return theta, shape

    def natural_many(self, psi):
        """Constrained values ``(S, dimension)`` and correlation factors ``[(S, q, q)]``."""
        values, chol = self._constrain_many(np.asarray(psi, dtype=float))
        return np.asarray(values), [np.asarray(c) for c in chol]


class _BetaPrior:
    """The spec's prior on the population coefficients as NUTS evaluates it (the centred
    intercept's where brms puts it), with its gradient and curvature for PIRLS."""

    def __init__(self, spec):
        import jax
        import jax.numpy as jnp

        from multilevel.engines._numpyro_model import numpyro_distribution

        design = spec.design
        names = spec.b_names
        intercept = bool(design.intercept) and design.X_names[:1] == ("Intercept",)
        X = np.asarray(design.X, dtype=float)
        x_mean = X[:, 1:].mean(axis=0) if intercept else np.zeros(0)
        terms = []
        for j, name in enumerate(names):
            prior = spec.priors.get(name)
            if prior is None or prior.dist == "flat":
                continue
            centred = intercept and j == 0 and spec.centred_intercept_prior
            terms.append((j, centred, prior.dist, tuple(float(v) for v in prior.params)))
        self.proper = bool(terms)
        x_mean_j = jnp.asarray(x_mean)

        def log_prior(beta):
            total = 0.0
            for j, centred, d, params in terms:
                at = beta[0] + x_mean_j @ beta[1:] if centred else beta[j]
                total = total + numpyro_distribution(d, params).log_prob(at)
            return total

        def all_three(beta):
            return log_prior(beta), jax.grad(log_prior)(beta), jax.hessian(log_prior)(beta)

        self._f = jax.jit(all_three)

    def __call__(self, beta):
        value, grad, hess = self._f(np.asarray(beta, dtype=float))
        hess = np.asarray(hess, dtype=float)
        # the curvature of a student_t prior is negative in its tails: PIRLS's system takes
        # its positive part (Fisher scoring-like; the mode is the same)
        lam, vec = np.linalg.eigh(-0.5 * (hess + hess.T))
        precision = (vec * np.maximum(lam, 0.0)) @ vec.T
        return float(value), np.asarray(grad, dtype=float), precision


class _Nested:
    """One nested-Laplace fit: the marginal posterior of the variance parameters, its
    integration points and the draws."""

    def __init__(self, spec, problem):
        self.spec = spec
        self.problem = problem
        self.hyper = _Hyper(spec, problem)
        self.beta_prior = _BetaPrior(spec) if problem.p else None
        self.u = np.zeros(problem.rd.Q)
        self.beta = np.array(problem.beta, dtype=float)
        self.evaluations = 0

    # -- the latent field given psi ---------------------------------------------------------

    def mode(self, psi, u0=None, beta0=None):
        from multilevel.linalg.pirls import find_mode

        pr = self.problem
        theta, shape = self.hyper.theta(psi)
        glm = pr.glm.with_shape(shape) if pr.nb else pr.glm
        self._glm = glm
        self.evaluations += 1
        mode = find_mode(
            pr.rd.at(theta),
            pr.X,
            pr.offset,
            glm,
            self.u if u0 is None else u0,
            self.beta if beta0 is None else beta0,
            free_beta=True,
            beta_prior=self.beta_prior,
        )
        return mode, theta

    def log_posterior(self, psi, *, remember: bool = False, start=None) -> float:
        """:math:`\\log\\tilde p(\\psi \\mid y)` up to a constant (-inf where PIRLS fails)."""
        psi = np.asarray(psi, dtype=float)
        self.last_mode = None  # (u, beta) at psi's mode: the draws start PIRLS there
        try:
            mode, _ = self.mode(psi, *(start or (None, None)))
        except (EngineError, np.linalg.LinAlgError, FloatingPointError):
            return -np.inf
        self.last_mode = (mode.u, mode.beta)
        if remember:
            self.u, self.beta = mode.u, mode.beta
        value = (
            mode.log_density
            + mode.log_prior
            - 0.5 * float(mode.u @ mode.u)
            - 0.5 * mode.full_logdet
            + self.hyper.log_prior(psi)
        )
        return float(value) if np.isfinite(value) else -np.inf

    # -- the fit ----------------------------------------------------------------------------

    def run(self, settings):
        from multilevel.engines.laplace import _hessian
        from multilevel.engines.reml import bobyqa

        timings = {}
        t0 = time.perf_counter()
        d = self.hyper.dimension

        def objective(x):
            value = self.log_posterior(x, remember=True)
            return -value if np.isfinite(value) else 1e300

        found = bobyqa(objective, np.zeros(d), np.full(d, -np.inf), initial_step=np.full(d, 0.5),
                       xtol=1e-6, ftol=1e-9, ftol_rel=1e-12)  # fmt: skip
        psi_star = np.asarray(found.x, dtype=float)
        top = self.log_posterior(psi_star, remember=True)
        if not np.isfinite(top):
            raise EngineError(
                "the nested Laplace found no mode of the variance parameters' posterior; "
                "use method='nuts'"
            )
        self.u_star, self.beta_star = self.u.copy(), self.beta.copy()
        timings["mode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        start = (self.u_star, self.beta_star)
        H = _hessian(
            lambda x: -self.log_posterior(x, start=start), psi_star, np.arange(d), np.full(d, 0.02)
        )
        note = ""
        lam, V = np.linalg.eigh(0.5 * (H + H.T))
        if not np.all(np.isfinite(lam)):
            raise EngineError(
                "the Hessian of the variance parameters' log posterior is not finite; "
                "use method='nuts'"
            )
        if np.any(lam <= 0):
            floor = 1e-3 * max(float(np.max(np.abs(lam))), 1.0)
            lam = np.maximum(np.abs(lam), floor)
            note = "the variance parameters' log posterior is not concave at its mode"
        self.psi_star, self.top = psi_star, top
        self.scale = V / np.sqrt(lam)  # psi = psi* + scale @ z
        timings["hessian"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rng = np.random.default_rng(settings.seed)
        if d <= GRID_DIMENSION:
            strategy, step = "grid", GRID_STEP[d]
            points, log_weights, sampler = self._grid(step)
        else:
            strategy, step = "ccd", F0
            points, log_weights, sampler = self._ccd()
        timings["integration_points"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        total = settings.chains * settings.draws
        weights = np.exp(log_weights - np.max(log_weights))
        weights /= weights.sum()
        counts = rng.multinomial(total, weights)
        which = rng.permutation(np.repeat(np.arange(len(points)), counts))
        z = np.empty((total, d))
        for k in np.flatnonzero(counts):
            z[which == k] = sampler(k, counts[k], rng)
        psi = psi_star + z @ self.scale.T
        draws, log_lik = self._draws(psi, which, points, settings, rng)
        timings["draws"] = time.perf_counter() - t0
        shape = (settings.chains, settings.draws)
        return {
            "draws": draws,
            "log_likelihood": log_lik,
            "stats": {"diverging": np.zeros(shape, dtype=bool)},
            "timings": timings,
            "strategy": strategy,
            "points": int(len(points)),
            "step": float(step),
            "dimension": d,
            "evaluations": int(self.evaluations),
            "note": note,
        }

    # -- integration points -----------------------------------------------------------------

    def _grid(self, step):
        """Grid points from the mode outwards while within :data:`CUTOFF`; each cell's log
        mass from the log-linear interpolation of the log density over it."""
        d = self.hyper.dimension
        start = (self.u_star, self.beta_star)
        values = {}
        origin = (0,) * d
        values[origin] = self.top
        modes = {origin: start}
        kept = []
        queue = deque([origin])
        seen = {origin}
        while queue:
            index = queue.popleft()
            value = values[index]
            if not self.top - value < CUTOFF:
                continue
            kept.append(index)
            if len(values) > _MAX_POINTS:
                continue
            for j in range(d):
                for sign in (-1, 1):
                    nb = index[:j] + (index[j] + sign,) + index[j + 1 :]
                    if nb in seen:
                        continue
                    seen.add(nb)
                    z = step * np.asarray(nb, dtype=float)
                    values[nb] = self.log_posterior(self.psi_star + self.scale @ z, start=start)
                    modes[nb] = self.last_mode
                    queue.append(nb)
        kept_z = step * np.asarray(kept, dtype=float)
        slopes = np.empty((len(kept), d))
        for n, index in enumerate(kept):
            for j in range(d):
                up = values.get(index[:j] + (index[j] + 1,) + index[j + 1 :], -np.inf)
                down = values.get(index[:j] + (index[j] - 1,) + index[j + 1 :], -np.inf)
                if np.isfinite(up) and np.isfinite(down):
                    slopes[n, j] = (up - down) / (2 * step)
                else:
                    slopes[n, j] = -kept_z[n, j]
        slopes = np.clip(slopes, -40.0 / step, 40.0 / step)
        half = 0.5 * step * slopes
        log_mass = np.array([values[k] for k in kept]) + np.sum(_log_sinhc(half), axis=1)
        self._point_psi = self.psi_star + kept_z @ self.scale.T
        self._point_modes = [modes[k] for k in kept]

        def sampler(k, count, rng):
            uniform = rng.uniform(size=(count, d))
            return kept_z[k] + _tilted_uniform(uniform, slopes[k], step)

        return kept_z, log_mass, sampler

    def _ccd(self):
        """INLA's central composite design with skewness-correcting scales and the weights
        that make it exact for the second moments of a Gaussian (below)."""
        d = self.hyper.dimension
        start = (self.u_star, self.beta_star)
        # s_j^+ and s_j^-: a Gaussian's log density drops by 1 at z = sqrt(2)
        scales = np.ones((2, d))
        for j in range(d):
            for side, sign in enumerate((1.0, -1.0)):
                z = np.zeros(d)
                z[j] = sign * np.sqrt(2.0)
                drop = self.top - self.log_posterior(self.psi_star + self.scale @ z, start=start)
                if np.isfinite(drop) and drop > 0:
                    scales[side, j] = np.clip(1.0 / np.sqrt(drop), 0.2, 5.0)
        design = _ccd_design(d)
        radius = F0 * np.sqrt(d)
        outer = design * radius  # rows on the sphere of this radius
        points = np.vstack([np.zeros(d), outer])

        def skewed(z):
            return z * np.where(z >= 0, scales[0], scales[1])

        log_post, self._point_modes = [], []
        for z in points:
            log_post.append(self.log_posterior(self.psi_star + self.scale @ skewed(z), start=start))
            self._point_modes.append(self.last_mode)
        log_post = np.array(log_post)
        # weights: with N points at radius R = f0 sqrt(d) carrying a total mass of d / R^2
        # and the centre the rest, the design integrates a standard Gaussian's zeroth and
        # second moments exactly; the log densities correct for the actual shape
        N = len(outer)
        log_delta = np.concatenate([[0.0], np.full(N, 0.5 * radius**2 - np.log(N * (F0**2 - 1.0)))])
        mean_scale = 0.5 * (scales[0] + scales[1])
        volume = np.where(points > 0, scales[0], np.where(points < 0, scales[1], mean_scale))
        log_weights = log_delta + log_post + np.log(volume).sum(axis=1)
        self._point_psi = self.psi_star + _skewed_rows(points, scales) @ self.scale.T

        def sampler(k, count, rng):
            out = np.empty((0, d))
            for _ in range(1000):
                z = rng.standard_normal((max(4 * count, 256), d))
                nearest = np.argmin(((z[:, None, :] - points[None]) ** 2).sum(axis=2), axis=1)
                out = np.vstack([out, z[nearest == k]])
                if len(out) >= count:
                    break
            if len(out) < count:  # pragma: no cover - cells have appreciable mass
                out = np.vstack([out, np.repeat(points[k : k + 1], count - len(out), axis=0)])
            return _skewed_rows(out[:count], scales)

        # the draws' psi are psi* + scale @ z: the sampler returns skew-scaled z
        return points, log_weights, sampler

    # -- draws ------------------------------------------------------------------------------

    def _mean_correction(self, mode, theta, rng):
        """The first-order correction of the Gaussian's mean towards the conditional
        posterior mean of :math:`x = (u, \\beta)` (the skewness term of a Laplace expansion,
        as INLA's simplified Laplace corrects the location):
        :math:`E[x] - \\tilde x \\approx -\\tfrac12 H^{-1} \\nabla_x \\log|H(x)|
        = -\\tfrac12 H^{-1} A^\\top (w' \\odot h)`, with :math:`A = [Z\\Lambda, X]`,
        :math:`w'` the derivative of each row's Fisher weight in its linear predictor (for
        canonical links minus the third derivative of its log-likelihood) and :math:`h_i` the
        variance of row :math:`i`'s linear predictor under the Gaussian, estimated from
        :data:`_CORRECTION_DRAWS` draws of it at the mode of :math:`\\psi` (and used at every
        point: it changes slowly with :math:`\\psi`, and one pass per point would cost
        more than the rest of the fit)."""
        pr = self.problem
        effects = pr.rd.at(theta)
        glm = self._glm  # the shape of the last mode's psi
        eps = 1e-4
        w_up = glm.score_and_weight(mode.eta + eps)[1]
        w_down = glm.score_and_weight(mode.eta - eps)[1]
        slope = (w_up - w_down) / (2 * eps)
        if self._h is None:  # at the mode of psi, used at every point
            S = _CORRECTION_DRAWS
            du, db = mode.system.draw(
                rng.standard_normal((pr.rd.Q, S)), rng.standard_normal((pr.p, S))
            )
            h = np.zeros(len(mode.eta))
            for s in range(S):
                deta = effects.times(du[:, s]) + pr.X @ db[:, s]
                h += deta * deta
            self._h = h / S
        g = slope * self._h
        return mode.system.solve(-0.5 * effects.transpose_times(g), -0.5 * (pr.X.T @ g))

    def _draws(self, psi, which, points, settings, rng):
        spec, pr, hyper = self.spec, self.problem, self.hyper
        chains, per_chain = settings.chains, settings.draws
        total = chains * per_chain
        rd = pr.rd
        p = pr.p
        design = spec.design
        beta = np.empty((total, p))
        effects = [np.empty((total, b.n_levels, b.q)) for b in design.blocks]
        where = {}
        for i, k, col, q, _, _ in pr.layout.blocks:
            where[i] = (rd.terms[k], col, q)
        self._h = None
        mode, theta = self.mode(self.psi_star, self.u_star, self.beta_star)
        self._mean_correction(mode, theta, rng)
        for k in np.unique(which):
            mode, theta = self.mode(
                self._point_psi[k], *(self._point_modes[k] or (self.u_star, self.beta_star))
            )
            shift_u, shift_b = self._mean_correction(mode, theta, rng)
            mean_u, mean_b = mode.u + shift_u, mode.beta + shift_b
            lam = rd.lam(theta)
            rows = np.flatnonzero(which == k)
            for chunk in range(0, len(rows), _DRAW_BATCH):
                part = rows[chunk : chunk + _DRAW_BATCH]
                S = len(part)
                du, db = mode.system.draw(
                    rng.standard_normal((rd.Q, S)), rng.standard_normal((p, S))
                )
                u = mean_u[:, None] + du
                beta[part] = (mean_b[:, None] + db).T
                b = np.asarray(lam @ u)
                for i in range(len(design.blocks)):
                    term, col, q = where[i]
                    values = b[term.offset : term.offset + term.size].reshape(
                        term.levels, term.q, S
                    )[:, col : col + q, :]
                    effects[i][part] = np.transpose(values, (2, 0, 1))
        out = {}
        shape = (chains, per_chain)
        for j, name in enumerate(spec.b_names):
            out[name] = beta[:, j].reshape(shape)
        values, chol = hyper.natural_many(psi)
        c = 0
        for i, cov in enumerate(spec.covariance):
            sds, cor = hyper.blocks[i]
            for name, at in zip(cov.sd_names, sds, strict=True):
                out[name] = values[:, at].reshape(shape)
            if cor is not None:
                named = cov.named_correlations(chol[c])
                c += 1
                out.update({n: v.reshape(shape) for n, v in named.items()})
            out[cov.key] = effects[i].reshape(shape + effects[i].shape[1:])
        if hyper.shape_at is not None:
            out["shape"] = values[:, hyper.shape_at].reshape(shape)
        log_lik = None
        if settings.log_likelihood and total * design.n <= _MAX_LOG_LIK_VALUES:
            log_lik = _log_likelihood(spec, beta, effects, out.get("shape")).reshape(
                shape + (design.n,)
            )
        return out, log_lik


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux's ``MemAvailable``; else the
    free physical pages), or None where neither can be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(spec, settings) -> None:
    """Refuse, before any work, draws of the group effects that cannot fit in memory (they
    are held twice while assembled): a clear error instead of the machine swapping or the
    process killed at the end."""
    total = settings.chains * settings.draws
    effects = sum(block.n_levels * block.q for block in spec.design.blocks)
    need = 2 * 8 * total * effects
    available = available_memory()
    if available is None or need <= available:
        return
    fits = max(1, int(available / (2 * 8 * effects * settings.chains)))
    raise EngineError(
        f"{total:,} draws of {effects:,} group effects need about {need / 2**30:.1f} GiB and "
        f"{available / 2**30:.1f} GiB is available: ask for fewer draws (draws={fits} with "
        f"chains={settings.chains} fits), or use method='laplace' for the estimates"
    )


def _skewed_rows(z, scales):
    """Standardized coordinates scaled by ``s^+`` where positive and ``s^-`` where not."""
    return z * np.where(z >= 0, scales[0], scales[1])


def _ccd_design(d: int) -> np.ndarray:
    """Unit-radius ccd directions: ``2d`` star points and the corners of a full (``d <= 4``)
    or half (``x_d`` = the product of the others: resolution ``d``, at least V from 5)
    factorial."""
    if d > 8:
        raise EngineError(
            f"the model has {d} variance parameters; the nested Laplace integrates at most 8 "
            "(use method='nuts')"
        )
    star = np.vstack([np.eye(d), -np.eye(d)])
    if d <= 4:
        corners = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
    else:
        head = np.array(list(itertools.product((-1.0, 1.0), repeat=d - 1)))
        corners = np.column_stack([head, np.prod(head, axis=1)])
    return np.vstack([star, corners / np.sqrt(d)])


def _log_sinhc(x):
    """``log(sinh(x) / x)``, stable for small and large ``|x|``."""
    x = np.abs(np.asarray(x, dtype=float))
    small = x < 1e-4
    safe = np.where(small, 1.0, x)
    large = safe + np.log1p(-np.exp(-2.0 * safe)) - np.log(2.0 * safe)
    return np.where(small, x * x / 6.0, large)


def _tilted_uniform(uniform, slopes, step):
    """Offsets in ``[-step/2, step/2]`` with density proportional to ``exp(slope * t)`` per
    coordinate (inverse CDF of ``uniform``)."""
    a = np.broadcast_to(slopes, uniform.shape)
    flat = np.abs(a * step) < 1e-8
    safe = np.where(flat, 1.0, a)
    with np.errstate(over="ignore"):
        tilted = np.log1p(uniform * np.expm1(safe * step)) / safe
    return np.where(flat, uniform * step, tilted) - 0.5 * step


def _log_likelihood(spec, beta, effects, shape):
    """Pointwise log-likelihood ``(S, n)`` of the draws, in the data's row order."""
    from multilevel.engines.collapsed import _effects_to_rows

    design = spec.design
    eta = beta @ np.asarray(design.X, dtype=float).T
    eta += np.asarray(design.offset, dtype=float)
    for block, values in zip(design.blocks, effects, strict=True):
        r = values.reshape(len(values), -1)
        eta += (_effects_to_rows(block).T @ r.T).T
    family = spec.family
    y = np.asarray(design.y, dtype=float)
    trials = None if design.trials is None else np.asarray(design.trials, dtype=float)
    if family.name == "negbinomial":
        aux = {"shape": np.asarray(shape).reshape(-1, 1)}
    else:
        aux = {}
    trials = trials if family.name == "binomial" else None
    return np.asarray(family.log_likelihood_eta(y, eta, aux, trials=trials), dtype=float)
