"""The entry-by-entry algebra of many small blocks (multilevel.linalg.blocks) agrees with
LAPACK's batched factorisation and solves, in NumPy and in JAX, values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from multilevel.linalg import blocks

LEVELS = 7


def _spd(q, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((LEVELS, q, q))
    return M @ np.swapaxes(M, 1, 2) + q * np.eye(q)


def _entries(batch):
    """``(levels, q, q)`` -> nested lists of ``(levels, ...)`` arrays."""
    return blocks.entries(np.moveaxis(batch, 0, -1))


def _lower(q, seed):
    rng = np.random.default_rng(seed)
    return np.tril(rng.standard_normal((q, q))) + 2 * np.eye(q)


@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_blocks_match_lapack_in_numpy(q):
    A = _spd(q, q)
    L = blocks.cholesky(_entries(A), np)
    expected = np.linalg.cholesky(A)
    for i in range(q):
        for j in range(i + 1):
            np.testing.assert_allclose(L[i][j], expected[:, i, j], rtol=1e-12)
        assert all(L[i][j] is None for j in range(i + 1, q))
    np.testing.assert_allclose(blocks.log_det(L, np), np.sum(np.linalg.slogdet(A)[1]), rtol=1e-12)

    b = np.random.default_rng(10 + q).standard_normal((LEVELS, q))
    solved = np.stack(blocks.lower_solve(L, list(b.T)), axis=-1)
    np.testing.assert_allclose(solved, np.linalg.solve(expected, b[..., None])[..., 0], rtol=1e-10)
    solved = np.stack(blocks.upper_solve(L, list(b.T)), axis=-1)
    upper = np.swapaxes(expected, 1, 2)
    np.testing.assert_allclose(solved, np.linalg.solve(upper, b[..., None])[..., 0], rtol=1e-10)

    # several right-hand sides per level: b[i] of shape (levels, k)
    B = np.random.default_rng(20 + q).standard_normal((LEVELS, q, 5))
    solved = np.stack(blocks.lower_solve(L, list(np.moveaxis(B, 1, 0))), axis=1)
    np.testing.assert_allclose(solved, np.linalg.solve(expected, B), rtol=1e-10)


@pytest.mark.parametrize("q", [1, 2, 3])
def test_congruence_and_products(q):
    G = _spd(q, 30 + q)
    lam = _lower(q, 40 + q)
    A = blocks.congruence(blocks.lower_entries(lam), _entries(G))
    expected = lam.T @ G @ lam + np.eye(q)
    for i in range(q):
        for j in range(i + 1):
            np.testing.assert_allclose(A[i][j], expected[:, i, j], rtol=1e-12)
    v = np.random.default_rng(50 + q).standard_normal((LEVELS, q))
    lower = blocks.lower_entries(lam)
    np.testing.assert_allclose(
        np.stack(blocks.transpose_times(lower, list(v.T)), axis=-1), v @ lam, rtol=1e-12
    )
    np.testing.assert_allclose(np.stack(blocks.times(lower, list(v.T)), axis=-1), v @ lam.T)


@pytest.mark.parametrize("q", [1, 2, 3])
def test_gradients_match_lapack_in_jax(q):
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    with jax.enable_x64(True):
        G = jnp.asarray(_spd(q, 60 + q))
        b = jnp.asarray(np.random.default_rng(70 + q).standard_normal((LEVELS, q)))
        lam0 = jnp.asarray(_lower(q, 80 + q))

        def ours(lam):
            A = blocks.congruence(blocks.lower_entries(lam), blocks.entries(jnp.moveaxis(G, 0, -1)))
            L = blocks.cholesky(A, jnp)
            w = blocks.lower_solve(L, blocks.transpose_times(blocks.lower_entries(lam), list(b.T)))
            return blocks.log_det(L, jnp) + sum(jnp.sum(x * x) for x in w)

        def lapack(lam):
            A = lam.T @ G @ lam + jnp.eye(q)
            L = jnp.linalg.cholesky(A)
            w = jsl.solve_triangular(L, (b @ lam)[..., None], lower=True)[..., 0]
            return 2 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=1, axis2=2))) + jnp.sum(w**2)

        np.testing.assert_allclose(ours(lam0), lapack(lam0), rtol=1e-12)
        np.testing.assert_allclose(
            jnp.tril(jax.grad(ours)(lam0)), jnp.tril(jax.grad(lapack)(lam0)), rtol=1e-9, atol=1e-12
        )
