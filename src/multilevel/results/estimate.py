"""Results of a REML / ML fit: :class:`PointFit` (lme4's ``merMod``, with brms names)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from multilevel import naming
from multilevel.errors import DataError, DataWarning
from multilevel.frame import row_list, to_pandas
from multilevel.posterior import Estimate
from multilevel.spec.model import ModelSpec

__all__ = ["PointFit"]


class PointFit:
    """Point estimates of a Gaussian multilevel model, as lme4 reports them.

    Parameters
    ----------
    spec : ModelSpec
    estimate : Estimate

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.fit("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"),
    ...              method="reml")
    >>> fit.summary().loc[["b_Intercept", "sigma"], "estimate"].round(3).tolist()
    [251.405, 25.592]
    >>> round(fit.loglik(), 3)
    -871.814
    """

    def __init__(self, spec: ModelSpec, estimate: Estimate):
        self.spec = spec
        self.estimate = estimate

    @property
    def method(self) -> str:
        """``"reml"`` or ``"ml"``."""
        return self.estimate.method

    @property
    def groups(self) -> tuple[str, ...]:
        """Names of the grouping factors, in formula order."""
        return tuple(dict.fromkeys(b.name for b in self.spec.design.blocks))

    def loglik(self) -> float:
        """The maximised log-likelihood (restricted for REML), as lme4's ``logLik``."""
        return float(self.estimate.loglik)

    def summary(self) -> pd.DataFrame:
        """One row per parameter (brms names), columns ``estimate`` and ``std_error``.

        Rows: ``b_*`` (standard errors from lme4's ``vcov``), ``sd_*``, ``cor_*``, ``sigma``
        (no standard errors, as lme4), then ``r_<group>[<level>,<coef>]``: the conditional
        modes (lme4's ``ranef``).
        """
        est = self.estimate
        names = list(self.spec.parameter_names)
        rows = {name: (est.estimates[name], est.std_errors[name]) for name in names}
        for group in self.groups:
            levels, coefs, values = self._group(group)
            for j, level in enumerate(levels):
                for c, coef in enumerate(coefs):
                    rows[naming.group_effect(group, level, coef)] = (values[j, c], np.nan)
        table = pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "std_error"])
        table.index.name = "parameter"
        return table

    def _group(self, group: str):
        blocks = [i for i, b in enumerate(self.spec.design.blocks) if b.name == group]
        if not blocks:
            raise KeyError(
                f"no grouping factor {group!r}; the grouping factors are " + ", ".join(self.groups)
            )
        design_blocks = self.spec.design.blocks
        coefs = [c for i in blocks for c in design_blocks[i].coef_names]
        values = np.concatenate([self.estimate.group_effects[i] for i in blocks], axis=1)
        return design_blocks[blocks[0]].levels, coefs, values

    def ranef(self, group: str) -> pd.DataFrame:
        """Conditional modes of a group's deviations (lme4's ``ranef``)."""
        levels, coefs, values = self._group(group)
        return pd.DataFrame(values, index=levels.copy(), columns=coefs)

    def coef(self, group: str) -> pd.DataFrame:
        """Each level's total coefficients: estimate + conditional mode (lme4's ``coef``)."""
        table = self.ranef(group)
        x_names = list(self.spec.design.X_names)
        for coef in table.columns:
            if coef in x_names:
                table[coef] += self.estimate.estimates[self.spec.b_names[x_names.index(coef)]]
        return table

    def fixef(self) -> pd.Series:
        """Population-level estimates, indexed by coefficient (lme4's ``fixef``)."""
        return pd.Series(
            [self.estimate.estimates[n] for n in self.spec.b_names],
            index=list(self.spec.design.X_names),
        )

    def predict(self, newdata=None, *, new_groups: str = "error") -> pd.Series:
        """Fitted means ``X b + Z r`` at the estimates (new levels: ``"population"`` uses
        the population part only, ``"error"`` raises); NaN, with a DataWarning, for rows of
        ``newdata`` with a missing value in a column the predictions need (as lme4)."""
        if new_groups not in ("error", "population"):
            raise DataError(
                f"new_groups={new_groups!r}: point estimates predict with 'error' or "
                "'population'; use method='exact' for draws of new groups"
            )
        if newdata is None:
            return pd.Series(self._fitted(self.spec.design), name="estimate")
        frame = to_pandas(newdata)
        design, missing = self.spec.design.info.transform_complete(frame, new_groups=new_groups)
        if missing.any():
            warnings.warn(
                f"{row_list(frame.index, missing)} of the new data "
                f"{'have' if missing.sum() > 1 else 'has'} missing values (NA) in columns"
                " the predictions need: their predictions are NaN (as predict() in lme4)",
                DataWarning,
                stacklevel=2,
            )
        out = np.full(len(frame), np.nan)
        if design is not None:
            out[~missing] = self._fitted(design)
        return pd.Series(out, name="estimate")

    def _fitted(self, design) -> np.ndarray:
        """``X b + Z r`` of a design at the estimates."""
        beta = np.array([self.estimate.estimates[n] for n in self.spec.b_names])
        eta = design.X @ beta + design.offset
        for block, values in zip(design.blocks, self.estimate.group_effects, strict=True):
            known = block.known
            index = np.where(known, block.index, 0)
            weights = np.where(known, block.weights, 0.0)
            for k in range(index.shape[1]):
                eta = eta + weights[:, k] * np.sum(block.Z * values[index[:, k]], axis=1)
        return eta

    def __repr__(self) -> str:
        spec, est = self.spec, self.estimate
        table = self.summary().loc[list(spec.parameter_names)]
        return "\n".join(
            [
                f"PointFit ({est.method.upper()}): {spec.design.info.formula.text}",
                f"  observations: {spec.design.n}   log-likelihood: {est.loglik:.4f}",
                f"  engine: gaussian ({est.reason})",
                table.to_string(float_format=lambda v: f"{v:.5g}"),
            ]
        )
