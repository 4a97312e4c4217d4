r"""Full Bayes for gaussian multilevel models with the group effects integrated out.

The group effects :math:`b` are Gaussian given everything else, so they integrate out of
the likelihood exactly:

.. math:: y \mid \beta, T, \sigma \sim N\big(X\beta,\ \sigma^2 I + Z T T^\top Z^\top\big)

(``T`` the block-diagonal Cholesky factor of the group effects' covariance, ``diag(sd)``
times the LKJ factor of each block). Its log density comes from the cross products of
:mod:`multilevel.linalg.crossprod` — the same elimination as :mod:`multilevel.linalg.profiled`
with :math:`\Lambda = T/\sigma`, written in JAX (float64) — so NUTS only explores the few
population coefficients and variance parameters, with the spec's priors. Then every draw
gets an exact draw of all group effects from their Gaussian conditional
:math:`u \mid \beta, T, \sigma, y \sim N(A^{-1}c, \sigma^2 A^{-1})`, :math:`b = \Lambda u`.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from multilevel.engines._proposal import CORRELATION, OTHER, SCALE, Proposal
from multilevel.engines.protocol import SamplerSettings
from multilevel.errors import EngineError
from multilevel.linalg import blocks
from multilevel.posterior import Posterior

__all__ = ["CollapsedGaussian", "collapsed_data"]

_MAX_REST = 2000  # columns of the non-eliminated group terms (dense)
_MAX_COUPLING = 20_000_000  # entries of the dense coupling between eliminated term and rest
_MAX_THIN = 10  # most proposals per kept draw before the independence sampler hands over
_CHEAP_WORK = 20_000_000  # most extra proposals x _work_per_draw spent thinning towards an
# ESS of half the draws (sleepstudy: 72 per proposal, radon 340, 10^4 groups 40,000)
_EFFECT_VALUES = 50_000_000  # block entries per batch of group-effect draws
_MAP_VALUES = 100_000  # block entries per vectorized step over proposals or draws (beyond
# that, one at a time is faster: the per-level arrays stay in cache)
_NOISE_STREAMS = 4  # random number streams of the group effects' noise (fixed: reproducible)
_REFINE = 4000  # most proposals per refining round
_MIN_ESS = 100  # per chain, bulk and tail, below which the independence sampler hands over
_SAMPLERS: OrderedDict = OrderedDict()


@dataclass(frozen=True)
class _Structure:
    p: int
    intercept: bool
    known_sigma: bool
    q1: int  # coefficients per level of the eliminated term (0: none)
    rest: int  # columns of the other terms
    blocks: tuple  # per design block: (term is first, col, q, correlated, sd names, cor first)
    priors: tuple  # (name, dist, support key)
    b_names: tuple
    centred_prior: bool


def collapsed_data(spec):
    """Cross products and layout for the collapsed model (numpy; see the module docstring)."""
    from multilevel.linalg.profiled import gram_matrix
    from multilevel.spec.statistics import cross_products_of

    design = spec.design
    intercept = bool(design.intercept) and design.X_names[:1] == ("Intercept",)
    if not intercept:
        x_mean = np.zeros(len(design.X_names))
    elif spec.statistics is not None:
        x_mean = np.asarray(spec.statistics.x_mean[1:], float)
    else:
        x_mean = np.asarray(design.X, float)[:, 1:].mean(axis=0)
    cp = cross_products_of(spec)
    terms = cp.terms
    candidates = [k for k, t in enumerate(terms) if t.diagonal_only]
    first = max(candidates, key=lambda k: terms[k].size) if candidates else None
    rest_terms = [k for k in range(len(terms)) if k != first]
    rest = (
        np.concatenate(
            [np.arange(terms[k].offset, terms[k].offset + terms[k].size) for k in rest_terms]
        )
        if rest_terms
        else np.arange(0, dtype=int)
    )
    if len(rest) > _MAX_REST:
        raise EngineError(
            f"the exact engine keeps the group terms other than the largest one dense, and "
            f"these have {len(rest)} columns (limit {_MAX_REST}); use method='nuts'"
        )
    p = cp.p
    ZtXy = np.column_stack([cp.ZtX, cp.Zty])
    data = {"XyXy": cp.XyXy(), "x_mean": x_mean, "n": float(cp.n), "log_weights": cp.log_weights}
    q1 = 0
    if first is not None:
        t1 = terms[first]
        q1 = t1.q
        cols1 = np.arange(t1.offset, t1.offset + t1.size)
        # entries first, levels last: the layout of multilevel.linalg.blocks
        data["G1"] = blocks.levels_last(cp.diag[first])
        data["G1Xy"] = blocks.levels_last(ZtXy[cols1].reshape(t1.levels, q1, p + 1))
    if len(rest):
        G = gram_matrix(cp, first)
        data["Grr"] = G[rest][:, rest].toarray()
        data["GrXy"] = ZtXy[rest]
        if first is not None:
            if t1.size * len(rest) > _MAX_COUPLING:
                raise EngineError(
                    "the group terms are too large for the exact engine's dense coupling; "
                    "use method='nuts'"
                )
            G1r = G[cols1][:, rest].toarray().reshape(t1.levels, q1, len(rest))
            data["G1r"] = np.ascontiguousarray(np.transpose(G1r, (1, 0, 2)))
    # where each design block sits: in the eliminated term or in the rest (column offset)
    term_blocks = []
    rest_offsets = {}
    position = 0
    for k in rest_terms:
        rest_offsets[k] = position
        position += terms[k].size
    for i, (block, cov) in enumerate(zip(design.blocks, spec.covariance, strict=True)):
        for k, term in enumerate(terms):
            if i in term.blocks:
                col = sum(design.blocks[j].q for j in term.blocks[: term.blocks.index(i)])
                term_blocks.append(
                    (
                        k == first,
                        col,
                        block.q,
                        cov.correlated,
                        cov.sd_names,
                        cov.cor_names[0] if cov.correlated else None,
                        k,
                    )
                )
    layout = {
        "terms": terms,
        "first": first,
        "rest_terms": rest_terms,
        "rest_offsets": rest_offsets,
        "blocks": term_blocks,
        "rest": len(rest),
        "q1": q1,
    }
    return data, layout


def _work_per_draw(layout) -> int:
    """Entries of the per-level blocks and of the dense rest block: the size of one log
    density evaluation or one draw of the group effects (a deterministic cost measure)."""
    return max(1, sum(t.size * t.q for t in layout["terms"]) + layout["rest"] ** 2)


def _map_step(layout) -> int:
    """Proposals or draws per vectorized step of ``jax.lax.map``."""
    return max(1, _MAP_VALUES // _work_per_draw(layout))


def _numpy_seed(key) -> list[int]:
    """The words of a JAX key, to seed NumPy's generators from it."""
    import jax

    return np.asarray(jax.random.key_data(key)).ravel().tolist()


