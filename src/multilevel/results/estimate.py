"""Results of a REML / ML fit: :class:`PointFit` (lme4's ``merMod``, with brms names)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from multilevel import naming
from multilevel.distributed._client import is_dask_frame
from multilevel.errors import DataError, DataWarning
from multilevel.frame import row_list, to_pandas
from multilevel.posterior import Estimate
from multilevel.results.lme4 import per_group, varcorr_table
from multilevel.spec.model import ModelSpec
from multilevel.spec.statistics import require_rows

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

    def ranef(self, group: str | None = None):
        """Conditional modes of a group's deviations (lme4's ``ranef``); every grouping
        factor as ``{group: table}`` when ``group`` is None (lme4's ``ranef(m)``)."""
        return per_group(self.groups, self._ranef, group)

    def _ranef(self, group: str) -> pd.DataFrame:
        levels, coefs, values = self._group(group)
        return pd.DataFrame(values, index=levels.copy(), columns=coefs)

    def coef(self, group: str | None = None):
        """Each level's total coefficients: estimate + conditional mode (lme4's ``coef``);
        every grouping factor as ``{group: table}`` when ``group`` is None (lme4's
        ``coef(m)``)."""
        return per_group(self.groups, self._coef, group)

    def _coef(self, group: str) -> pd.DataFrame:
        table = self._ranef(group)
        x_names = list(self.spec.design.X_names)
        for coef in table.columns:
            if coef in x_names:
                table[coef] += self.estimate.estimates[self.spec.b_names[x_names.index(coef)]]
        return table

    def VarCorr(self) -> pd.DataFrame:  # noqa: N802 - lme4's name
        """Variance components as lme4's ``as.data.frame(VarCorr(m))``: columns ``grp,
        var1, var2, vcov, sdcor`` (see :func:`multilevel.results.lme4.varcorr_table`)."""
        return varcorr_table(self.spec, self.estimate.estimates)

    def diagnostics(self) -> list[str]:
        """Problems of the optimisation (empty if none): whether it converged, and for a
        Laplace fit where the approximation is known to be poor
        (:func:`multilevel.engines.laplace.approximation_notes`)."""
        out = []
        if not self.estimate.converged:
            out.append(
                f"the {self.method.upper()} optimisation did not converge "
                f"({self.estimate.message}); the estimates may be off"
            )
        if self.method == "laplace" and "Gauss-Hermite" not in self.estimate.reason:
            from multilevel.engines.laplace import approximation_notes

            out.extend(approximation_notes(self.spec))
        return out

    def fixef(self) -> pd.Series:
        """Population-level estimates, indexed by coefficient (lme4's ``fixef``)."""
        return pd.Series(
            [self.estimate.estimates[n] for n in self.spec.b_names],
            index=list(self.spec.design.X_names),
        )

    def predict(
        self, newdata=None, *, kind: str = "mean", new_groups: str = "error", seed=None
    ) -> pd.Series:
        """Predictions at the estimates, as lme4's ``predict(m, newdata)``.

        Parameters
        ----------
        newdata : data frame or dict of columns, optional
            Rows to predict for (default: the training rows, labelled as in the data they
            came from, rows left out for missing values absent).
        kind : {"mean", "linear"}
            ``"linear"``: ``offset + X b + Z r`` (lme4's ``type = "link"``); ``"mean"``: its
            inverse link, the expected response (the same for the identity link). There is
            no ``"response"``: a point fit has no draws to replicate data from (fit with
            ``method="exact"`` for posterior predictive draws).
        new_groups : {"error", "population"}
            A new level: ``"population"`` uses the population part only (lme4's
            ``allow.new.levels = TRUE``), ``"error"`` raises.
        seed : ignored
            Accepted so that code written for :meth:`Fit.predict
            <multilevel.results.fit.Fit.predict>` runs: predictions at the estimates are
            not random.
        """
        if is_dask_frame(newdata):  # lazily, partition by partition on the workers
            from multilevel.distributed.predict import predict_lazily

            return predict_lazily(self, newdata, kind=kind, new_groups=new_groups, seed=None)
        require_rows(self.spec, newdata)
        if kind not in ("mean", "linear"):
            raise ValueError(
                f"kind={kind!r}: a point fit predicts kind='mean' or 'linear'; replicated "
                "responses need draws (method='exact' or 'nuts')"
            )
        if new_groups not in ("error", "population"):
            raise DataError(
                f"new_groups={new_groups!r}: point estimates predict with 'error' or "
                "'population'; use method='exact' for draws of new groups"
            )
        if newdata is None:
            design = self.spec.design
            index = design.info.training_index.copy()  # the data's labels of the rows used
            return pd.Series(self._fitted(design, kind), index=index, name="estimate")
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
            out[~missing] = self._fitted(design, kind)
        index = frame.index.copy() if isinstance(newdata, pd.DataFrame) else None
        return pd.Series(out, index=index, name="estimate")

    def _fitted(self, design, kind: str = "linear") -> np.ndarray:
        """``X b + Z r`` of a design at the estimates, or its inverse link (``kind="mean"``)."""
        beta = np.array([self.estimate.estimates[n] for n in self.spec.b_names])
        eta = design.X @ beta + design.offset
        for block, values in zip(design.blocks, self.estimate.group_effects, strict=True):
            known = block.known
            index = np.where(known, block.index, 0)
            weights = np.where(known, block.weights, 0.0)
            for k in range(index.shape[1]):
                eta = eta + weights[:, k] * np.sum(block.Z * values[index[:, k]], axis=1)
        if kind == "mean":
            eta = self.spec.family.inverse_link(eta)
        return eta

    def save(self, path) -> Path:
        """Save the point fit to one file of data only; read it back with
        :func:`multilevel.load` (see :mod:`multilevel.results.storage`). After loading,
        ``summary()``, ``coef()``, ``ranef()``, ``fixef()`` and ``predict()`` give identical
        results.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists), e.g. ``"sleep.mlfit"``.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from multilevel.results.storage import save_fit

        return save_fit(self, path)

    def _repr_html_(self) -> str:
        """Compact HTML summary shown by Jupyter (see
        :func:`multilevel.results.html.point_html`)."""
        from multilevel.results.html import point_html

        return point_html(self)

    def __repr__(self) -> str:
        spec, est = self.spec, self.estimate
        table = self.summary().loc[list(spec.parameter_names)]
        return "\n".join(
            [
                f"PointFit ({est.method.upper()}): {spec.design.info.formula.text}",
                f"  observations: {spec.n_rows:,}   log-likelihood: {est.loglik:.4f}",
                f"  engine: {est.reason}",
                table.to_string(float_format=lambda v: f"{v:.5g}"),
            ]
        )
