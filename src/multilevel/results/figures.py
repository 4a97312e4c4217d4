"""matplotlib figures of a fitted :class:`~multilevel.results.fit.Fit`, and the numbers
behind them.

Each figure is a plain :class:`matplotlib.figure.Figure` (not registered with pyplot, so
making many does not leak memory; Jupyter shows it inline). matplotlib is imported only
when a figure is drawn.

- :func:`shrinkage_plot` / :func:`shrinkage_table`: each group's own estimate (no pooling)
  against its partially pooled posterior, sized by group size;
- :func:`effects_plot`: caterpillar plot of group-level effects with 90% intervals;
- :func:`ppc_plot`: posterior predictive check, observed against replicated data;
- :func:`trace_rank_plot`: trace and rank plots of the named parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from multilevel.spec.families import link

__all__ = [
    "shrinkage_table",
    "shrinkage_plot",
    "effects_plot",
    "ppc_plot",
    "trace_rank_plot",
    "MAX_LABELLED_LEVELS",
    "MAX_DRAWN_LEVELS",
]

#: Levels above which a caterpillar plot has no level labels.
MAX_LABELLED_LEVELS = 40
#: Levels above which a caterpillar plot draws an evenly spaced subset (by rank).
MAX_DRAWN_LEVELS = 1000


def _figure(width: float, height: float, rows: int = 1, cols: int = 1, **subplots):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **subplots)
    return fig, axes


def _flat(array) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    return array.reshape((array.shape[0] * array.shape[1],) + array.shape[2:])


# --------------------------------------------------------------------------- shrinkage
def _mean_blocks(fit, group: str):
    """Indices and blocks of the mean's formula that belong to ``group``."""
    return [(i, b) for i, b in enumerate(fit.spec.design.blocks) if b.name == group]


def _fitted_link(fit) -> np.ndarray:
    """Posterior mean of the mean's linear predictor of each training row.

    The predictor is linear in the parameters, so this is the predictor at the posterior
    means.
    """
    spec, draws = fit.spec, fit.posterior.draws
    design = spec.design
    eta = np.asarray(design.offset, dtype=float).copy()
    if spec.b_names:
        b = np.array([np.mean(draws[name]) for name in spec.b_names])
        eta += np.asarray(design.X, dtype=float) @ b
    for block, covariance in zip(design.blocks, spec.covariance, strict=True):
        r = _flat(draws[covariance.key]).mean(axis=0)  # (levels, q)
        Z = np.asarray(block.Z, dtype=float)
        for k in range(block.index.shape[1]):
            eta += block.weights[:, k] * (Z * r[block.index[:, k]]).sum(axis=1)
    return eta