def _min_ess(draws: np.ndarray) -> float:
    """Smallest bulk or tail ESS over the coordinates of ``(chains, draws, dim)`` draws."""
    from multilevel.posterior.mcmc_stats import summary_statistics

    stats = summary_statistics(draws)
    return float(min(np.min(stats["ess_bulk"]), np.min(stats["ess_tail"])))


def _padded(function, x, size: int, *args) -> np.ndarray:
    """``function(x, *args)`` for up to ``size`` rows, padded to ``size`` (one compiled shape)."""
    import jax.numpy as jnp

    n = len(x)
    if n < size:
        x = np.concatenate([x, np.repeat(x[-1:], size - n, axis=0)])
    return np.asarray(function(jnp.asarray(x), *args), dtype=float)[:n]


def _hessian(gradient, x, step: float = 1e-5) -> np.ndarray:
    """Symmetrised central-difference Hessian from an exact gradient."""
    H = np.empty((x.size, x.size))
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step * max(1.0, abs(x[i]))
        H[i] = (gradient(x + e) - gradient(x - e)) / (2 * e[i])
    return 0.5 * (H + H.T)


def _factors(layout, sds, cors, jnp):
    """Per term, its ``(q, q)`` absolute Cholesky factor ``T`` from block SDs and LKJ factors."""
    out = {}
    for k, term in enumerate(layout["terms"]):
        out[k] = jnp.zeros((term.q, term.q))
    for i, (_, col, q, correlated, _, _, k) in enumerate(layout["blocks"]):
        block = jnp.diag(sds[i]) @ cors[i] if correlated else jnp.diag(sds[i])
        out[k] = out[k].at[col : col + q, col : col + q].set(block)
    return out


def _rest_factor(layout, factors, jnp):
    """Dense block-diagonal factor over the rest columns."""
    size = layout["rest"]
    T = jnp.zeros((size, size))
    for k in layout["rest_terms"]:
        term = layout["terms"][k]
        start = layout["rest_offsets"][k]
        block = jnp.kron(jnp.eye(term.levels), factors[k])
        T = T.at[start : start + term.size, start : start + term.size].set(block)
    return T


