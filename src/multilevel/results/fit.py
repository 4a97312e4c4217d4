"""The results of a fit: :class:`Fit` (summary, lme4-style coefficients, predictions,
PSIS-LOO, ArviZ export, saving to a file)."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from multilevel import naming
from multilevel.distributed._client import is_dask_frame
from multilevel.errors import ConvergenceWarning, DataError, DataWarning
from multilevel.posterior import Posterior
from multilevel.posterior.mcmc_stats import COLUMNS
from multilevel.results import arviz_bridge
from multilevel.results.lme4 import per_group, varcorr_table
from multilevel.results.predict import predict_draws, summarize_draws
from multilevel.spec.model import ModelSpec
from multilevel.spec.statistics import require_rows

__all__ = ["Fit", "SUMMARY_COLUMNS"]

#: Columns of :meth:`Fit.summary`: those of :func:`~.mcmc_stats.summary_statistics`.
SUMMARY_COLUMNS = COLUMNS
_STATS = ("mean", "sd", "median", "q5", "q95")
#: chains * draws * rows above which ``to_arviz`` leaves out the posterior predictive draws
#: (as the NUTS engine leaves out the log-likelihood).
MAX_PREDICTIVE_VALUES = 50_000_000
#: Seed of the posterior predictive draws of ``to_arviz`` when the posterior records none.
PREDICTIVE_SEED = 0


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

    def _parts(self):
        """``(parameter, blocks)`` of the mean's formula, then of each distributional
        formula (``parameter`` None for the mean): each design block with its covariance
        block."""
        yield None, tuple(zip(self.spec.design.blocks, self.spec.covariance, strict=True))
        for name, part in getattr(self.spec, "dpars", {}).items():
            blocks = self.spec.design.dpars[name].blocks
            yield name, tuple(zip(blocks, part.covariance, strict=True))

    @property
    def groups(self) -> tuple[str, ...]:
        """Names of the grouping factors, in formula order."""
        return tuple(dict.fromkeys(b.name for _, blocks in self._parts() for b, _ in blocks))

    def _group(self, group: str) -> tuple[pd.Index, list[str], np.ndarray]:
        """Levels, coefficient names and ``(chains, draws, levels, q)`` deviations of a group.

        Coefficients of a distributional formula are prefixed by their parameter
        (``sigma_Intercept``).
        """
        levels, coefs, arrays = None, [], []
        for parameter, blocks in self._parts():
            for block, covariance in blocks:
                if block.name != group:
                    continue
                if levels is None:
                    levels = block.levels
                elif not block.levels.equals(levels):  # pragma: no cover - defensive
                    raise ValueError(f"blocks of group {group!r} have different levels")
                coefs.extend(
                    c if parameter is None else f"{parameter}_{c}" for c in block.coef_names
                )
                arrays.append(self.posterior.draws[covariance.key])
        if levels is None:
            raise KeyError(
                f"no grouping factor {group!r}; the grouping factors are "
                + (", ".join(self.groups) or "(none)")
            )
        return levels, coefs, np.concatenate(arrays, axis=-1)

    def _group_coefs(self, group: str) -> list[tuple[str | None, str]]:
        """``(parameter, coefficient)`` of each column of ``_group(group)``."""
        return [
            (parameter, c)
            for parameter, blocks in self._parts()
            for block, _ in blocks
            if block.name == group
            for c in block.coef_names
        ]

    # -- ArviZ -------------------------------------------------------------------------------

    def _arviz_dict(self) -> tuple[dict, dict, dict]:
        """Posterior variables, coordinates and dimensions for ArviZ."""
        post = self.posterior
        posterior = {name: post.draws[name] for name in self.spec.parameter_names}
        coords: dict[str, list] = {"obs": list(range(self.spec.design.n))}
        dims: dict[str, list[str]] = {"y": ["obs"]}
        for group in self.groups:
            levels, coefs, r = self._group(group)
            var = f"r_{naming.clean(group)}"
            level_dim, coef_dim = naming.clean(group), f"{naming.clean(group)}__coef"
            posterior[var] = r
            coords[level_dim] = [str(level) for level in levels]
            coords[coef_dim] = naming.clean_all(coefs)
            dims[var] = [level_dim, coef_dim]
        return posterior, coords, dims

    @functools.cached_property
    def _idata(self):
        """posterior, sample_stats, observed_data and log_likelihood (no predictive draws)."""
        posterior, coords, dims = self._arviz_dict()
        groups = {
            "posterior": posterior,
            "sample_stats": dict(self.posterior.sample_stats),
            "observed_data": {"y": np.asarray(self.spec.design.y)},
        }
        if self.posterior.log_likelihood is not None:
            groups["log_likelihood"] = {"y": self.posterior.log_likelihood}
        return arviz_bridge.from_groups(groups, coords=coords, dims=dims)

    @functools.cached_property
    def _idata_full(self):
        idata = self._idata
        post = self.posterior
        values = post.n_chains * post.n_draws * self.spec.design.n
        reason = None
        if values > MAX_PREDICTIVE_VALUES:
            reason = (
                f"chains x draws x rows = {values:,} values exceed {MAX_PREDICTIVE_VALUES:,}; "
                "use fit.predict(rows, kind='response', summary=False) on subsets"
            )
        else:
            try:
                replicated = self._replicated()
            except DataError as err:  # e.g. an identity link that gives a negative mean
                reason = str(err)
        if reason is not None:
            warnings.warn(
                f"to_arviz() leaves out the posterior predictive draws: {reason}",
                DataWarning,
                stacklevel=4,
            )
            return idata
        _, coords, dims = self._arviz_dict()
        return arviz_bridge.with_group(
            idata, "posterior_predictive", {"y": replicated}, coords=coords, dims=dims
        )

    def _replicated(self) -> np.ndarray:
        """``(chains, draws, n)`` replicated responses of the training rows (fixed seed)."""
        seed = self.posterior.settings.get("seed")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            seed = PREDICTIVE_SEED
        draws = predict_draws(self.spec, self.posterior, kind="response", seed=int(seed))
        return draws.reshape(self.posterior.n_chains, self.posterior.n_draws, -1)

    def stan_code(self) -> str:
        """The Stan program of this model, with its priors (:func:`multilevel.stan_code`):
        ``method="stan"`` samples it, and it runs as it is in CmdStan, PyStan or rstan with
        :meth:`stan_data`.

        Examples
        --------
        >>> import multilevel as ml
        >>> f = ml.fit("y | se(sigma) ~ 1 + (1 | school)", ml.datasets.load("eight_schools"),
        ...            seed=1, progress=False)
        >>> print(f.stan_code().splitlines()[1])
        // formula: y | se(sigma) ~ 1 + (1 | school)
        """
        from multilevel.stan import program_code

        return program_code(self.spec)

    def stan_data(self, *, prior_only: bool = False) -> dict:
        """The data list of :meth:`stan_code`'s program (:func:`multilevel.stan_data`)."""
        from multilevel.stan import program_data

        return program_data(self.spec, prior_only=prior_only)

    def to_arviz(self, *, predictive: bool = True):
        """The draws in the installed ArviZ's container: an ``InferenceData`` with ArviZ 0.x,
        an :class:`xarray.DataTree` with ArviZ 1.x (see :mod:`.arviz_bridge`).

        Groups: ``posterior`` (brms names; group deviations as one variable per group,
        ``r_<group>``, with dimensions (level, coefficient)), ``sample_stats``,
        ``observed_data``, ``log_likelihood`` (when the engine computed it) and
        ``posterior_predictive``: one replicated data set of the training rows per draw
        (``predict(kind="response")`` with a fixed seed, the posterior's ``seed`` setting or
        0, so it is the same at every call). The predictive draws are left out, with a
        :class:`~multilevel.errors.DataWarning`, when chains x draws x rows exceeds
        :data:`MAX_PREDICTIVE_VALUES` (50 million) or when some draw's mean lies outside the
        family's support (possible with identity links), and with ``predictive=False`` (what
        a run folder's posterior.nc holds: the predictive draws are not drawn at all).

        The result is computed once and cached.
        """
        return self._idata_full if predictive else self._idata

    # -- summaries ---------------------------------------------------------------------------

    @functools.cached_property
    def _summary(self) -> pd.DataFrame:
        names = list(self.spec.parameter_names)
        index = list(names)
        arrays = [self.posterior.draws[name] for name in names]
        for group in self.groups:
            levels, _, r = self._group(group)
            coefs = self._group_coefs(group)
            index += [
                naming.group_effect(group, lv, c, dpar=dpar) for lv in levels for dpar, c in coefs
            ]
            arrays.append(r)
        return _statistics(index, arrays)

    @functools.cached_property
    def _checked(self) -> pd.DataFrame:
        """The summary rows the convergence diagnostics read: all of them, except after the
        exact engine, whose group effects are exact conditional draws given each draw of the
        sampled parameters, so their chains mix at least as well as those (docs/decisions.md):
        there the sampled parameters only (a fit with 10^5 groups is not held up by the
        statistics of 2 x 10^5 group effects nobody asked for). The same after independent
        draws (the nested Laplace's), whose group effects are drawn given each draw of the
        variance parameters."""
        conditional = self.posterior.engine == "exact" or self.posterior.settings.get(
            "independent_draws"
        )
        if not conditional:
            return self._summary
        names = list(self.spec.parameter_names)
        if "_summary" in self.__dict__:  # the same numbers: each row depends on its draws only
            return self._summary.loc[names]
        return _statistics(names, [self.posterior.draws[name] for name in names])

    def summary(self) -> pd.DataFrame:
        """Posterior summary, one row per parameter, indexed by brms names.

        Rows: ``b_<coef>``, ``sd_<group>__<coef>``, ``cor_<group>__<c1>__<c2>``, family
        parameters (``sigma``, ...), then ``r_<group>[<level>,<coef>]``. A distributional
        formula's parameters carry its name: ``b_sigma_Intercept``,
        ``sd_<group>__sigma_Intercept``, ``r_<group>__sigma[<level>,Intercept]``. Columns: ``mean,
        sd, q5, q50, q95, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat`` (rank-normalised
        split R-hat and ESS, Vehtari et al. 2021: ArviZ's numbers, computed for all parameters
        at once by :mod:`multilevel.posterior.mcmc_stats`).
        """
        return self._summary.copy()

    def coef(self, group: str | None = None, stat: str = "mean"):
        """Each level's total coefficients (population-level + group deviation), as lme4.

        Parameters
        ----------
        group : str, optional
            A grouping factor (``"county"``, ``"a:b"``). None (default): every grouping
            factor, as lme4's ``coef(m)``: a dict ``{group: table}``.
        stat : {"mean", "sd", "median", "q5", "q95"}
            Posterior statistic of each level's total coefficient.

        Returns
        -------
        pandas.DataFrame or dict of str to pandas.DataFrame
            Index: the group's levels as in the data; columns: its varying coefficients
            (``Intercept``, ``floor``, ...; ``sigma_Intercept`` for a distributional
            formula's, on the link scale). A varying coefficient without a population-level
            counterpart (``(0 + x | g)`` without ``x`` outside) is the deviation alone.
        """
        return per_group(self.groups, lambda g: self._per_level(g, stat, total=True), group)

    def coef_draws(self, group: str, *, total: bool = True) -> np.ndarray:
        """Draws of each level's coefficients, ``(chains, draws, levels, q)``.

        ``total=True`` gives population-level + deviation (the draws behind :meth:`coef`),
        ``total=False`` the deviations alone (behind :meth:`ranef`). Levels and columns are
        in the order of ``coef(group)``'s index and columns.
        """
        r = self._group(group)[2].copy()
        if not total:
            return r
        dpars = getattr(self.spec, "dpars", {})
        for j, (parameter, c) in enumerate(self._group_coefs(group)):
            if parameter is None:
                x_names, b_names = self.spec.design.X_names, self.spec.b_names
            else:
                x_names, b_names = (
                    self.spec.design.dpars[parameter].X_names,
                    dpars[parameter].b_names,
                )
            if c in x_names:
                r[..., j] += self.posterior.draws[b_names[list(x_names).index(c)]][..., None]
        return r

    def ranef(self, group: str | None = None, stat: str = "mean"):
        """Each level's deviations from the population-level coefficients (lme4's ranef);
        every grouping factor as ``{group: table}`` when ``group`` is None."""
        return per_group(self.groups, lambda g: self._per_level(g, stat, total=False), group)

    def fixef(self, stat: str = "mean") -> pd.Series:
        """Population-level coefficients, indexed by coefficient (lme4's ``fixef``): the
        posterior ``stat`` (``"mean"``, ``"sd"``, ``"median"``, ``"q5"``, ``"q95"``) of each
        ``b_`` parameter of the mean's formula."""
        if stat not in _STATS:
            raise ValueError(f"stat must be one of {', '.join(_STATS)}, got {stat!r}")
        draws = [np.asarray(self.posterior.draws[n], dtype=float) for n in self.spec.b_names]
        values = [_statistic(d.reshape(-1), stat) for d in draws]
        return pd.Series(values, index=list(self.spec.design.X_names), dtype=float)

    def VarCorr(self) -> pd.DataFrame:  # noqa: N802 - lme4's name
        """Variance components as lme4's ``as.data.frame(VarCorr(m))``: columns ``grp,
        var1, var2, vcov, sdcor``, posterior means of each draw's variance / SD / covariance /
        correlation (see :func:`multilevel.results.lme4.varcorr_table`)."""
        return varcorr_table(self.spec, self.posterior.draws)

    def _per_level(self, group: str, stat: str, *, total: bool) -> pd.DataFrame:
        if stat not in _STATS:
            raise ValueError(f"stat must be one of {', '.join(_STATS)}, got {stat!r}")
        levels, coefs, _ = self._group(group)
        r = self.coef_draws(group, total=total)
        r = r.reshape((-1,) + r.shape[2:])  # (S, levels, q)
        return pd.DataFrame(_statistic(r, stat), index=levels.copy(), columns=list(coefs))

    def diagnostics(self) -> list[str]:
        """Convergence problems found in the draws, each with advice (empty if none). Draws
        that an engine marks independent (``settings["independent_draws"]``: the nested
        Laplace's) have no chains to mix: R-hat is not checked."""
        from multilevel.results.diagnostics import convergence_messages

        summary = self._checked
        if self.posterior.settings.get("independent_draws"):
            summary = summary.drop(columns=["r_hat"], errors="ignore")
        spec, draws = self.spec, self.posterior.draws
        scalars, terms = [*spec.aux_names], {}
        for _, blocks in self._parts():
            for block, cov in blocks:
                scalars += cov.sd_names
                terms.update(dict.fromkeys(cov.sd_names, block.source or block.name))
        return convergence_messages(
            summary,
            self.posterior.sample_stats,
            max_tree_depth=self.posterior.settings.get("max_tree_depth"),
            draws={name: draws[name] for name in scalars if name in draws},
            group_terms=terms,
        )

    # -- prediction --------------------------------------------------------------------------

    def predict(
        self,
        newdata=None,
        *,
        kind: str = "mean",
        new_groups: str = "error",
        seed=None,
        summary: bool = True,
    ):
        """Predictions for new rows (or the training rows) from every posterior draw.

        The design of ``newdata`` is built with the training encodings
        (:meth:`DesignInfo.transform <multilevel.design.DesignInfo.transform>`: the same
        factor levels, ``scale()`` parameters and grouping levels); the linear predictor of
        each draw is ``offset + X b + sum over blocks of w * (Z * r[level]).sum(-1)``, the same
        sum as the model's (see :mod:`multilevel.results.predict`).

        Parameters
        ----------
        newdata : data frame or dict of columns, optional
            Rows to predict for. The predictor and grouping columns are needed; the response
            is not. ``trials()`` is needed for a binomial mean or response and ``se()`` for a
            response of ``y | se(s) ~ ...``. None (default): the training rows.
        kind : {"mean", "linear", "response"}
            ``"linear"``: the linear predictor (link scale). ``"mean"``: the expected response
            given each draw, the inverse link of the linear predictor, times the number of
            trials for binomial (an expected count, not a probability),
            ``exp(mu + sigma^2 / 2)`` for lognormal. ``"response"``: one replicated response
            per draw from the family (posterior predictive), using each draw's family
            parameters (``sigma``, ``nu``, ``shape``, ``phi``; row by row for a parameter with
            its own formula; the ``se()`` column for ``y | se(s)``).
        new_groups : {"error", "population", "sample"}
            A grouping level absent from the training data: ``"error"`` raises a
            :class:`~multilevel.errors.DataError` naming it; ``"population"`` leaves its group
            effect out (0); ``"sample"`` draws one effect per new level and draw from the
            fitted ``N(0, diag(sd) Omega diag(sd))`` of its block, shared by the rows of that
            level. Each grouping factor is handled on its own.
        seed : int or numpy.random.Generator, optional
            For ``new_groups="sample"`` and ``kind="response"``; the same seed gives the same
            draws.
        summary : bool
            True: a table; False: the draws.

        Returns
        -------
        pandas.DataFrame or numpy.ndarray
            ``summary=True``: columns ``mean, sd, q5, q50, q95``, indexed like ``newdata``
            (a 0-based range for a dict of columns; for the training rows, their labels in
            the data they came from, rows left out for missing values absent). ``summary=False``:
            float64 ``(chains * draws, rows)``, chain by chain.

        Raises
        ------
        DataError
            Missing columns, NaN/inf, an unknown categorical level, a new grouping level under
            ``new_groups="error"``, a missing ``trials()`` or ``se()`` column that ``kind``
            needs.
        ValueError
            An unknown ``kind`` or ``new_groups``.

        Examples
        --------
        >>> import multilevel as ml
        >>> data = ml.datasets.load("sleepstudy")
        >>> fit = ml.fit("Reaction ~ Days + (Days | Subject)", data, chains=2, draws=200,
        ...              warmup=200, seed=1, progress=False)  # doctest: +SKIP
        >>> new = {"Days": [0, 9], "Subject": ["308", "new"]}
        >>> fit.predict(new, new_groups="sample", seed=1)  # doctest: +SKIP
        """
        if is_dask_frame(newdata):  # lazily, partition by partition on the workers
            from multilevel.distributed.predict import predict_lazily

            return predict_lazily(
                self, newdata, kind=kind, new_groups=new_groups, seed=seed, summary=summary
            )
        require_rows(self.spec, newdata)
        draws = predict_draws(
            self.spec,
            self.posterior,
            newdata,
            kind=kind,
            new_groups=new_groups,
            seed=seed,
        )
        if not summary:
            return draws
        if newdata is None:  # the data's labels of the rows used
            index = self.spec.design.info.training_index.copy()
        elif isinstance(newdata, pd.DataFrame):
            index = newdata.index.copy()
        else:
            index = pd.RangeIndex(draws.shape[1])
        return summarize_draws(draws, index)

    # -- factor models ----------------------------------------------------------------------

    def _require_factors(self, what: str) -> None:
        if getattr(self.spec.design, "factors", None) is None:
            raise DataError(f"{what} needs a model with a factors(user, item, k) term")

    def fold_in(self, ratings, *, seed=None) -> Fit:
        """This fit with new users placed from a few of their ratings, without refitting.

        For every draw, each new user's factors and group effects are drawn from their
        exact conditional given that draw (:mod:`multilevel.results.fold_in`): the returned
        fit predicts and recommends for them as for the training users.

        Parameters
        ----------
        ratings : data frame or dict of columns
            The new users' rows: user, item, response and every predictor.
        seed : int or numpy.random.Generator, optional

        Returns
        -------
        Fit

        Raises
        ------
        DataError
            A model without ``factors()``, a user that was in the training data, an item that
            was not, or a missing column.

        Examples
        --------
        >>> fit2 = fit.fold_in(new_ratings, seed=1)  # doctest: +SKIP
        >>> fit2.recommend("new user", n=5)  # doctest: +SKIP
        """
        from multilevel.results.fold_in import fold_in

        self._require_factors("fold_in")
        spec, posterior = fold_in(self.spec, self.posterior, ratings, seed=seed)
        return Fit(spec, posterior)

    def recommend(self, user, n: int = 10, *, exclude_seen: bool = True) -> pd.DataFrame:
        """The ``n`` items with the highest expected rating for ``user``, with uncertainty.

        Every item is scored from every posterior draw with the predictors and group terms
        of its training rows (:func:`multilevel.results.recommend.recommend`).

        Parameters
        ----------
        user : label
            A training user, or one added by :meth:`fold_in`.
        n : int
            How many items.
        exclude_seen : bool
            Leave out the items the user rated (in training or in :meth:`fold_in`).

        Returns
        -------
        pandas.DataFrame
            Indexed by item, best first: ``mean, sd, q5, q95`` of the expected rating and
            ``p_top``, the share of draws that put the item among their ``n`` best.

        Raises
        ------
        DataError
            A model without ``factors()``, an unknown user, or predictors that vary within
            items.
        """
        from multilevel.results.recommend import recommend

        self._require_factors("recommend")
        return recommend(self.spec, self.posterior, user, n=n, exclude_seen=exclude_seen)

    def conditional_effects(self, effect: str, **kwargs) -> pd.DataFrame:
        """The expected response against one predictor, the others at their mean or
        reference level, group effects at the population level, with 95% intervals
        (brms's ``conditional_effects``; see
        :func:`multilevel.results.effects.conditional_effects` for the options
        ``data``, ``conditions``, ``resolution`` and ``prob``)."""
        from multilevel.results.effects import conditional_effects

        return conditional_effects(self, effect, **kwargs)

    def plot_conditional_effects(self, effect: str, **kwargs):
        """:meth:`conditional_effects` as a figure: a line with its interval band for a
        numeric predictor, points with interval bars for a categorical one.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from multilevel.results.figures import conditional_effects_plot

        return conditional_effects_plot(self.conditional_effects(effect, **kwargs))

    # -- model comparison --------------------------------------------------------------------

    def loo(self, *, pointwise: bool = True):
        """Approximate leave-one-out cross-validation by Pareto-smoothed importance sampling.

        PSIS-LOO (Vehtari, Gelman & Gabry 2017) via :func:`arviz.loo` on the pointwise
        log-likelihood of the training rows (unweighted, as stored by the engine), with the
        relative efficiency of the draws estimated from the chains.

        Parameters
        ----------
        pointwise : bool
            Also return each row's ELPD and Pareto ``k``.

        Returns
        -------
        arviz.ELPDData
            The installed ArviZ's result, so ``arviz.compare`` takes it. Both lines index it
            by name: ``warning``, ``good_k``, ``n_samples``, ``n_data_points``, ``se`` and, with
            ``pointwise``, ``pareto_k``. ArviZ 1.x names the estimate ``elpd`` (expected log
            pointwise predictive density, on the log scale: higher is better), the effective
            number of parameters ``p`` and the per-row values ``elpd_i``; ArviZ 0.x (a pandas
            Series) names them ``elpd_loo``, ``p_loo`` and ``loo_i``. Compare fits with
            ``arviz.compare({"a": fit_a.to_arviz(), "b": fit_b.to_arviz()})``.

        Raises
        ------
        DataError
            The posterior has no pointwise log-likelihood.

        Warns
        -----
        ConvergenceWarning
            Rows with a Pareto ``k`` above ``good_k`` (0.7 for 2200 draws or more): the
            estimate of their ELPD, hence the total, is unreliable.
        """
        if self.posterior.log_likelihood is None:
            raise DataError(
                "this fit has no pointwise log-likelihood, which loo() needs: the engine skips "
                "it when chains x draws x rows exceeds 50 million values or when asked not to "
                "compute it; refit with fewer draws or on a subset of the rows"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = arviz_bridge.loo(self._idata)
        for w in caught:
            if "shape parameter of Pareto" not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        unreliable = unreliable_rows(result["pareto_k"], result["good_k"])
        if unreliable:
            warnings.warn(unreliable, ConvergenceWarning, stacklevel=2)
        return result if pointwise else arviz_bridge.drop_pointwise(result)

    def _psis_loo(self):
        """:meth:`loo`'s numbers without ArviZ (:func:`~multilevel.results.psis.psis_loo`,
        a fraction of the time): for the report, which shows no ArviZ object."""
        from multilevel.results.psis import psis_loo, relative_efficiency

        posterior, _, _ = self._arviz_dict()  # the draws ArviZ's relative efficiency reads
        return psis_loo(
            self.posterior.log_likelihood, r_eff=relative_efficiency(posterior.values())
        )

    # -- storage -----------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save the fit to one file, losslessly; read it back with :func:`multilevel.load`.

        One zip file of data only, safe to share (opening it runs no code from it): every
        draw, sampler statistic and the log-likelihood, and the design's arrays, as ``.npy``
        arrays; the formula, family, priors (Stan syntax), the design's encodings (factor
        levels, contrasts, ``scale()`` parameters, grouping levels), the engine's name,
        reason, timings and settings as JSON (see :mod:`multilevel.results.storage` and
        docs/fit-file.md). After loading, ``summary()``, ``coef()``, ``predict()``,
        ``to_arviz()`` and the report give identical results.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists); any name, e.g. ``"radon.mlfit"``.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from multilevel.results.storage import save_fit

        return save_fit(self, path)

    def __repr__(self) -> str:
        spec, post = self.spec, self.posterior
        lines = [
            f"Fit: {spec.design.info.formula.text}",
            f"  family: {spec.family}   observations: {spec.n_rows:,}",
            f"  engine: {post.engine} ({post.reason})",
            f"  draws: {post.n_chains} chains x {post.n_draws}",
        ]
        for group in self.groups:
            lines.append(f"  group {group}: {len(self._group(group)[0])} levels")
        table = self._checked.loc[list(spec.parameter_names), ["mean", "sd", "q5", "q95", "r_hat"]]
        lines.append(table.to_string(float_format=lambda v: f"{v:.3g}"))
        problems = self.diagnostics()
        lines.append(
            f"  convergence: {len(problems)} problem(s), see fit.diagnostics()"
            if problems
            else "  convergence: no problems found"
        )
        return "\n".join(lines)

    # -- notebooks and figures -----------------------------------------------------------------

    def _repr_html_(self) -> str:
        """Compact HTML summary shown by Jupyter (see :func:`multilevel.results.html.fit_html`)."""
        from multilevel.results.html import fit_html

        return fit_html(self)

    def plot_shrinkage(self, group: str | None = None):
        """Each level's own estimate (its rows only) against its partially pooled estimate,
        sized by the level's number of rows; one panel per varying coefficient.

        Parameters
        ----------
        group : str, optional
            A grouping factor (default: the first).

        Returns
        -------
        matplotlib.figure.Figure

        See Also
        --------
        multilevel.results.figures.shrinkage_table : the numbers behind the plot.
        """
        from multilevel.results.figures import shrinkage_plot

        return shrinkage_plot(self, group)

    def plot_effects(self, group: str | None = None):
        """Caterpillar plot of group-level effects (deviations from the population) with
        90% intervals, levels sorted by posterior mean.

        Parameters
        ----------
        group : str, optional
            One grouping factor (default: every factor, one panel per coefficient).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from multilevel.results.figures import effects_plot

        return effects_plot(self, group)

    def plot_ppc(self, *, n_draws: int = 50, seed: int = 0):
        """Posterior predictive check: observed responses against ``n_draws`` data sets
        replicated from draws picked at random (``seed``), as ``predict(kind="response")``.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from multilevel.results.figures import ppc_plot

        return ppc_plot(self, n_draws=n_draws, seed=seed)


def _statistic(draws: np.ndarray, stat: str):
    """One of :data:`_STATS` over the first axis of ``draws``."""
    if stat == "mean":
        return draws.mean(axis=0)
    if stat == "sd":
        return draws.std(axis=0, ddof=1)
    if stat == "median":
        return np.median(draws, axis=0)
    return np.quantile(draws, 0.05 if stat == "q5" else 0.95, axis=0)


def unreliable_rows(pareto_k, good_k: float) -> str | None:
    """The warning of PSIS-LOO's rows whose Pareto ``k`` exceeds ``good_k`` (the five worst
    named), or None when there are none."""
    k = np.asarray(pareto_k, dtype=float)
    bad = np.flatnonzero(k > good_k)
    if not bad.size:
        return None
    rows = ", ".join(f"{i} (k = {k[i]:.2f})" for i in bad[np.argsort(-k[bad])][:5])
    return (
        f"PSIS-LOO is unreliable for {len(bad)} row(s) with Pareto k above {good_k:.2f}, "
        f"worst {rows}: these observations are highly influential. Refit without them for "
        "exact leave-one-out values, use K-fold cross-validation, or consider a more robust "
        "model (e.g. student_t)."
    )


def _statistics(index: list[str], arrays: list) -> pd.DataFrame:
    """:func:`~.mcmc_stats.summary_statistics` of ``(chains, draws, ...)`` arrays, one row per
    name of ``index``."""
    from multilevel.posterior.mcmc_stats import summary_statistics

    flat = [np.asarray(a).reshape(a.shape[0], a.shape[1], -1) for a in arrays]
    values = np.concatenate(flat, axis=2)
    if values.shape[2] != len(index):  # pragma: no cover - defensive
        raise AssertionError("summary rows do not match parameter names")
    table = pd.DataFrame(summary_statistics(values), index=pd.Index(index, name="parameter"))
    return table[list(SUMMARY_COLUMNS)]
