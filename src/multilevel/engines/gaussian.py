"""The exact gaussian engine (``method="exact"``): full Bayes for gaussian models with the
group effects and population coefficients integrated out (:mod:`multilevel.engines.collapsed`).
The same models' REML / ML point estimates are :mod:`multilevel.engines.reml`.
"""

from __future__ import annotations

from multilevel.engines.protocol import SamplerSettings, Support
from multilevel.errors import EngineError

__all__ = ["GaussianEngine", "gaussian_support"]


def gaussian_support(spec) -> Support:
    """Gaussian family, identity link, no distributional formulas, no ``weights()``."""
    family = spec.family
    if family.name != "gaussian" or family.link != "identity":
        return Support(False, f"the {family} family is not gaussian with identity link")
    if spec.dpars:
        return Support(False, "a family parameter has its own formula")
    if spec.design.weights is not None:
        return Support(False, "weights() are not supported by the exact gaussian engine")
    if not spec.design.blocks:
        return Support(False, "the model has no group terms")
    n_theta = sum(
        b.q * (b.q + 1) // 2 if b.correlated and b.q > 1 else b.q for b in spec.design.blocks
    )
    return Support(
        True,
        f"gaussian family, {n_theta} variance parameter(s): group effects and "
        "coefficients integrate out exactly",
    )


class GaussianEngine:
    """Exact inference for gaussian-family multilevel models with identity link."""

    name = "gaussian"
    methods = ("exact",)
    fits_statistics = True  # reads only the cross products (data on Dask)
    auto_label = "exact, "

    def supports(self, spec) -> Support:
        """Gaussian family, identity link, no distributional formulas, no ``weights()``."""
        return gaussian_support(spec)

    def fit(self, spec, settings: SamplerSettings, *, reason: str = ""):
        """Full Bayes: NUTS or independence Metropolis-Hastings on the population
        coefficients and variance parameters with the group effects integrated out, then
        exact draws of the group effects (:mod:`multilevel.engines.collapsed`).

        Returns
        -------
        Posterior
        """
        from multilevel.engines.collapsed import CollapsedGaussian

        support = self.supports(spec)
        if not support:
            raise EngineError(f"the exact gaussian engine cannot fit this model: {support.reason}")
        return CollapsedGaussian(settings).fit(spec, reason=reason or support.reason)
