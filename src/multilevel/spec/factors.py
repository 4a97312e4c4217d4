r"""The prior of a factor term ``factors(user, item, k, item_group = artist)``.

Each side's factors are gaussian with a Wishart-distributed precision, as in Bayesian
probabilistic matrix factorization (Salakhutdinov & Mnih 2008):

.. math::

    u_i \sim N(m_{g(i)}, \Lambda_u^{-1}), \quad v_j \sim N(w_{a(j)}, \Lambda_v^{-1}), \quad
    m, w \sim N(0, \Lambda_m^{-1}), N(0, \Lambda_w^{-1}), \quad
    \Lambda \sim \mathrm{Wishart}(\nu_0, W_0),

where ``g(i)`` is the user's group (``user_group``) and ``a(j)`` the item's (``item_group``,
an artist); a side without a group column has one common mean, the one-level set
``"<column>:mean"`` (BPMF's hierarchical means). Implicit counts (``implicit = TRUE``) have
gamma factors instead (:mod:`multilevel.engines.factorization._implicit`).
Every precision has the same data-scaled prior: :math:`\nu_0 = k + 2` and :math:`W_0 = I /
(\nu_0 s^2)`, so :math:`E[\Lambda] = I / s^2` with :math:`s^2 = \mathrm{sd}(y) / \sqrt{k}`:
the prior SD of ``u · v`` is about the response's SD.

A rotation of the factors, or scaling the users' by ``c`` and the items' by ``1 / c``, leaves
the model unchanged, so the factors and their scales are not identified one by one. The fit
reports what such moves leave unchanged: ``sd_factors``, the SD of ``u · v`` over the
training rows (the factors' variance component), and for a grouped side ``share_<group>__
factors``, :math:`\mathrm{tr}(\Lambda_w^{-1}) / (\mathrm{tr}(\Lambda_w^{-1}) +
\mathrm{tr}(\Lambda_v^{-1}))`, the share of its factors' variance that the groups explain
(how strongly items shrink toward their artist). The scale of each set,
``sd_<column>__factors`` (:math:`\sqrt{\mathrm{tr}(\Lambda^{-1}) / k}`), is among the draws
but not the reported parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multilevel import naming

__all__ = ["FactorSpec", "factor_spec"]


@dataclass(frozen=True)
class FactorSpec:
    """The factor term's sets of factors, their names and their Wishart prior.

    Parameters
    ----------
    k : int
        Factors per level.
    sets : tuple of str
        The sets of factors: users, items, then the users' and the items' prior means (their
        group column, or ``"<column>:mean"``), e.g. ``("user", "item", "user:mean",
        "artist")``; users and items only for implicit counts.
    sd_names : tuple of str
        ``sd_<column>__factors`` for each of ``sets``.
    reported : tuple of str
        ``sd_factors``, then ``share_<group>__factors`` for each group column.
    shares : tuple of (str, int, int)
        For each group column: its reported name, its position in ``sets`` and the position
        of the set it groups.
    prior_df, prior_scale : float
        :math:`\nu_0` and :math:`s` (module docstring).
    """

    k: int
    sets: tuple[str, ...]
    sd_names: tuple[str, ...]
    reported: tuple[str, ...]
    shares: tuple[tuple[str, int, int], ...]
    prior_df: float
    prior_scale: float

    @property
    def prior_wishart_scale(self) -> np.ndarray:
        """:math:`W_0 = I / (\\nu_0 s^2)`."""
        return np.eye(self.k) / (self.prior_df * self.prior_scale**2)


def factor_spec(factors, sd_y: float) -> FactorSpec:
    """The :class:`FactorSpec` of a :class:`~multilevel.design.FactorDesign`.

    Examples
    --------
    >>> from multilevel.formula.terms import FactorTerm
    >>> class D:  # a stand-in for a FactorDesign
    ...     term = FactorTerm("user", "song", 4, item_group="artist"); k = 4
    >>> f = factor_spec(D, 2.0)
    >>> f.sets
    ('user', 'song', 'user:mean', 'artist')
    >>> f.reported, f.shares, f.prior_df, f.prior_scale
    (('sd_factors', 'share_artist__factors'), (('share_artist__factors', 3, 1),), 6.0, 1.0)
    """
    term = factors.term
    sets = (term.user, term.item)
    shares = ()
    if not term.implicit:
        for position, (column, group) in enumerate(
            ((term.user, term.user_group), (term.item, term.item_group))
        ):
            sets += (group or naming.factor_mean_set(column),)
            if group is not None:
                name = f"share_{naming.clean(group)}__factors"
                shares += ((name, len(sets) - 1, position),)
    k = term.k
    return FactorSpec(
        k=k,
        sets=sets,
        sd_names=tuple(naming.sd(c, "factors") for c in sets),
        reported=("sd_factors",) + tuple(name for name, _, _ in shares),
        shares=shares,
        prior_df=float(k + 2),
        prior_scale=float(np.sqrt(sd_y / np.sqrt(k))),
    )
