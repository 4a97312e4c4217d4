"""Covariance blocks: what one group term's group-level deviations share.

A group term such as ``(1 + x | g)`` gives its levels' coefficients a zero-mean normal
distribution with covariance ``diag(sd) Omega diag(sd)``. A :class:`CovarianceBlock` holds
what every engine and the results need to know of it: its group and coefficients, whether
it is correlated, the names of its standard deviations and correlations, the order of the
correlations (``(0, 1), (0, 2), ..., (1, 2), ...``: the upper triangle row by row, as brms
names them), the key of its deviations among the draws, and the conversions between SDs and
correlations and covariance matrices.

Examples
--------
>>> import numpy as np
>>> correlation_pairs(3)
[(0, 1), (0, 2), (1, 2)]
>>> omega = correlation_matrix(np.array([0.5, -0.2, 0.1]), 3)
>>> correlations(omega).tolist()
[0.5, -0.2, 0.1]
>>> block = CovarianceBlock.of(0, "g", ("Intercept", "x"), correlated=True)
>>> block.sd_names, block.cor_names, block.key
(('sd_g__Intercept', 'sd_g__x'), ('cor_g__Intercept__x',), 'r_block0')
>>> cov = block.covariance(np.array([2.0, 1.0]), np.array([0.5]))
>>> cov.tolist()
[[4.0, 1.0], [1.0, 1.0]]
>>> block.named(cov)
{'sd_g__Intercept': 2.0, 'sd_g__x': 1.0, 'cor_g__Intercept__x': 0.5}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from multilevel import naming

__all__ = ["CovarianceBlock", "correlation_matrix", "correlation_pairs", "correlations"]


def correlation_pairs(q: int) -> list[tuple[int, int]]:
    """The ``(row, column)`` of each correlation of a ``q``-coefficient block, in order."""
    return [(a, b) for a in range(q) for b in range(a + 1, q)]


def correlations(matrix: np.ndarray) -> np.ndarray:
    """``(..., q(q-1)/2)`` correlations, in :func:`correlation_pairs` order, of ``(..., q, q)``
    correlation matrices."""
    matrix = np.asarray(matrix)
    rows, cols = np.triu_indices(matrix.shape[-1], k=1)  # row by row: the same order
    return matrix[..., rows, cols]


def correlation_matrix(values: np.ndarray, q: int) -> np.ndarray:
    """``(..., q, q)`` correlation matrices from ``(..., q(q-1)/2)`` correlations."""
    values = np.asarray(values, dtype=float)
    out = np.broadcast_to(np.eye(q), values.shape[:-1] + (q, q)).copy()
    rows, cols = np.triu_indices(q, k=1)
    out[..., rows, cols] = values
    out[..., cols, rows] = values
    return out


@dataclass(frozen=True)
class CovarianceBlock:
    """The covariance of one design block's group-level deviations.

    Parameters
    ----------
    index : int
        The block's position among its formula's design blocks.
    group : str
        The grouping factor (``"g"``, ``"school:class"``).
    coefficients : tuple of str
        Its coefficients' names as written in parameter names (``"Intercept"``, ``"x"``).
    correlated : bool
        Whether the coefficients' correlations are parameters (``|`` with at least two
        coefficients; ``||`` and one-coefficient blocks are not).
    dpar : str, optional
        The family parameter whose formula the block belongs to (None for the mean).
    sd_names, cor_names : tuple of str
        The brms names of its SDs (one per coefficient) and of its correlations (in
        :func:`correlation_pairs` order; empty when not correlated).
    """

    index: int
    group: str
    coefficients: tuple[str, ...]
    correlated: bool
    dpar: str | None
    sd_names: tuple[str, ...]
    cor_names: tuple[str, ...]

    @classmethod
    def of(
        cls, index: int, group: str, coefficients, *, correlated: bool, dpar: str | None = None
    ) -> CovarianceBlock:
        """The block of a group term, its names built by :mod:`multilevel.naming`."""
        coefficients = tuple(naming.clean_all(coefficients))
        correlated = bool(correlated) and len(coefficients) >= 2
        sds = tuple(naming.sd(group, c, dpar) for c in coefficients)
        cors = tuple(
            naming.cor(group, coefficients[i], coefficients[j], dpar1=dpar, dpar2=dpar)
            for i, j in correlation_pairs(len(coefficients))
        )
        return cls(index, group, coefficients, correlated, dpar, sds, cors if correlated else ())

    @property
    def q(self) -> int:
        """The number of coefficients."""
        return len(self.coefficients)

    @property
    def key(self) -> str:
        """Key of the block's deviations, ``(chains, draws, levels, q)``, among the draws."""
        return naming.block_key(self.index, self.dpar)

    @property
    def names(self) -> tuple[str, ...]:
        """The SD names, then the correlation names."""
        return self.sd_names + self.cor_names

    def covariance(self, sd: np.ndarray, cor: np.ndarray | None = None) -> np.ndarray:
        """``(..., q, q)`` covariance matrices from ``(..., q)`` SDs and ``(..., q(q-1)/2)``
        correlations (None, or ignored, when the block is not correlated)."""
        sd = np.asarray(sd, dtype=float)
        if not self.correlated or cor is None:
            return sd[..., :, None] * np.eye(self.q) * sd[..., None, :]
        return sd[..., :, None] * correlation_matrix(cor, self.q) * sd[..., None, :]

    def scale_factor(self, sd: np.ndarray, cor: np.ndarray | None = None) -> np.ndarray:
        """``(..., q, q)`` matrices ``A`` with ``A A^T`` the covariance: ``z @ A.T`` turns
        standard normal ``(..., q)`` rows ``z`` into draws of the block's deviations."""
        sd = np.asarray(sd, dtype=float)
        if not self.correlated or cor is None:
            return sd[..., :, None] * np.eye(self.q)
        omega = correlation_matrix(cor, self.q)
        try:
            root = np.linalg.cholesky(omega)
        except np.linalg.LinAlgError:  # a draw on the boundary (|cor| = 1 in single precision)
            values, vectors = np.linalg.eigh(omega)
            root = vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]
        return sd[..., :, None] * root

    def named(self, covariance: np.ndarray) -> dict[str, np.ndarray | float]:
        """The SDs and correlations of ``(..., q, q)`` covariance matrices, by name (floats
        for a single matrix)."""
        cov = np.asarray(covariance, dtype=float)
        sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
        out = dict(zip(self.sd_names, np.moveaxis(sd, -1, 0), strict=True))
        if self.correlated:
            with np.errstate(invalid="ignore", divide="ignore"):
                omega = cov / (sd[..., :, None] * sd[..., None, :])
            out.update(zip(self.cor_names, np.moveaxis(correlations(omega), -1, 0), strict=True))
        return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in out.items()}

    def named_correlations(self, cholesky: np.ndarray) -> dict[str, np.ndarray]:
        """The correlations, by name, of correlation matrices given by their ``(..., q, q)``
        lower Cholesky factors (how the samplers hold them)."""
        cholesky = np.asarray(cholesky)
        values = correlations(cholesky @ np.swapaxes(cholesky, -1, -2))
        return {name: values[..., k] for k, name in enumerate(self.cor_names)}

    def gather(
        self, values: Mapping[str, np.ndarray], flat=np.asarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(sd, cor)`` stacked on a last axis from named ``values`` (draws), each first
        passed through ``flat``; ``cor`` is None when the block is not correlated."""
        sd = np.stack([flat(values[n]) for n in self.sd_names], axis=-1)
        if not self.correlated:
            return sd, None
        return sd, np.stack([flat(values[n]) for n in self.cor_names], axis=-1)