def shrinkage_table(fit, group: str | None = None) -> pd.DataFrame:
    """Own (no-pooling) and partially pooled estimate of each level's coefficients.

    The *own estimate* of a level uses only its rows: the least-squares fit of its
    varying coefficients to what the rest of the model leaves of its responses, on the link
    scale (``y - offset - other terms at their posterior means``). For families whose
    response cannot be put on the link scale row by row (bernoulli, binomial, poisson, ...)
    the own estimate of a varying intercept is the link of the level's mean response minus
    the rest of the model, averaged over its rows, and other varying coefficients have none.
    The *partially pooled* estimate is :meth:`Fit.coef <multilevel.results.fit.Fit.coef>`
    (posterior mean and 90% interval).

    Parameters
    ----------
    fit : Fit
    group : str, optional
        A grouping factor of the mean's formula (default: the first).

    Returns
    -------
    pandas.DataFrame
        One row per (level, coefficient): columns ``level``, ``coef``, ``n`` (rows of the
        level), ``own`` (NaN where the level's rows cannot determine it), ``mean``, ``q5``,
        ``q95`` and ``population`` (the population-level value the level is pulled toward:
        the posterior mean of ``b_<coef>``, or 0 for a coefficient with no population-level
        counterpart).

    Raises
    ------
    ValueError
        No such group, a multiple-membership group, or a model without a response.
    """
    spec = fit.spec
    design = spec.design
    groups = list(dict.fromkeys(b.name for b in design.blocks))
    if not groups:
        raise ValueError("the model has no group-level effects, so nothing is shrunk")
    group = groups[0] if group is None else group
    blocks = _mean_blocks(fit, group)
    if not blocks:
        raise ValueError(
            f"no grouping factor {group!r} in the mean's formula; its grouping factors are "
            + ", ".join(groups)
        )
    if any(b.multiple_membership for _, b in blocks):
        raise ValueError(
            f"{group} is a multiple-membership term: its rows have no single level, so "
            "levels have no own estimate"
        )
    if design.y is None:  # pragma: no cover - a fitted model has a response
        raise ValueError("the model has no response")
    levels = blocks[0][1].levels
    index = blocks[0][1].index[:, 0]
    Z = np.concatenate([np.asarray(b.Z, dtype=float) for _, b in blocks], axis=1)
    coefs = [c for _, b in blocks for c in b.coef_names]
    total = _flat(fit.coef_draws(group, total=True))[..., : len(coefs)]  # the mean's coefs
    pooled = total.mean(axis=0)  # (levels, q)
    q5, q95 = np.quantile(total, [0.05, 0.95], axis=0)
    # the rest of the model at the posterior means: fitted minus this group's contribution
    rest = _fitted_link(fit) - (Z * pooled[index]).sum(axis=1)
    y = np.asarray(design.y, dtype=float)
    family = spec.family
    counts = np.bincount(index, minlength=len(levels))
    own = np.full((len(levels), len(coefs)), np.nan)
    work = None  # the response on the link scale, row by row, where it can be put there
    if family.response == "real" or family.response_transform is not None:
        with np.errstate(all="ignore"):
            work = y if family.response_transform is None else link(family.response_transform, y)
            work = work if family.link == "identity" else link(family.link, work)
    if work is not None and np.all(np.isfinite(work)):
        resid = work - rest
        order = np.argsort(index, kind="stable")
        starts = np.searchsorted(index[order], np.arange(len(levels) + 1))
        for j in range(len(levels)):
            rows = order[starts[j] : starts[j + 1]]
            if len(rows) < Z.shape[1]:
                continue
            coef, _, rank, _ = np.linalg.lstsq(Z[rows], resid[rows], rcond=None)
            if rank == Z.shape[1]:
                own[j] = coef
    elif coefs[0] == "Intercept" and np.allclose(Z[:, 0], 1.0):
        trials = np.ones_like(y) if design.trials is None else np.asarray(design.trials, float)
        hits = np.bincount(index, weights=y, minlength=len(levels))
        tries = np.bincount(index, weights=trials, minlength=len(levels))
        mean_y = hits / np.where(tries > 0, tries, 1.0)
        if family.mean_support in ("probability", "open unit interval"):
            eps = 0.5 / np.maximum(tries, 1.0)
            mean_y = np.clip(mean_y, eps, 1.0 - eps)
        else:  # counts and positive responses: avoid log(0)
            mean_y = np.maximum(mean_y, 0.5 / np.maximum(tries, 1.0))
        rest_mean = np.bincount(index, weights=rest, minlength=len(levels)) / np.maximum(counts, 1)
        with np.errstate(all="ignore"):
            own[:, 0] = link(family.link, mean_y) - rest_mean
        own[counts == 0, 0] = np.nan
    records = []
    for k, coef in enumerate(coefs):
        if coef in design.X_names:
            population = float(
                np.mean(fit.posterior.draws[spec.b_names[design.X_names.index(coef)]])
            )
        else:
            population = 0.0
        records.append(
            pd.DataFrame(
                {
                    "level": levels,
                    "coef": coef,
                    "n": counts,
                    "own": own[:, k],
                    "mean": pooled[:, k],
                    "q5": q5[:, k],
                    "q95": q95[:, k],
                    "population": population,
                }
            )
        )
    return pd.concat(records, ignore_index=True)