def _eliminate(data, layout, factors, sigma, beta, jnp, jsl):
    """The pieces of the marginal likelihood at one parameter value (JAX)."""
    v = jnp.concatenate([-beta, jnp.ones(1)])
    r2 = v @ data["XyXy"] @ v
    logdet = 0.0
    out = {}
    if layout["first"] is not None:
        # per level: L1 L1' = lam1' G1[l] lam1 + I and w1 = L1^{-1} lam1' G1Xy[l] v, entry by
        # entry (one fused pass over the levels; multilevel.linalg.blocks)
        lam1 = blocks.lower_entries(factors[layout["first"]] / sigma)
        L1 = blocks.cholesky(blocks.congruence(lam1, blocks.entries(data["G1"])), jnp)
        GXy = data["G1Xy"]
        Gv = [sum(GXy[a, k] * v[k] for k in range(GXy.shape[1])) for a in range(len(lam1))]
        w1 = blocks.lower_solve(L1, blocks.transpose_times(lam1, Gv))
        logdet = logdet + blocks.log_det(L1, jnp)
        r2 = r2 - sum(jnp.sum(w * w) for w in w1)
        out.update(L1=L1, w1=w1, lam1=lam1)
    if layout["rest"]:
        lam_r = _rest_factor(layout, factors, jnp) / sigma
        M = lam_r.T @ data["Grr"] @ lam_r + jnp.eye(layout["rest"])
        m = lam_r.T @ (data["GrXy"] @ v)
        if layout["first"] is not None:
            # C_i = rows i of L1[l]^{-1} lam1' G1r[l] lam_r over the levels, (levels, rest)
            Gr = [data["G1r"][a] @ lam_r for a in range(len(out["lam1"]))]
            C = blocks.lower_solve(out["L1"], blocks.transpose_times(out["lam1"], Gr))
            M = M - sum(c.T @ c for c in C)
            m = m - sum(c.T @ w for c, w in zip(C, out["w1"], strict=True))
            out["C"] = C
        Lr = jnp.linalg.cholesky(M)
        z = jsl.solve_triangular(Lr, m, lower=True)
        logdet = logdet + 2.0 * jnp.sum(jnp.log(jnp.diag(Lr)))
        r2 = r2 - z @ z
        out.update(Lr=Lr, z=z, lam_r=lam_r)
    out.update(logdet=logdet, r2=r2)
    return out


def _log_likelihood(spec, draws, total, limit: int = 50_000_000):
    """Pointwise gaussian log-likelihood given each draw's group effects, ``(chains, draws,
    n)`` (None above ``limit`` values)."""
    d = spec.design
    if spec.statistics is not None or total * d.n > limit:  # rows not here (Dask) or too many
        return None
    shape = next(iter(draws.values())).shape[:2]
    beta = np.stack([draws[n].reshape(total) for n in spec.b_names], axis=1)  # (S, p)
    # the residuals y - eta built in place in one (S, n) array (7 passes over it rather than
    # a new array per operation)
    resid = beta @ -np.asarray(d.X, float).T
    resid += np.asarray(d.y, float) - np.asarray(d.offset, float)
    for block, covariance in zip(d.blocks, spec.covariance, strict=True):
        r = draws[covariance.key].reshape(total, block.n_levels * block.q)
        resid -= (_effects_to_rows(block).T @ r.T).T
    if spec.known_sigma:
        sigma = np.asarray(d.se, float)
        resid /= sigma
        const = -np.log(sigma) - 0.5 * np.log(2 * np.pi)  # (n,)
    else:
        sigma = draws["sigma"].reshape(total, 1)
        resid /= sigma
        const = -np.log(sigma) - 0.5 * np.log(2 * np.pi)  # (S, 1)
    np.square(resid, out=resid)
    resid *= -0.5
    resid += const
    return resid.reshape(shape + (d.n,))


def _effects_to_rows(block):
    """The sparse ``(levels * q, n)`` map from a block's group effects (level-major) to
    each row's share of the linear predictor (membership weights times ``Z``)."""
    import scipy.sparse as sparse

    from multilevel.linalg.crossprod import effect_columns

    cols, vals = effect_columns(np.asarray(block.index, dtype=np.int64), block.weights, block.Z)
    rows = np.repeat(np.arange(len(cols)), cols.shape[1])
    return sparse.csr_matrix(
        (vals.ravel(), (cols.ravel(), rows)), shape=(block.n_levels * block.q, len(cols))
    )


