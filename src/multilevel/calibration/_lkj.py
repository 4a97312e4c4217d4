r"""Draws of correlation matrices from the LKJ distribution, in numpy (the onion method).

:math:`\mathrm{LKJ}(\eta)` on :math:`q \times q` correlation matrices has density
proportional to :math:`\det(\Omega)^{\eta - 1}`; each off-diagonal correlation has the
marginal :math:`2\,\mathrm{Beta}(b, b) - 1` with :math:`b = \eta - 1 + q/2` (Lewandowski,
Kurowicka & Joe 2009). The onion method builds the lower Cholesky factor row by row: row
:math:`k` is :math:`(\sqrt{y}\,u, \sqrt{1 - y})` with :math:`u` uniform on the unit sphere of
dimension :math:`k` and :math:`y \sim \mathrm{Beta}(k/2, \eta + (q - 1 - k)/2)` (the same
construction as NumPyro's ``LKJCholesky(method="onion")``).

Examples
--------
>>> import numpy as np
>>> L = lkj_cholesky(3, 2.0, np.random.default_rng(0))
>>> omega = L @ L.T
>>> np.allclose(np.diag(omega), 1.0), bool(np.all(np.linalg.eigvalsh(omega) > 0))
(True, True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["lkj_cholesky"]


def lkj_cholesky(q: int, eta: float, rng: np.random.Generator) -> np.ndarray:
    """One lower Cholesky factor ``(q, q)`` of a correlation matrix drawn from LKJ(eta).

    Parameters
    ----------
    q : int
        Dimension (number of coefficients of the block), at least 1.
    eta : float
        LKJ concentration, positive: 1 is uniform over correlation matrices, larger values
        concentrate near the identity.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``L`` with ``L @ L.T`` the correlation matrix.
    """
    if q < 1 or eta <= 0:
        raise ValueError(f"lkj_cholesky needs q >= 1 and eta > 0, got q={q}, eta={eta}")
    out = np.zeros((q, q))
    out[0, 0] = 1.0
    for k in range(1, q):
        y = rng.beta(k / 2.0, eta + (q - 1 - k) / 2.0)
        u = rng.standard_normal(k)
        u /= np.linalg.norm(u)
        out[k, :k] = np.sqrt(y) * u
        out[k, k] = np.sqrt(1.0 - y)
    return out
