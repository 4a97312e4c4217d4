"""The exact engine's closed-form Cholesky factors and triangular solves of small blocks agree
with LAPACK's, values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from multilevel.engines.collapsed import _small_cholesky, _small_lower_solve, _small_upper_solve


def _spd(levels, q, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((levels, q, q))
    return M @ np.swapaxes(M, 1, 2) + q * np.eye(q)


@pytest.mark.parametrize("q", [1, 2, 3])
def test_small_blocks_match_lapack(q):
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    with jax.enable_x64(True):
        A = jnp.asarray(_spd(7, q, q))
        b = jnp.asarray(np.random.default_rng(10 + q).standard_normal((7, q)))
        B = jnp.asarray(np.random.default_rng(20 + q).standard_normal((7, q, 4)))
        L = _small_cholesky(A, jnp)
        np.testing.assert_allclose(L, np.linalg.cholesky(np.asarray(A)), rtol=1e-12)
        expected = jsl.solve_triangular(L, b[..., None], lower=True)[..., 0]
        np.testing.assert_allclose(_small_lower_solve(L, b, jnp, jsl), expected, rtol=1e-12)
        expected = jsl.solve_triangular(L, B, lower=True)
        np.testing.assert_allclose(_small_lower_solve(L, B, jnp, jsl), expected, rtol=1e-12)

        expected = jsl.solve_triangular(jnp.swapaxes(L, 1, 2), b[..., None], lower=False)[..., 0]
        np.testing.assert_allclose(_small_upper_solve(L, b, jnp, jsl), expected, rtol=1e-12)

        # gradients through a symmetric matrix built from parameters, as in the engine
        M = jnp.asarray(np.random.default_rng(30 + q).standard_normal((7, q, q)))

        def ours(M):
            A = M @ jnp.swapaxes(M, 1, 2) + q * jnp.eye(q)
            L = _small_cholesky(A, jnp)
            return jnp.sum(jnp.log(jnp.diagonal(L, axis1=1, axis2=2))) + jnp.sum(
                _small_lower_solve(L, b, jnp, jsl) ** 2
            )

        def lapack(M):
            A = M @ jnp.swapaxes(M, 1, 2) + q * jnp.eye(q)
            L = jnp.linalg.cholesky(A)
            w = jsl.solve_triangular(L, b[..., None], lower=True)[..., 0]
            return jnp.sum(jnp.log(jnp.diagonal(L, axis1=1, axis2=2))) + jnp.sum(w**2)

        np.testing.assert_allclose(jax.grad(ours)(M), jax.grad(lapack)(M), rtol=1e-9, atol=1e-12)