class CollapsedGaussian:
    """NUTS on the population coefficients and variance parameters of a gaussian model,
    with the group effects integrated out and drawn exactly afterwards."""

    def __init__(self, settings: SamplerSettings):
        self.settings = settings
        self._step = lambda text: None  # shows the stage under way (see fit)

    def _model(self, spec, layout):
        import jax.numpy as jnp
        import jax.scipy.linalg as jsl
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        from multilevel.engines._numpyro_model import (
            numpyro_distribution,
            support_constraint,
            support_key,
        )

        kinds = {name: (p.dist, support_key(p)) for name, p in spec.priors.items()}
        b_names = spec.b_names
        intercept = spec.design.intercept and spec.design.X_names[:1] == ("Intercept",)
        slopes = b_names[1:] if intercept else b_names
        centred = spec.centred_intercept_prior
        known = spec.known_sigma
        term_blocks = layout["blocks"]

        def scalar(name, priors):
            d, support = kinds[name]
            value = numpyro.sample(name, dist.ImproperUniform(support_constraint(support), (), ()))
            if d != "flat":
                numpyro.factor(
                    f"{name}__prior", numpyro_distribution(d, priors[name]).log_prob(value)
                )
            return value

        def model(data, priors):
            b = jnp.stack([scalar(n, priors) for n in slopes]) if slopes else jnp.zeros(0)
            if intercept:
                alpha = numpyro.sample(
                    "Intercept_c",
                    dist.ImproperUniform(constraints.real, (), ()),
                    infer={"init": priors["__location"]},
                )
                b0 = numpyro.deterministic(b_names[0], alpha - data["x_mean"] @ b)
                d, _ = kinds[b_names[0]]
                if d != "flat":
                    at = alpha if centred else b0
                    numpyro.factor(
                        f"{b_names[0]}__prior",
                        numpyro_distribution(d, priors[b_names[0]]).log_prob(at),
                    )
                beta = jnp.concatenate([b0[None], b])
            else:
                beta = b
            sds, cors = [], []
            for i, (_, _, q, correlated, sd_names, cor_name, _) in enumerate(term_blocks):
                sds.append(jnp.stack([scalar(n, priors) for n in sd_names]))
                if correlated:
                    cors.append(
                        numpyro.sample(f"L_block{i}", dist.LKJCholesky(q, priors[cor_name][0]))
                    )
                else:
                    cors.append(None)
            sigma = 1.0 if known else scalar("sigma", priors)
            factors = _factors(layout, sds, cors, jnp)
            parts = _eliminate(data, layout, factors, sigma, beta, jnp, jsl)
            n = data["n"]
            if known:
                ll = -0.5 * (
                    n * jnp.log(2 * jnp.pi) - data["log_weights"] + parts["logdet"] + parts["r2"]
                )
            else:
                ll = -0.5 * (
                    n * jnp.log(2 * jnp.pi * sigma**2) + parts["logdet"] + parts["r2"] / sigma**2
                )
            numpyro.factor("marginal_likelihood", ll)

        return model

    def fit(self, spec, *, reason) -> Posterior:
        """Draws of every parameter: independence Metropolis–Hastings on the collapsed
        posterior when its proposal fits (see :meth:`_independence`), NUTS otherwise."""
        from multilevel.engines._progress import stages

        with stages(self.settings.progress, "exact") as step:
            self._step = step
            try:
                return self._fit(spec, reason=reason)
            finally:
                self._step = lambda text: None

    def _fit(self, spec, *, reason) -> Posterior:
        import jax
        import jax.numpy as jnp

        from multilevel.engines._compile_cache import enable

        enable()

        from multilevel.spec.defaults import intercept_location_scale

        settings = self.settings
        chains, draws, warmup = settings.chains, settings.draws, settings.warmup
        seed, progress = settings.seed, settings.progress
        start = time.perf_counter()
        self._step("cross-products of the data")
        data_np, layout = collapsed_data(spec)
        prepared = time.perf_counter() - start
        with jax.enable_x64(True):
            data = jax.tree_util.tree_map(jnp.asarray, data_np)
            location = (
                spec.statistics.scales.location
                if spec.statistics is not None
                else intercept_location_scale(spec.design.y, spec.family)[0]
            )
            priors = {
                n: jnp.asarray(p.params, dtype=float) for n, p in spec.priors.items() if p.params
            }
            priors["__location"] = jnp.asarray(float(location))
            rng = jax.random.PRNGKey(seed)
            sample_key, effects_key = jax.random.split(rng)
            t0 = time.perf_counter()
            sampler = "independence Metropolis-Hastings from a Laplace t proposal with heavy tails"
            result = self._independence(
                spec, layout, data_np, data, priors, sample_key, chains, draws, warmup
            )
            if result is None:
                sampler = "NUTS (the independence proposal fitted poorly)"
                result = self._nuts(
                    spec, layout, data_np, data, priors, sample_key, chains, draws, warmup, progress
                )
            samples, stats, extra_settings = result
            sampled = time.perf_counter() - t0
            t0 = time.perf_counter()
            self._step(f"drawing the group effects ({chains * draws} draws)")
            effects = self._group_effects(spec, layout, data, samples, effects_key, chains, draws)
            drawn = time.perf_counter() - t0
        reason = f"{reason}; variance parameters by {sampler}"

        out = {}
        for name in spec.b_names:
            out[name] = np.asarray(samples[name])
        for i, block in enumerate(spec.covariance):
            for name in block.sd_names:
                out[name] = np.asarray(samples[name])
            if block.correlated:
                out.update(block.named_correlations(np.asarray(samples[f"L_block{i}"])))
        for name in spec.aux_names:
            out[name] = np.asarray(samples[name])
        for block, values in zip(spec.covariance, effects, strict=True):
            out[block.key] = values
        t0 = time.perf_counter()
        self._step("pointwise log-likelihood")
        loglik = _log_likelihood(spec, out, chains * draws)
        return Posterior(
            draws=out,
            sample_stats=stats,
            engine="exact",
            reason=reason,
            timings={
                "cross_products": prepared,
                "warmup_and_sampling": sampled,
                "group_effects": drawn,
                "log_likelihood": time.perf_counter() - t0,
            },
            log_likelihood=loglik,
            settings={
                "seed": seed,
                "chains": chains,
                "draws": draws,
                "warmup": warmup,
                **extra_settings,
            },
        )

    def _cached(self, spec, layout, data_np, data, priors):
        """The model and its jitted log density / constrain functions (kept per structure),
        and a starting point for the mode search."""
        import jax
        from jax.flatten_util import ravel_pytree

        from multilevel.engines import _driver

        cache_key = ("functions",) + self._key(spec, layout, data_np, 0, 0, 0, False)
        entry = _SAMPLERS.get(cache_key)
        if entry is None:
            model = self._model(spec, layout)
            potential, postprocess, template = _driver.potential(
                model, {"data": data, "priors": priors}
            )
            unravel = ravel_pytree(template)[1]

            def log_density(x, data, priors):
                return -potential(data=data, priors=priors)(unravel(x))

            def constrain(x, data, priors):
                return postprocess(data=data, priors=priors)(unravel(x))

            step = _map_step(layout)

            def log_densities(X, data, priors):
                return jax.lax.map(lambda x: log_density(x, data, priors), X, batch_size=step)

            entry = (
                model,
                unravel,
                jax.jit(log_densities),
                jax.jit(jax.value_and_grad(log_density)),
                template,
                jax.jit(jax.vmap(constrain, in_axes=(0, None, None))),
            )
            _SAMPLERS[cache_key] = entry
            while len(_SAMPLERS) > 16:
                _SAMPLERS.popitem(last=False)
        else:
            _SAMPLERS.move_to_end(cache_key)
        start = dict(entry[4])  # the template; the centred intercept at the data's location
        if "Intercept_c" in start:
            start["Intercept_c"] = priors["__location"]
        return entry, ravel_pytree(start)[0]

    def _independence(self, spec, layout, data_np, data, priors, key, chains, draws, warmup):
        """Independence Metropolis–Hastings on the collapsed posterior.

        The posterior of the few remaining parameters (unconstrained) is approximated by a
        multivariate t (5 degrees of freedom) at its mode with the inverse Hessian as scale,
        mixed with a defensive product that has the target's tails in every coordinate
        (:class:`~multilevel.engines._proposal.Proposal`), and refined by two rounds of
        importance weighting. Each chain then proposes independently from it and accepts
        with the Metropolis–Hastings ratio of importance weights, so the chains are exact
        MCMC whatever the fit of the proposal. When the bulk or tail ESS of some coordinate
        is under half the draws, the chains are rerun with ``thin`` proposals per kept draw
        (one vectorized log density each; see :meth:`_thin`): towards independent draws
        when the extra proposals are cheap (``_CHEAP_WORK``: small models), else while the
        ESS is below 100 per chain (ArviZ's threshold for reliable summaries) and
        ``_MAX_THIN`` proposals per draw could reach it. Returns None (use NUTS) when the
        mode or Hessian is unusable or the ESS is still short.
        """
        import jax.numpy as jnp
        from scipy import optimize

        (_, _, logp, value_grad, template, constrain), x0 = self._cached(
            spec, layout, data_np, data, priors
        )
        self._step("compiling the collapsed posterior and finding its mode")

        def negative(x):
            value, grad = value_grad(jnp.asarray(x), data, priors)
            return -float(value), -np.asarray(grad, dtype=float)

        found = optimize.minimize(negative, np.asarray(x0, float), jac=True, method="L-BFGS-B")
        mode = np.asarray(found.x, float)
        H = _hessian(lambda x: negative(x)[1], mode)
        if not np.all(np.isfinite(H)):
            return None
        try:
            cov = np.linalg.inv(H)
            chol = np.linalg.cholesky(0.5 * (cov + cov.T))
        except np.linalg.LinAlgError:
            return None
        rng = np.random.default_rng(_numpy_seed(key))
        proposal = Proposal(mode, chol, self._kinds(spec, template))
        dim = mode.size

        # two rounds of importance weighting refine the t part's location and scale (more
        # proposals per round when they are cheap); the last round's draws then set the
        # weight of the defensive part
        size = max(warmup, 200, min(_REFINE, _CHEAP_WORK // (4 * _work_per_draw(layout))))
        self._step("fitting the proposal (importance weighting)")
        for _ in range(2):
            x = proposal.sample(rng, size)
            log_p = np.asarray(logp(jnp.asarray(x), data, priors), dtype=float)
            log_q = proposal.log_density(x)
            log_w = np.where(np.isfinite(log_p), log_p - log_q, -np.inf)
            weights = np.exp(log_w - np.max(log_w))
            weights /= weights.sum()
            if 1.0 / np.sum(weights**2) < 10 * (dim + 1):
                break  # too few effective proposals to estimate a covariance
            try:
                proposal = proposal.refit(x, weights)
            except np.linalg.LinAlgError:
                break
        else:
            proposal = proposal.choose_weight(x, log_p, log_q)

        batch = chains * (draws + 1)  # proposals per compiled log-density call

        def scored(per_chain):
            """``per_chain`` proposals for each chain with their log density and log weight,
            each ``(chains, per_chain, ...)``."""
            x = proposal.sample(rng, chains * per_chain)
            log_q = proposal.log_density(x)
            log_p = np.concatenate(
                [
                    _padded(logp, x[i : i + batch], batch, data, priors)
                    for i in range(0, len(x), batch)
                ]
            )
            log_w = np.where(np.isfinite(log_p), log_p - log_q, -np.inf)
            shape = (chains, per_chain)
            return x.reshape(shape + (dim,)), log_w.reshape(shape), log_p.reshape(shape)

        def run(x, log_w, log_p, thin):
            """Each chain's ``draws * thin`` steps through its proposals, every ``thin``-th
            kept. The chain only needs the index of its current proposal, so the sequential
            part is a plain Python loop over floats (faster than NumPy on a few values)."""
            steps = draws * thin
            u = np.log(rng.uniform(size=(chains, steps)))
            index = np.empty((chains, steps), dtype=np.intp)
            before = np.empty((chains, steps))  # the current log weight at each step
            for c, (w, uc) in enumerate(zip(log_w.tolist(), u.tolist(), strict=True)):
                current, current_w = 0, w[0]
                index_c, before_c = [0] * steps, [0.0] * steps
                for t in range(steps):
                    before_c[t] = current_w
                    if uc[t] < w[t + 1] - current_w:
                        current, current_w = t + 1, w[t + 1]
                    index_c[t] = current
                index[c], before[c] = index_c, before_c
            with np.errstate(invalid="ignore"):
                accept = np.exp(np.minimum(log_w[:, 1 : steps + 1] - before, 0.0))
            accept = np.nan_to_num(accept, nan=0.0).reshape(chains, draws, thin).mean(axis=2)
            chosen = index[:, thin - 1 :: thin]
            rows = np.arange(chains)[:, None]
            kept = x[rows, chosen]
            return kept, accept, log_p[rows, chosen], _min_ess(kept)

        target = _MIN_ESS * chains
        thin = 1
        self._step(f"sampling: {chains} chains x {draws} draws (independence Metropolis-Hastings)")
        proposals = scored(draws + 1)
        kept, accept, lp, ess = run(*proposals, thin)
        while (wanted := self._thin(ess, thin, target, chains * draws, layout)) > thin:
            # more proposals per kept draw, appended to those already scored (independent
            # draws, so they are reused)
            more = scored(draws * (wanted - thin))
            proposals = [np.concatenate(pair, axis=1) for pair in zip(proposals, more, strict=True)]
            thin = wanted
            self._step(f"sampling: {thin} proposals per kept draw")
            kept, accept, lp, ess = run(*proposals, thin)
        if ess < target:
            return None
        constrained = constrain(jnp.asarray(kept.reshape(chains * draws, dim)), data, priors)
        samples = {k: jnp.reshape(v, (chains, draws) + v.shape[1:]) for k, v in constrained.items()}
        stats = {
            "diverging": np.zeros((chains, draws), dtype=bool),
            "acceptance_rate": accept,
            "lp": lp,
        }
        settings = {
            "sampler": "independence",
            "acceptance": float(accept.mean()),
            "thin": thin,
            "defensive_weight": proposal.defensive,
        }
        return samples, stats, settings

    @staticmethod
    def _thin(ess: float, thin: int, target: float, total: int, layout) -> int:
        """Proposals per kept draw to try next, given the ESS with ``thin`` (ESS grows about
        linearly with them): after the first pass, towards independent draws when the extra
        proposals cost little (``_CHEAP_WORK``: small models); else towards the minimum ESS
        ``target`` while ``_MAX_THIN`` can reach it; ``thin`` itself means stop."""
        if ess >= total / 2:
            return thin
        wanted = min(_MAX_THIN, int(np.ceil(total / ess)))
        if thin == 1 and total * (wanted - 1) * _work_per_draw(layout) <= _CHEAP_WORK:
            return wanted
        if ess < target <= ess * _MAX_THIN / thin:
            return min(_MAX_THIN, int(np.ceil(1.25 * thin * target / ess)))
        return thin

    @staticmethod
    def _kinds(spec, template) -> np.ndarray:
        """The kind of each unconstrained coordinate, in the order of ``ravel_pytree``."""
        from jax.flatten_util import ravel_pytree

        scales = {name for block in spec.covariance for name in block.sd_names}

        def kind(name):
            if name in scales:
                return SCALE
            return CORRELATION if name.startswith("L_block") else OTHER

        codes = {k: np.full(np.shape(v), kind(k), dtype=float) for k, v in template.items()}
        return np.asarray(ravel_pytree(codes)[0]).astype(int)

    def _nuts(self, spec, layout, data_np, data, priors, key, chains, draws, warmup, progress):
        """NUTS on the collapsed posterior (the fallback)."""
        import jax

        from multilevel.engines._driver import driver_for
        from multilevel.engines._progress import sampling_progress

        cache_key = ("nuts",) + self._key(spec, layout, data_np, chains, draws, warmup, False)
        kwargs = {"data": data, "priors": priors}
        label = f"NUTS on the collapsed posterior, {chains} chains"
        with sampling_progress(progress, label, warmup, draws, chains):
            driver = driver_for(
                cache_key,
                self._model(spec, layout),
                kwargs,
                chains=chains,
                draws=draws,
                warmup=warmup,
                target_accept=self.settings.target_accept,
                max_tree_depth=self.settings.max_tree_depth,
                init=lambda kw: {"Intercept_c": (kw["priors"]["__location"], 0.0)},
            )
            seed = int(np.asarray(jax.random.key_data(key)).ravel()[-1])
            samples, stats = driver.run(seed, kwargs)
        settings = {
            "sampler": "nuts",
            "target_accept": self.settings.target_accept,
            "max_tree_depth": self.settings.max_tree_depth,
        }
        return samples, stats, settings

    def _key(self, spec, layout, data, chains, draws, warmup, progress):
        from multilevel.engines._numpyro_model import support_key

        shapes = tuple((k, np.shape(v)) for k, v in sorted(data.items()))
        # everything of the layout that the compiled code reads as constants: the column
        # offsets of the terms kept dense depend on their level counts, which the arrays'
        # shapes do not show (b with 10 and c with 20 levels, or 20 and 10: same shapes)
        terms = tuple((t.blocks, t.q, t.levels, t.offset, t.diagonal_only) for t in layout["terms"])
        return (
            shapes,
            terms,
            tuple(layout["blocks"]),
            tuple(sorted(layout["rest_offsets"].items())),
            layout["rest"],
            layout["q1"],
            tuple((n, p.dist, support_key(p)) for n, p in spec.priors.items()),
            spec.b_names,
            spec.covariance,
            spec.known_sigma,
            spec.centred_intercept_prior,
            layout["first"],
            tuple(layout["rest_terms"]),
            chains,
            draws,
            warmup,
            bool(progress),
            self.settings.target_accept,
            self.settings.max_tree_depth,
        )

    def _group_effects(self, spec, layout, data, samples, key, chains, draws):
        """Exact draws of every group effect given each posterior draw (JAX; the standard
        normal noise from NumPy, which makes it 2.5x faster than JAX's counter-based
        generator on a CPU)."""
        import jax
        import jax.numpy as jnp
        import jax.scipy.linalg as jsl

        total = chains * draws
        flat = {k: jnp.reshape(v, (total,) + v.shape[2:]) for k, v in samples.items()}
        term_blocks = layout["blocks"]
        terms = layout["terms"]
        b_names = spec.b_names
        first = terms[layout["first"]] if layout["first"] is not None else None

        def one(params, noise, data):
            beta = jnp.stack([params[n] for n in b_names]) if b_names else jnp.zeros(0)
            sds = [jnp.stack([params[n] for n in blk[4]]) for blk in term_blocks]
            cors = [params[f"L_block{i}"] if blk[3] else None for i, blk in enumerate(term_blocks)]
            sigma = 1.0 if spec.known_sigma else params["sigma"]
            factors = _factors(layout, sds, cors, jnp)
            parts = _eliminate(data, layout, factors, sigma, beta, jnp, jsl)
            effects = {}
            u_r = None
            if layout["rest"]:
                v_r = parts["z"] + sigma * noise["rest"]
                u_r = jsl.solve_triangular(parts["Lr"].T, v_r, lower=False)
                effects["rest"] = parts["lam_r"] @ u_r
            if first is not None:
                v = [w + sigma * e for w, e in zip(parts["w1"], noise["first"], strict=True)]
                if u_r is not None:
                    v = [vi - c @ u_r for vi, c in zip(v, parts["C"], strict=True)]
                u1 = blocks.upper_solve(parts["L1"], v)
                effects["first"] = jnp.stack(blocks.times(parts["lam1"], u1), axis=-1)
            return effects

        # draws in fixed-size batches (one compiled shape): the per-draw temporaries are a
        # few copies of every level's q x q blocks, gigabytes for 10^5 levels x 1000 draws
        batch = int(np.clip(_EFFECT_VALUES // _work_per_draw(layout), 1, total))
        cache_key = ("effects", batch) + self._key(spec, layout, data, 0, 0, 0, False)
        draw = _SAMPLERS.get(cache_key)
        if draw is None:
            step = _map_step(layout)

            def draw_batch(params, noise, data):
                return jax.lax.map(
                    lambda a: one(a[0], a[1], data), (params, noise), batch_size=step
                )

            draw = _SAMPLERS[cache_key] = jax.jit(draw_batch)
        # _NOISE_STREAMS generators, draw i's noise from generator i % _NOISE_STREAMS, filled in
        # threads (NumPy releases the GIL while it fills an array): the draws depend neither on
        # the number of cores nor on the batch size
        seed = np.random.SeedSequence(_numpy_seed(key))
        streams = [np.random.default_rng(s) for s in seed.spawn(_NOISE_STREAMS)]
        shapes = {}
        if layout["rest"]:
            shapes["rest"] = (layout["rest"],)
        if first is not None:
            shapes["first"] = (first.q, first.levels)
        effects = {
            "rest": np.empty((total, layout["rest"])),
            "first": np.empty((total, first.levels, first.q)) if first is not None else None,
        }

        def noise(pool, start, stop):
            out = {k: np.empty((batch,) + shape) for k, shape in shapes.items()}

            def fill(stream):
                first_draw = start + (stream - start) % _NOISE_STREAMS
                for i in range(first_draw, stop, _NOISE_STREAMS):
                    for values in out.values():
                        streams[stream].standard_normal(out=values[i - start])

            list(pool.map(fill, range(_NOISE_STREAMS)))
            for values in out.values():
                values[stop - start :] = 0.0  # the padding
            return out

        with ThreadPoolExecutor(max_workers=min(_NOISE_STREAMS, os.cpu_count() or 1)) as pool:
            following = noise(pool, 0, min(batch, total))
            for start in range(0, total, batch):
                stop = min(start + batch, total)
                index = np.minimum(np.arange(start, start + batch), stop - 1)  # pad: the last
                part = draw({k: v[index] for k, v in flat.items()}, following, data)
                if stop < total:  # the next batch's noise while JAX computes this one
                    following = noise(pool, stop, min(stop + batch, total))
                for k, values in part.items():
                    effects[k][start:stop] = np.asarray(values)[: stop - start]
        out = []
        for i, block in enumerate(spec.design.blocks):
            in_first, col, q, _, _, _, k = term_blocks[i]
            if in_first:
                values = effects["first"][:, :, col : col + q]
            else:
                term = terms[k]
                start = layout["rest_offsets"][k]
                values = effects["rest"][:, start : start + term.size].reshape(
                    total, term.levels, term.q
                )[:, :, col : col + q]
            out.append(np.asarray(values).reshape(chains, draws, block.n_levels, q))
        return out
