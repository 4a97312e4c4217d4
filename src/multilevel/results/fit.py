"""The results of a fit: :class:`Fit` (summary, lme4-style coefficients, ArviZ export)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from multilevel import naming
from multilevel.engines.base import Posterior
from multilevel.spec.model import ModelSpec

__all__ = ["Fit", "SUMMARY_COLUMNS"]

#: Columns of :meth:`Fit.summary`.
SUMMARY_COLUMNS = (
    "mean",
    "sd",
    "q5",
    "q50",
    "q95",
    "mcse_mean",
    "mcse_sd",
    "ess_bulk",
    "ess_tail",
    "r_hat",
)
_STATS = ("mean", "sd", "median", "q5", "q95")


class Fit:
    """A fitted model: the spec it came from and the engine's posterior draws.

    Parameters
    ----------
    spec : ModelSpec
    posterior : Posterior

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.fit("y | se(sigma) ~ 1 + (1 | school)", ml.datasets.load("eight_schools"),
    ...              chains=2, draws=200, warmup=200, seed=1, progress=False)  # doctest: +SKIP
    >>> fit.summary().loc["b_Intercept", "mean"]  # doctest: +SKIP
    """

    def __init__(self, spec: ModelSpec, posterior: Posterior):
        self.spec = spec
        self.posterior = posterior

    # -- groups ------------------------------------------------------------------------------

    @property
    def groups(self) -> tuple[str, ...]:
        """Names of the grouping factors, in formula order."""
        return tuple(dict.fromkeys(b.name for b in self.spec.design.blocks))

    def _group(self, group: str) -> tuple[pd.Index, list[str], np.ndarray]:
        """Levels, coefficient names and ``(chains, draws, levels, q)`` deviations of a group."""
        blocks = [i for i, b in enumerate(self.spec.design.blocks) if b.name == group]
        if not blocks:
            raise KeyError(
                f"no grouping factor {group!r}; the grouping factors are "
                + (", ".join(self.groups) or "(none)")
            )
        design_blocks = self.spec.design.blocks
        levels = design_blocks[blocks[0]].levels
        coefs: list[str] = []
        arrays = []
        for i in blocks:
            if not design_blocks[i].levels.equals(levels):  # pragma: no cover - defensive
                raise ValueError(f"blocks of group {group!r} have different levels")
            coefs.extend(design_blocks[i].coef_names)
            arrays.append(self.posterior.draws[f"r_block{i}"])
        return levels, coefs, np.concatenate(arrays, axis=-1)

    # -- ArviZ -------------------------------------------------------------------------------

    @functools.cached_property
    def _idata(self):
        import arviz as az

        post = self.posterior
        spec = self.spec
        posterior = {name: post.draws[name] for name in spec.parameter_names}
        coords: dict[str, list] = {}
        dims: dict[str, list[str]] = {}
        for group in self.groups:
            levels, coefs, r = self._group(group)
            var = f"r_{naming.clean(group)}"
            level_dim, coef_dim = naming.clean(group), f"{naming.clean(group)}__coef"
            posterior[var] = r
            coords[level_dim] = [str(level) for level in levels]
            coords[coef_dim] = naming.clean_all(coefs)
            dims[var] = [level_dim, coef_dim]
        kwargs = {}
        if post.log_likelihood is not None:
            kwargs["log_likelihood"] = {"y": post.log_likelihood}
            dims["y"] = ["obs"]
        coords["obs"] = list(range(spec.design.n))
        return az.from_dict(
            posterior=posterior,
            sample_stats=dict(post.sample_stats),
            observed_data={"y": np.asarray(spec.design.y)},
            coords=coords,
            dims=dims,
            **kwargs,
        )

    def to_arviz(self):
        """The draws as an ArviZ ``InferenceData`` (posterior, sample_stats, observed_data,
        log_likelihood). Group deviations are one variable per group, ``r_<group>``, with
        dimensions (level, coefficient)."""
        return self._idata

    # -- summaries ---------------------------------------------------------------------------

    @functools.cached_property
    def _summary(self) -> pd.DataFrame:
        import arviz as az

        idata = self._idata
        names = list(self.spec.parameter_names)
        index = list(names)
        for group in self.groups:
            levels, coefs, _ = self._group(group)
            index += [naming.group_effect(group, lv, c) for lv in levels for c in coefs]
        table = az.summary(idata, kind="all", round_to="none")
        table = table.drop(columns=[c for c in table.columns if c.startswith("hdi_")])
        if len(table) != len(index):  # pragma: no cover - defensive
            raise AssertionError("summary rows do not match parameter names")
        table.index = pd.Index(index, name="parameter")
        flat = [
            np.asarray(idata.posterior[var].values).reshape(
                idata.posterior[var].shape[0] * idata.posterior[var].shape[1], -1
            )
            for var in idata.posterior.data_vars
        ]
        values = np.concatenate(flat, axis=1)
        q = np.quantile(values, [0.05, 0.5, 0.95], axis=0)
        table["q5"], table["q50"], table["q95"] = q[0], q[1], q[2]
        return table[list(SUMMARY_COLUMNS)]

    def summary(self) -> pd.DataFrame:
        """Posterior summary, one row per parameter, indexed by brms names.

        Rows: ``b_<coef>``, ``sd_<group>__<coef>``, ``cor_<group>__<c1>__<c2>``, family
        parameters (``sigma``, ...), then ``r_<group>[<level>,<coef>]``. Columns: ``mean,
        sd, q5, q50, q95, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat`` (rank-normalised
        split R-hat and ESS, Vehtari et al. 2021, via ArviZ).
        """
        return self._summary.copy()

    def coef(self, group: str, stat: str = "mean") -> pd.DataFrame:
        """Each level's total coefficients (population-level + group deviation), as lme4.

        Parameters
        ----------
        group : str
            A grouping factor (``"county"``, ``"a:b"``).
        stat : {"mean", "sd", "median", "q5", "q95"}
            Posterior statistic of each level's total coefficient.

        Returns
        -------
        pandas.DataFrame
            Index: the group's levels as in the data; columns: its varying coefficients
            (``Intercept``, ``floor``, ...). A varying coefficient without a population-level
            counterpart (``(0 + x | g)`` without ``x`` outside) is the deviation alone.
        """
        return self._per_level(group, stat, total=True)

    def coef_draws(self, group: str, *, total: bool = True) -> np.ndarray:
        """Draws of each level's coefficients, ``(chains, draws, levels, q)``.

        ``total=True`` gives population-level + deviation (the draws behind :meth:`coef`),
        ``total=False`` the deviations alone (behind :meth:`ranef`). Levels and columns are
        in the order of ``coef(group)``'s index and columns.
        """
        _, coefs, r = self._group(group)
        if not total:
            return r.copy()
        r = r.copy()
        x_names = list(self.spec.design.X_names)
        for j, c in enumerate(coefs):
            if c in x_names:
                r[..., j] += self.posterior.draws[self.spec.b_names[x_names.index(c)]][..., None]
        return r

    def ranef(self, group: str, stat: str = "mean") -> pd.DataFrame:
        """Each level's deviations from the population-level coefficients (lme4's ranef)."""
        return self._per_level(group, stat, total=False)

    def _per_level(self, group: str, stat: str, *, total: bool) -> pd.DataFrame:
        if stat not in _STATS:
            raise ValueError(f"stat must be one of {', '.join(_STATS)}, got {stat!r}")
        levels, coefs, _ = self._group(group)
        r = self.coef_draws(group, total=total)
        r = r.reshape((-1,) + r.shape[2:])  # (S, levels, q)
        if stat == "mean":
            out = r.mean(axis=0)
        elif stat == "sd":
            out = r.std(axis=0, ddof=1)
        elif stat == "median":
            out = np.median(r, axis=0)
        else:
            out = np.quantile(r, 0.05 if stat == "q5" else 0.95, axis=0)
        return pd.DataFrame(out, index=levels.copy(), columns=list(coefs))

    def diagnostics(self) -> list[str]:
        """Convergence problems found in the draws, each with advice (empty if none)."""
        from multilevel.results.diagnostics import convergence_messages

        return convergence_messages(
            self._summary,
            self.posterior.sample_stats,
            max_tree_depth=self.posterior.settings.get("max_tree_depth"),
        )

    def __repr__(self) -> str:
        spec, post = self.spec, self.posterior
        lines = [
            f"Fit: {spec.design.info.formula.text}",
            f"  family: {spec.family}   observations: {spec.design.n}",
            f"  engine: {post.engine} ({post.reason})",
            f"  draws: {post.n_chains} chains x {post.n_draws}",
        ]
        for group in self.groups:
            lines.append(f"  group {group}: {len(self._group(group)[0])} levels")
        table = self._summary.loc[list(spec.parameter_names), ["mean", "sd", "q5", "q95", "r_hat"]]
        lines.append(table.to_string(float_format=lambda v: f"{v:.3g}"))
        return "\n".join(lines)