def shrinkage_plot(fit, group: str | None = None, *, max_coefs: int = 4):
    """Each level's own estimate (x) against its partially pooled estimate (y).

    Points are sized by the level's number of rows; grey bars are 90% posterior intervals;
    the dashed diagonal is no pooling and the dotted line the population value. Points fall
    between the two: the fewer rows, the closer to the population. One panel per varying
    coefficient (at most ``max_coefs``). See :func:`shrinkage_table` for the estimates.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = shrinkage_table(fit, group)
    group = group or fit.spec.design.blocks[0].name
    coefs = list(dict.fromkeys(table["coef"]))[:max_coefs]
    fig, axes = _figure(5.2 * len(coefs) + 0.6, 4.6, 1, len(coefs))
    size_max = max(float(table["n"].max()), 1.0)
    for ax, coef in zip(axes[0], coefs, strict=True):
        part = table[table["coef"] == coef]
        shown = part[np.isfinite(part["own"])]
        population = float(part["population"].iloc[0])
        if shown.empty:
            ax.text(
                0.5,
                0.5,
                "no level's rows determine\nits own estimate",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        else:
            x, y = shown["own"].to_numpy(), shown["mean"].to_numpy()
            if len(shown) <= 300:
                ax.vlines(x, shown["q5"], shown["q95"], color="0.75", lw=1, zorder=1)
            area = 10 + 150 * np.sqrt(shown["n"].to_numpy(float) / size_max)
            ax.scatter(
                x,
                y,
                s=area,
                color="C0",
                alpha=0.7,
                edgecolor="k",
                linewidth=0.4,
                zorder=2,
                label="level (size = rows)",
            )
            lo = float(min(x.min(), y.min(), population))
            hi = float(max(x.max(), y.max(), population))
            ax.plot([lo, hi], [lo, hi], "--", color="0.4", lw=1, label="no pooling (y = x)")
            ax.axhline(population, ls=":", color="C3", lw=1.5, label=f"population {population:.3g}")
            ax.legend(loc="upper left", fontsize=7)
        missing = int((~np.isfinite(part["own"])).sum())
        note = f" ({missing} levels without one)" if missing else ""
        ax.set_xlabel(f"own estimate of {coef} (its rows only){note}", fontsize=9)
        ax.set_ylabel(f"partially pooled {coef} (90% interval)", fontsize=9)
        ax.set_title(f"{group}: {coef}", fontsize=10)
    fig.suptitle(
        f"Shrinkage of {table['level'].nunique()} {group} levels toward the population", fontsize=11
    )
    return fig


# --------------------------------------------------------------------------- caterpillar
def effects_plot(fit, group: str | None = None, *, max_panels: int = 4):
    """Caterpillar plot: each level's group-level effect (deviation from the population,
    lme4's ``ranef``) with its 90% interval, levels sorted by posterior mean.

    Parameters
    ----------
    fit : Fit
    group : str, optional
        One grouping factor; default all (one panel per factor and coefficient, at most
        ``max_panels``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    groups = [group] if group is not None else list(fit.groups)
    if not groups:
        raise ValueError("the model has no group-level effects")
    panels = []
    for name in groups:
        levels, coefs, _ = fit._group(name)
        draws = _flat(fit.coef_draws(name, total=False))  # (S, levels, q)
        for k, coef in enumerate(coefs):
            panels.append((name, coef, levels, draws[:, :, k]))
    panels = panels[:max_panels]
    n_max = max(len(p[2]) for p in panels)
    if n_max <= MAX_LABELLED_LEVELS:
        height = float(np.clip(0.16 * n_max + 1.4, 3.0, 8.0))
    else:  # no labels: the shape of the sorted effects is what matters
        height = 4.2
    fig, axes = _figure(4.2 * len(panels) + 0.8, height, 1, len(panels))
    for ax, (name, coef, levels, d) in zip(axes[0], panels, strict=True):
        mean = d.mean(axis=0)
        lo, hi = np.quantile(d, [0.05, 0.95], axis=0)
        order = np.argsort(mean)
        n = len(order)
        if n > MAX_DRAWN_LEVELS:
            order = order[np.unique(np.linspace(0, n - 1, MAX_DRAWN_LEVELS).astype(int))]
        pos = np.arange(len(order))
        ax.hlines(pos, lo[order], hi[order], color="C0", lw=1 if n <= 200 else 0.5, alpha=0.8)
        ax.plot(mean[order], pos, "o", color="C0", ms=3 if n <= 200 else 1)
        ax.axvline(0.0, color="C3", ls=":", lw=1.2)
        if n <= MAX_LABELLED_LEVELS:
            ax.set_yticks(pos, [str(levels[i]) for i in order], fontsize=7)
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{n} levels, sorted" + (" (subset drawn)" if len(order) < n else ""))
        ax.set_xlabel(f"deviation of {coef} from the population (90% interval)", fontsize=9)
        ax.set_title(f"{name}: {coef}", fontsize=10)
    fig.suptitle("Group-level effects", fontsize=11)
    return fig


# --------------------------------------------------------------------------- predictive check
def ppc_plot(fit, *, n_draws: int = 50, seed: int = 0):
    """Posterior predictive check: the observed responses against ``n_draws`` data sets
    replicated from the posterior, one per draw picked at random (``seed``), each as
    ``fit.predict(kind="response")`` draws it; only the picked draws are replicated.

    A continuous response is shown as densities (histogram outlines on common bins) of
    the replicated data sets over the observed one; a discrete response as the observed
    frequency of each value against the replicated frequencies' mean and 90% interval.

    Raises
    ------
    ValueError
        When no data can be replicated (e.g. an identity link that gives a negative mean, or
        a fit on Dask, whose rows are not at hand).
    """
    from dataclasses import replace

    from multilevel.errors import DataError
    from multilevel.results.predict import predict_draws

    post = fit.posterior
    total = post.n_chains * post.n_draws
    rng = np.random.default_rng(seed)
    chain, draw = np.divmod(
        np.sort(rng.choice(total, size=min(n_draws, total), replace=False)), post.n_draws
    )
    picked = replace(
        post,
        draws={name: np.asarray(v)[chain, draw][None] for name, v in post.draws.items()},
        sample_stats={},
        log_likelihood=None,
    )
    try:
        rep = predict_draws(fit.spec, picked, kind="response", seed=seed)
    except DataError as err:
        raise ValueError(f"no posterior predictive draws: {err}") from None
    rep = np.asarray(rep, dtype=float)
    y = np.asarray(fit.spec.design.y, dtype=float)
    pick = np.arange(rep.shape[0])
    fig, axes = _figure(7.0, 4.2)
    ax = axes[0, 0]
    response = fit.spec.design.response or "y"
    discrete = fit.spec.family.discrete
    if discrete and np.nanmax(np.abs(y)) <= 200:
        top = int(max(np.quantile(y, 0.99), 1))
        values = np.arange(0, top + 1)

        def freq(v):
            return np.bincount(np.clip(v.astype(int), 0, top + 1), minlength=top + 2)[:-1]

        observed = freq(y)
        replicated = np.array([freq(rep[s]) for s in pick])
        ax.bar(values, observed, color="0.3", alpha=0.6, label="observed")
        lo, hi = np.quantile(replicated, [0.05, 0.95], axis=0)
        ax.errorbar(
            values,
            replicated.mean(axis=0),
            yerr=[replicated.mean(0) - lo, hi - replicated.mean(0)],
            fmt="o",
            color="C0",
            ms=4,
            label=f"replicated (mean, 90%; {len(pick)} draws)",
        )
        ax.set_xlabel(f"{response} (values above the 99th percentile not shown)", fontsize=9)
        ax.set_ylabel("rows")
    else:
        lo, hi = np.quantile(np.concatenate([y, rep[pick].ravel()]), [0.005, 0.995])
        bins = np.linspace(lo, hi, 31)
        for k, s in enumerate(pick):
            density, _ = np.histogram(rep[s], bins=bins, density=True)
            ax.stairs(
                density,
                bins,
                color="C0",
                alpha=0.25,
                lw=0.8,
                label=f"replicated ({len(pick)} draws)" if k == 0 else None,
            )
        density, _ = np.histogram(y, bins=bins, density=True)
        ax.stairs(density, bins, color="k", lw=2, label="observed")
        ax.set_xlabel(response)
        ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title("Posterior predictive check: do replicated data look like the data?", fontsize=10)
    return fig


# --------------------------------------------------------------------------- trace and rank
def trace_rank_plot(fit, parameters=None, *, max_parameters: int = 6, bins: int = 20):
    """Trace plots (left) and rank plots (right) of scalar parameters, one row each.

    Rank plots (Vehtari et al. 2021) histogram each chain's ranks among all draws: for
    well-mixed chains every histogram is flat. Independent draws (the exact conjugate
    engine) get rank plots only.

    Parameters
    ----------
    parameters : sequence of str, optional
        Default: the first ``max_parameters`` of the model's named parameters.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from multilevel.posterior.mcmc_stats import average_ranks

    names = list(parameters or fit.spec.parameter_names)[:max_parameters]
    if not names:
        raise ValueError("the model has no named parameters")
    mcmc = bool(fit.posterior.sample_stats)
    cols = 2 if mcmc else 1
    # one x axis per column (iterations, ranks): labelled once, at the bottom
    fig, axes = _figure(
        10.0 if mcmc else 5.5, 1.5 * len(names) + 0.8, len(names), cols, sharex="col"
    )
    for row, name in enumerate(names):
        draws = np.asarray(fit.posterior.draws[name], dtype=float)  # (chains, draws)
        chains, n = draws.shape
        if mcmc:
            ax = axes[row, 0]
            for c in range(chains):
                ax.plot(np.arange(n), draws[c], lw=0.6, alpha=0.8, color=f"C{c % 10}")
            ax.set_ylabel(name, fontsize=8)
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title("trace (one colour per chain)", fontsize=9)
        ax = axes[row, cols - 1]
        ranks = average_ranks(draws.ravel()).reshape(draws.shape)
        edges = np.linspace(0.5, draws.size + 0.5, bins + 1)
        for c in range(chains):
            counts, _ = np.histogram(ranks[c], bins=edges)
            ax.stairs(counts, edges, color=f"C{c % 10}", lw=1, baseline=None)
        ax.set_ylim(0, None)
        ax.axhline(n / bins, color="k", ls=":", lw=1)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        if not mcmc:
            ax.set_ylabel(name, fontsize=8)
        if row == 0:
            ax.set_title("rank histogram per chain (flat when chains agree)", fontsize=9)
    title = "Trace and rank plots" if mcmc else "Rank plots (independent draws: no trace needed)"
    fig.suptitle(title, fontsize=11)
    return fig


# --------------------------------------------------------------------------- conditional effects
def conditional_effects_plot(table: pd.DataFrame):
    """Plot a :func:`~multilevel.results.effects.conditional_effects` table: the median
    expected response against the predictor with its interval (a band for a numeric
    predictor, bars for a categorical one), as brms's ``plot(conditional_effects(fit))``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    effect, response = table.attrs["effect"], table.attrs["response"]
    prob = float(table.attrs.get("prob", 0.95))
    fig, axes = _figure(6.0, 4.0)
    ax = axes[0, 0]
    x = table[effect]
    label = f"{prob:.0%} interval"
    if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
        ax.fill_between(x, table["lower"], table["upper"], color="C0", alpha=0.25, label=label)
        ax.plot(x, table["estimate"], color="C0", lw=2, label="median")
    else:
        pos = np.arange(len(x))
        ax.errorbar(
            pos,
            table["estimate"],
            yerr=[table["estimate"] - table["lower"], table["upper"] - table["estimate"]],
            fmt="o",
            color="C0",
            capsize=4,
            label=f"median, {label}",
        )
        ax.set_xticks(pos, [str(v) for v in x])
    ax.set_xlabel(effect)
    what = "probability" if table.attrs.get("trials_set_to_1") else "expected"
    ax.set_ylabel(f"{response} ({what}, population level)", fontsize=9)
    ax.set_title(f"Conditional effect of {effect}", fontsize=10)
    ax.legend(fontsize=8)
    return fig
