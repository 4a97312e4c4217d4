"""Results of the exact conjugate engine: :class:`ConjugateFit`.

Every quantity is a finite mixture over the hyperparameter points of the engine's
:class:`~multilevel.engines.conjugate.quadrature.HyperPosterior` (one point for empirical
Bayes and fixed hyperparameters), so group posteriors, leave-one-group-out posteriors and
predictives are exact up to the quadrature, whose error is controlled by the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from multilevel.engines.conjugate.engine import ConjugateResult, fit_spec
from multilevel.engines.conjugate.mixture import mixture_moments, mixture_quantiles
from multilevel.engines.conjugate.quadrature import HyperPosterior, hyper_draws
from multilevel.errors import DataError
from multilevel.spec.conjugate import ConjugateSpec, GroupStats, build_conjugate_spec

__all__ = ["ConjugateFit"]

PROBS = (0.05, 0.5, 0.95)
QUANTILE_COLUMNS = ("q5", "q50", "q95")
#: below this share of a group's posterior variance coming from hyperparameter uncertainty,
#: intervals come from the posterior family matched to the exact mean and variance
EXACT_INTERVAL_SHARE = 0.01
CHUNK_ELEMENTS = 4_000_000  # grid points x groups evaluated at once
COARSEN_ABOVE = 2_000_000  # grid points x groups beyond which the grid may be coarsened
COARSEN_TOLERANCE = 1e-3  # allowed change of a group's posterior mean / SD, in SDs
EDGE_TOLERANCE = 1e-6


def _compress(stats: GroupStats):
    """Distinct rows of the statistics and, for every group, the index of its row.

    Hash-based (pandas.factorize), linear in the number of groups. Whole-number statistics
    are combined into one integer key first; codes are numbered in order of first
    appearance, so the first rows are where a new code appears. Continuous statistics
    (most values distinct in a sample) are left as they are.
    """
    columns = list(stats.values.values())
    sample = columns[0][:: max(1, len(stats) // 10_000)]
    if len(pd.unique(sample)) > 0.5 * len(sample):  # continuous statistics: nothing to share
        return stats, np.arange(len(stats))
    spans = [np.max(c) + 1 if np.all(c >= 0) and np.all(c % 1 == 0) else None for c in columns]
    if all(s is not None for s in spans) and np.prod(np.array(spans, float)) < 2**62:
        key = np.zeros(len(stats), dtype=np.int64)
        for values, span in zip(columns, spans, strict=True):
            key = key * int(span) + values.astype(np.int64)
        code, _ = pd.factorize(key)
    else:
        code = np.zeros(len(stats), dtype=np.int64)
        for values in columns:
            sub, uniques = pd.factorize(values)
            code, _ = pd.factorize(code * len(uniques) + sub)
    seen = np.maximum.accumulate(code)
    first = np.flatnonzero(np.concatenate([[True], code[1:] > seen[:-1]]))
    return stats.take(first), code


def _chunks(n_rows: int, n_points: int):
    size = max(1, CHUNK_ELEMENTS // max(n_points, 1))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def _weights_for(weights):
    return weights[:, None] if weights.ndim == 1 else weights


class ConjugateFit:
    """An exactly fitted classical hierarchical model.

    Returned by :func:`multilevel.fit_conjugate`; see its docstring for an example.

    Attributes
    ----------
    spec : ConjugateSpec
        The validated model and per-group statistics.
    hyper_posterior : HyperPosterior
        Hyperparameter points and weights.
    priors : dict
        The hyperpriors used (user's or defaults), by name.
    reason : str
        Which engine fitted the model and how.
    """

    def __init__(self, spec: ConjugateSpec, result: ConjugateResult):
        self.spec = spec
        self.chain = result.chain
        self.hyper_posterior = result.hyper
        self.priors = result.priors
        self.reason = result.reason
        self.seconds = result.seconds

    # ----------------------------------------------------------------- basics
    @property
    def treatment(self) -> str:
        """``"bayes"``, ``"eb"`` or ``"fixed"``."""
        return self.hyper_posterior.kind

    @property
    def parameter(self) -> str:
        """Name of the group-level parameter (``theta``, ``p`` or ``rate``)."""
        return self.chain.parameter

    def _display(self):
        return getattr(self.chain, "display_order", self.chain.hyper_names)

    def _index(self, groups) -> np.ndarray:
        if groups is None:
            return np.arange(len(self.spec.labels))
        labels = [groups] if np.isscalar(groups) else list(groups)
        where = self.spec.labels.get_indexer(labels)
        if np.any(where < 0):
            unknown = [g for g, w in zip(labels, where, strict=True) if w < 0]
            raise DataError(
                f"unknown group(s) {unknown!r} in column {self.spec.group!r}; "
                "use new_group() or update_new_group() for groups not in the data"
            )
        return where

    # ----------------------------------------------------------------- hyperparameters
    def hyper(self) -> pd.DataFrame:
        """Posterior summary of the hyperparameters.

        Columns ``mean, sd, q5, q50, q95``. For ``hyper="eb"`` the mean is the estimate,
        ``sd`` its asymptotic standard error and the interval a Wald interval on the log
        scale of positive parameters; fixed values have ``sd = 0``.
        """
        return self._hyper_table(self.hyper_posterior)

    def _hyper_table(self, post: HyperPosterior) -> pd.DataFrame:
        names = self.chain.hyper_names
        rows = {}
        for j, name in enumerate(names):
            positive = self.chain.positive[j]
            values = post.points[:, j]
            mean = float(post.weights @ values)
            if post.kind == "bayes":
                sd = float(np.sqrt(post.weights @ (values - mean) ** 2))
                qs = post.quantiles(j, PROBS)
            elif post.kind == "eb" and post.covariance is not None:
                sd_z = float(np.sqrt(max(post.covariance[j, j], 0.0)))
                z = np.log(mean) if positive else mean
                zq = z + sd_z * np.array([-1.6448536269514722, 0.0, 1.6448536269514722])
                qs = np.exp(zq) if positive else zq
                sd = mean * sd_z if positive else sd_z
            else:
                sd, qs = 0.0, np.full(3, mean)
            rows[name] = {"mean": mean, "sd": sd, **dict(zip(QUANTILE_COLUMNS, qs, strict=True))}
        table = pd.DataFrame.from_dict(rows, orient="index").loc[list(self._display())]
        table.index.name = "hyperparameter"
        return table

    def hyper_grid(self) -> pd.DataFrame:
        """The quadrature grid: hyperparameter values, normalised weight, log density."""
        post = self.hyper_posterior
        table = pd.DataFrame(post.points, columns=self.chain.hyper_names)
        table["weight"] = post.weights
        if post.log_density is not None:
            table["log_density"] = post.log_density
        return table[[*self._display(), *table.columns[len(self._display()) :]]]

    def hyper_draws(self, n: int = 4000, *, seed=None) -> pd.DataFrame:
        """Draws from the hyperparameter posterior (exact grid cells, jittered)."""
        rng = np.random.default_rng(seed)
        draws = hyper_draws(self.hyper_posterior, n, rng)
        return pd.DataFrame(draws, columns=self.chain.hyper_names)[list(self._display())]

    # ----------------------------------------------------------------- groups
    def groups(self) -> pd.DataFrame:
        """Posterior of every group's parameter, indexed by group label.

        Columns: ``n`` (observations, trials or exposure), ``estimate`` (the group's own
        no-pooling estimate), ``mean``, ``sd``, ``q5``, ``q50``, ``q95`` (90% central
        interval) and ``shrinkage``: the posterior mean weight on the population mean, 0 for
        no pooling and 1 for complete pooling (posterior mean = (1 - shrinkage) * estimate
        + shrinkage * population mean, given the hyperparameters).
        """
        return self._group_table(self.spec.stats, self.spec.labels, self.hyper_posterior)

    def _mixture_points(self, post: HyperPosterior, distinct: GroupStats) -> HyperPosterior:
        """The hyperparameter points over which group posteriors are mixed.

        With many groups the posterior grid is finer than the group posteriors need: while
        doubling the step moves no group's posterior mean or SD by more than
        ``COARSEN_TOLERANCE`` of its SD (checked on 500 groups spread over the distinct
        statistics), use the coarser grid.
        """
        post = post.pruned()
        rows = np.linspace(0, len(distinct) - 1, min(len(distinct), 500)).astype(int)
        probe = distinct.take(rows)

        def moments(p):
            return mixture_moments(
                None, p.weights[:, None], moments=self.chain.posterior_moments(p.points, probe)
            )

        if len(distinct) * len(post.weights) > COARSEN_ABOVE:
            mean, var = moments(post)
            while (coarse := post.coarsened()) is not None:
                c_mean, c_var = moments(coarse)
                sd = np.sqrt(np.maximum(var, 1e-300))
                if (
                    np.max(np.abs(c_mean - mean) / sd) > COARSEN_TOLERANCE
                    or np.max(np.abs(np.sqrt(c_var) - sd) / sd) > COARSEN_TOLERANCE
                ):
                    break
                post = coarse
        return post.pruned()

    def _group_table(self, stats, labels, post: HyperPosterior) -> pd.DataFrame:
        distinct, where = _compress(stats)
        post = self._mixture_points(post, distinct)
        columns = ("mean", "sd", *QUANTILE_COLUMNS, "shrinkage")
        out = np.empty((len(columns), len(distinct)))
        weights = post.weights[:, None]
        for part in _chunks(len(distinct), len(post.weights)):
            sub = distinct.take(np.arange(part.start, part.stop))
            comp_means, comp_vars = self.chain.posterior_moments(post.points, sub)
            mean, var = mixture_moments(None, weights, moments=(comp_means, comp_vars))
            between = weights[:, 0] @ (comp_means - mean) ** 2
            exact = between > EXACT_INTERVAL_SHARE * np.maximum(var, 1e-300)
            qs = np.array(self.chain.moment_matched(mean, var).ppf(np.asarray(PROBS)[:, None]))
            if np.any(exact):
                dist_exact = self.chain.posterior_dist(post.points, sub.take(np.flatnonzero(exact)))
                qs[:, exact] = mixture_quantiles(dist_exact, weights, PROBS, start=qs[:, exact])
            shrinkage = post.weights @ self.chain.shrinkage(post.points, sub)
            out[:, part] = np.vstack([mean, np.sqrt(var), qs, shrinkage])
        # one block, column-major, handed to pandas without a copy
        table = np.empty((len(columns) + 2, len(labels)))
        table[0] = stats[self.chain.size_stat]
        table[1] = self.chain.own_estimate(stats)
        for row, values in enumerate(out, start=2):
            np.take(values, where, out=table[row])
        table = pd.DataFrame(table.T, index=labels, columns=["n", "estimate", *columns], copy=False)
        return table

    def group_draws(self, n: int = 1000, *, groups=None, seed=None) -> pd.DataFrame:
        """Joint posterior draws of group parameters (rows: draws, columns: groups)."""
        rng = np.random.default_rng(seed)
        index = self._index(groups)
        theta = hyper_draws(self.hyper_posterior, n, rng)
        stats = self.spec.stats.take(index)
        dist = self.chain.posterior_dist(theta, stats)
        values = dist.rvs(size=(n, len(index)), random_state=rng)
        return pd.DataFrame(values, columns=self.spec.labels[index])

    # ----------------------------------------------------------------- leave one group out
    def hyper_without(self, group) -> pd.DataFrame:
        """Hyperparameter posterior p(theta | data without ``group``), like :meth:`hyper`.

        The grid weights are divided by the group's marginal likelihood (exact on the grid);
        if that moves mass to the grid's edge the model is refitted without the group.
        """
        return self._hyper_table(self._posterior_without(self._index(group)[0]))

    def _posterior_without(self, i: int) -> HyperPosterior:
        post = self.hyper_posterior
        keep = np.delete(np.arange(len(self.spec.labels)), i)
        if post.kind == "fixed":
            return post
        if post.kind == "bayes":
            group = self.spec.stats.take([i])
            loo = post.reweighted(lambda theta: -self.chain.log_marginal(theta, group)[:, 0])
            if not np.any(loo.weights[post.edge_points()] > EDGE_TOLERANCE * loo.weights.max()):
                return loo
        return fit_spec(self.spec, self.spec.stats.take(keep)).hyper

    def loo(self) -> pd.DataFrame:
        """Leave-one-group-out predictive of every group's data.

        For each group i, p(theta | x_-i) predicts the group's summary statistic (successes,
        counts, mean); columns: ``observed``, ``elpd`` (log predictive density of the group's
        data, see the chain docstrings for which statistic), ``mean``, ``sd``, ``q5``,
        ``q95`` of the predictive and ``pit`` (predictive CDF at the observed value; near 0
        or 1 flags a group the others do not predict).
        """
        post = self.hyper_posterior
        stats, labels = self.spec.stats, self.spec.labels
        if post.kind == "eb":
            posteriors = [self._posterior_without(i) for i in range(len(labels))]
            parts = [
                self._loo_rows(p.points, p.weights[:, None], stats.take([i]))
                for i, p in enumerate(posteriors)
            ]
            table = pd.concat(parts)
        else:
            edge = post.edge_points()
            parts = []
            for part in _chunks(len(labels), len(post.weights)):
                sub = stats.take(np.arange(part.start, part.stop))
                log_m = self.chain.log_marginal(post.points, sub)
                with np.errstate(divide="ignore"):
                    logw = np.log(post.weights)[:, None] - log_m
                weights = np.exp(logw - logsumexp(logw, axis=0))
                # a group whose removal moves mass to the grid's edge is refitted exactly
                refit = np.flatnonzero(
                    weights[edge].max(axis=0, initial=0.0) > EDGE_TOLERANCE * weights.max(axis=0)
                )
                used = np.any(weights > 1e-14 * weights.max(axis=0), axis=1)
                rows = self._loo_rows(post.points[used], weights[used], sub)
                for j in refit:
                    p = self._posterior_without(part.start + j)
                    rows.iloc[j] = self._loo_rows(p.points, p.weights[:, None], sub.take([j])).iloc[
                        0
                    ]
                parts.append(rows)
            table = pd.concat(parts)
        table.index = labels
        return table

    def _loo_rows(self, points, weights, stats) -> pd.DataFrame:
        observed = self.chain.summary(stats)
        dist = self.chain.summary_dist(points, stats)
        log_m = self.chain.log_marginal(points, stats)
        elpd = logsumexp(log_m, b=weights, axis=0)
        mean, var = mixture_moments(dist, weights)
        q5, q95 = mixture_quantiles(
            dist, weights, (0.05, 0.95), discrete=self.chain.discrete_summary
        )
        cdf = np.sum(weights * np.asarray(dist.cdf(observed[None, :])), axis=0)
        return pd.DataFrame(
            {
                "observed": observed,
                "elpd": elpd,
                "mean": mean,
                "sd": np.sqrt(var),
                "q5": q5,
                "q95": q95,
                "pit": cdf,
            }
        )

    # ----------------------------------------------------------------- prediction
    def _sizes(self, names, given, defaults, method):
        unknown = set(given) - set(names)
        missing = [k for k in names if k not in given and defaults.get(k) is None]
        if unknown or missing:
            raise DataError(
                f"{method}() for likelihood {self.spec.likelihood!r} takes "
                + (", ".join(f"{k}=" for k in names) or "no size arguments")
                + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        return {k: np.asarray(given.get(k, defaults.get(k)), float) for k in names}

    def predict(self, groups=None, **new) -> pd.DataFrame:
        """Posterior predictive of one new observation in each known group.

        Size arguments: ``trials=`` (binomial, default 1), ``exposure=`` (Poisson, default
        1), ``se=`` (normal with known SE, default the group's per-observation SE),
        ``shape=`` (gamma, default the group's shape). Columns ``mean, sd, q5, q50, q95``.
        """
        index = self._index(groups)
        stats = self.spec.stats.take(index)
        post = self.hyper_posterior.pruned()
        defaults = self.chain.observation_defaults(stats)
        sizes = self._sizes(tuple(defaults), new, defaults, "predict")
        sizes = {k: np.broadcast_to(v, (len(stats),)) for k, v in sizes.items()}
        dist = self.chain.observation_dist(post.points, stats, sizes)
        return self._summarise(
            dist, post.weights, self.chain.discrete_observation, self.spec.labels[index]
        )

    def _summarise(self, dist, weights, discrete, index) -> pd.DataFrame:
        mean, var = mixture_moments(dist, _weights_for(weights))
        qs = mixture_quantiles(dist, _weights_for(weights), PROBS, discrete=discrete)
        table = pd.DataFrame({"mean": mean, "sd": np.sqrt(var)}, index=index)
        for name, q in zip(QUANTILE_COLUMNS, qs, strict=True):
            table[name] = q
        return table

    def new_group(self, **size) -> pd.DataFrame:
        """Predictive for a brand-new group, before seeing any of its data.

        Row ``parameter``: the new group's parameter (a mixture of F1(theta) over the
        hyperparameter posterior). With a size (``trials=``, ``exposure=``, ``n=`` and, for
        gamma, ``shape=``; normal with known SE: ``se=``), row ``summary``: the predictive of
        its data's summary statistic (successes, counts or mean).
        """
        post = self.hyper_posterior.pruned()
        rows = [
            self._summarise(self.chain.prior_dist(post.points), post.weights, False, ["parameter"])
        ]
        if size:
            names, defaults = self.chain.new_group_sizes
            stats = self.chain.empty_group(self._sizes(names, size, defaults, "new_group"))
            dist = self.chain.summary_dist(post.points, stats)
            rows.append(
                self._summarise(dist, post.weights, self.chain.discrete_summary, ["summary"])
            )
        return pd.concat(rows)

    def update_new_group(self, data) -> pd.DataFrame:
        """Posterior of new groups given a few of their observations, without refitting.

        ``data`` has the same columns as the fitted data. The hyperparameter weights are
        multiplied by the new groups' marginal likelihoods (exact), then each new group's
        posterior is summarised as in :meth:`groups`.
        """
        spec = self.spec
        new = build_conjugate_spec(
            data,
            likelihood=spec.likelihood,
            group=spec.group,
            hyper=spec.hyper,
            allow_single_group=True,
            **spec.columns,
        )
        clash = new.labels.intersection(spec.labels)
        if len(clash):
            raise DataError(
                f"group(s) {list(clash)[:5]!r} are already in the fitted data; "
                "update_new_group() is for groups the model has not seen"
            )
        post = self.hyper_posterior
        if post.kind != "fixed":
            post = post.reweighted(lambda theta: self.chain.log_marginal(theta, new.stats).sum(1))
        return self._group_table(new.stats, new.labels, post)

    # ----------------------------------------------------------------- display
    def summary(self) -> str:
        """A plain-text summary: the model, how it was fitted, hyperparameters, groups."""
        groups = self.groups()
        lines = [
            f"Hierarchical {self.spec.likelihood} model: {len(groups)} groups "
            f"({self.spec.group!r}), {self.spec.n_rows} rows",
            f"Fit: {self.reason} ({self.seconds:.2f} s)",
        ]
        if self.treatment == "bayes":
            lines.append(
                "Hyperpriors: " + ", ".join(f"{k} ~ {p.to_stan()}" for k, p in self.priors.items())
            )
        lines += [
            "",
            "Hyperparameters:",
            self.hyper().round(4).to_string(),
            "",
            f"Groups ({self.parameter}; first 10 of {len(groups)}):",
            groups.head(10).round(4).to_string(),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<ConjugateFit {self.spec.likelihood}, {len(self.spec.labels)} groups, "
            f"hyper={self.treatment!r}>"
        )

    def plot_shrinkage(self, ax=None, *, label_groups: int = 0):
        """Each group's own estimate against its posterior mean (a matplotlib Figure).

        Points are sized by group size and coloured by shrinkage; the dashed line is no
        pooling (posterior = own estimate), the dotted line the population mean.
        """
        from multilevel.results.plots import shrinkage_plot

        post = self.hyper_posterior
        population = float(post.weights @ self.chain.population_mean(post.points))
        return shrinkage_plot(
            self.groups(),
            population,
            parameter=self.parameter,
            group=self.spec.group,
            ax=ax,
            label_groups=label_groups,
        )
