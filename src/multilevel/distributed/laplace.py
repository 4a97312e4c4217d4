r"""The Laplace engine's estimates (lme4's ``glmer``, ``nAGQ = 1``) of a model whose rows are
on Dask.

The engine's optimisation (:class:`multilevel.engines.laplace._Problem`: :math:`\theta` with
:math:`\beta` in PIRLS, then :math:`\theta` and :math:`\beta` together) is unchanged; only
the PIRLS mode at each :math:`(\theta, \beta)` is found differently. Each Fisher-scoring step
is one pass over the partitions, whose designs stay on the workers: from the current
:math:`b = \Lambda_\theta u` and :math:`\beta` each partition computes its linear predictor,
the log density, and the weighted cross products of ``[Z X z]`` with the Fisher weights
:math:`w` and the working response :math:`z = \eta - o + s / w` (:math:`s` the score);
summed on the cluster, they give the next point as the penalized least-squares solution of
:class:`multilevel.linalg.profiled.PLS` (the IRLS form of the same Fisher step), and at the
mode :math:`\log|L|^2`. Step halving, as in
:func:`multilevel.linalg.pirls.find_mode`, takes one more pass per halving.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from multilevel.distributed._client import compute, tree_reduce
from multilevel.distributed.statistics import add_cross_products
from multilevel.engines.laplace import _Problem
from multilevel.errors import EngineError
from multilevel.linalg.crossprod import cross_products, effect_columns, random_terms
from multilevel.linalg.glm import GLMRows
from multilevel.linalg.pirls import Mode, lambda_matrix
from multilevel.linalg.profiled import PLS, ThetaLayout

__all__ = ["DaskLaplaceProblem"]


def _linear(d, b, beta) -> np.ndarray:
    """``offset + X beta + Z b`` of one partition's design."""
    eta = np.asarray(d.offset, float) + np.asarray(d.X, float) @ beta
    offset = 0
    for term in random_terms(d.blocks):
        blocks = [d.blocks[i] for i in term.blocks]
        Z = np.concatenate([np.asarray(k.Z, float) for k in blocks], axis=1)
        first = blocks[0]
        cols, vals = effect_columns(
            np.asarray(first.index, np.int64), np.asarray(first.weights, float), Z
        )
        eta += np.sum(vals * b[offset + cols], axis=1)
        offset += term.size
    return eta


def _step_sums(d, b, beta, family):
    """One partition at ``(b, beta)``: its log density and the cross products of ``[Z X z]``
    weighted by the Fisher weights (None for a partition without rows)."""
    if d is None:
        return None
    eta = _linear(d, b, beta)
    glm = GLMRows.of(family, d.y, d.trials)
    score, w = glm.score_and_weight(eta)
    w = np.maximum(w, 1e-300)
    working = eta - np.asarray(d.offset, float) + score / w
    weighted = replace(
        d, y=working, se=1.0 / np.sqrt(w), offset=np.broadcast_to(0.0, (len(working),))
    )
    return glm.log_density(eta), cross_products(weighted)


def _add(a, b):
    return a[0] + b[0], add_cross_products(a[1], b[1])


class _Effects:
    """What the engine's results read of the group-effect structure: ``terms``, ``Q`` and
    :math:`\\Lambda_\\theta` (:meth:`lam`)."""

    def __init__(self, design):
        self.terms = random_terms(design.blocks)
        self.layout = ThetaLayout.of(design, self.terms)
        self.Q = sum(t.size for t in self.terms)
        self._pattern = self.layout.pattern(self.terms)

    def lam(self, theta) -> sp.csr_matrix:
        return lambda_matrix(self._pattern, theta, self.Q)


class DaskLaplaceProblem(_Problem):
    """:class:`multilevel.engines.laplace._Problem` with PIRLS over a Dask frame's partitions
    (see the module docstring)."""

    def __init__(self, spec, nagq: int = 1):
        if nagq != 1 or spec.family.name == "negbinomial":
            raise EngineError(
                "on Dask the laplace engine fits bernoulli, binomial and poisson models with "
                "nagq=1; fit this one in memory (ddf.compute())"
            )
        source = spec.statistics.source
        self.spec, self.family = spec, source.family
        self.rd = _Effects(spec.design)
        self.layout = self.rd.layout
        self.p = len(spec.design.X_names)
        self.nb, self.nagq, self.level = False, 1, None
        self.designs = source.designs()
        self.evaluations = 0
        self.passes = 0
        self.u = np.zeros(self.rd.Q)
        self.beta = np.zeros(self.p)
        self.dense_columns = self.rd.Q + self.p
        # the GLM without group effects (theta = 0), where PIRLS starts
        self.beta = self._pirls(np.zeros(self.layout.size), self.u, self.beta, True).beta

    def _sums(self, theta, u, beta):
        from dask import delayed

        b = self.rd.lam(theta) @ u
        step = delayed(_step_sums, pure=True)
        tasks = [step(d, b, beta, self.family) for d in self.designs]
        (total,) = compute(tree_reduce(tasks, _add))
        self.passes += 1
        if total is None:
            raise EngineError("no partition of the Dask frame has a complete row")
        return total

    def _solve(self, cp, theta, beta, free_beta: bool):
        if not free_beta:  # u alone, with z - X beta as the response
            p = cp.p
            cp = replace(
                cp,
                Zty=cp.Zty - cp.ZtX @ beta,
                ZtX=np.zeros((cp.Q, 0)),
                XtX=np.zeros((0, 0)),
                Xty=np.zeros(0),
            )
            assert p == len(beta)
        return PLS(cp, self.layout)(theta)

    def _pirls(self, theta, u, beta, free_beta: bool, *, step_tol=1e-10, max_iterations=100):
        log_density, cp = self._sums(theta, u, beta)
        objective = log_density - 0.5 * float(u @ u)
        scale = max(1.0, abs(objective))
        iterations = 0
        while True:
            iterations += 1
            sol = self._solve(cp, theta, beta, free_beta)
            du = sol.u - u
            db = sol.beta - beta if free_beta else np.zeros(0)
            size = float(np.max(np.abs(np.concatenate([du, db])), initial=0.0))
            if size <= step_tol or iterations >= max_iterations:
                break  # at the mode: `sol` holds its weights' factor
            step = 1.0
            while True:
                u_new = u + step * du
                b_new = beta + step * db if free_beta else beta
                density_new, cp_new = self._sums(theta, u_new, b_new)
                value = density_new - 0.5 * float(u_new @ u_new)
                if np.isfinite(value) and value >= objective - 1e-13 * scale:
                    break
                step *= 0.5
                if step < 1e-10:
                    raise EngineError(
                        "PIRLS could not improve the penalized likelihood (step halving failed)"
                    )
            u, beta, cp, objective, log_density = u_new, b_new, cp_new, value, density_new
        covariance = sol.RX_inv if free_beta and self.p else None
        return Mode(
            u=u,
            beta=beta,
            eta=None,
            log_density=float(log_density),
            logdet=float(sol.logdet_L),
            diagonal=None,
            beta_covariance=covariance,
            iterations=iterations,
        )

    def mode(self, theta, beta, log_shape, *, free_beta: bool):
        mode = self._pirls(np.asarray(theta, float), self.u, np.asarray(beta, float), free_beta)
        self.u = mode.u
        if free_beta:
            self.beta = mode.beta
        self.evaluations += 1
        return mode, None
