"""Public entry point of the classical hierarchical model: :func:`fit_conjugate`."""

from __future__ import annotations

from multilevel.distributed._client import is_dask_frame
from multilevel.engines.conjugate.engine import fit_spec
from multilevel.results.conjugate import ConjugateFit
from multilevel.spec.conjugate import build_conjugate_spec

__all__ = ["fit_conjugate"]


def fit_conjugate(
    data, *, likelihood, group, priors=None, hyper="bayes", **columns
) -> ConjugateFit:
    """Fit a classical hierarchical model exactly.

    theta (hyperparameters) -> mu_i (one parameter per group) -> x_ij (observations), with a
    conjugate pair so that the group parameters integrate out in closed form:

    ============  ====================================  =============================
    likelihood    columns                               group parameter ~ mixing
    ============  ====================================  =============================
    ``normal``    ``y=``, ``se=`` (known SE)             theta_i ~ Normal(mu, tau)
    ``normal``    ``y=`` [, ``n=``, ``sd=``] (unknown    theta_i ~ Normal(mu, tau),
                  common noise SD ``sigma``)             noise SD sigma
    ``binomial``  ``successes=``, ``trials=``           p_i ~ Beta(alpha, beta)
    ``poisson``   ``counts=`` [, ``exposure=``]         rate_i ~ Gamma(alpha, beta)
    ``gamma``     ``y=``, ``shape=`` (known; a column    rate_i ~ Gamma(alpha, beta)
                  or a number) [, ``n=``]
    ============  ====================================  =============================

    Rows can be single observations or per-group summaries (``n=`` observations with mean
    ``y`` and SD ``sd``; summed successes/trials, counts/exposure); they reduce to the same
    sufficient statistics.

    Parameters
    ----------
    data : DataFrame, dict of columns or dask.dataframe.DataFrame
        Any eager frame narwhals reads (pandas, polars, pyarrow), or a Dask frame: then
        each partition is validated and reduced to per-group statistics on the cluster (the
        active ``distributed.Client``, else Dask's threaded scheduler), the statistics are
        merged exactly, and the fit equals the in-memory fit of the same rows (see
        :func:`multilevel.distributed.conjugate.conjugate_spec`).
    likelihood : {"normal", "binomial", "poisson", "gamma"}
    group : str
        The grouping column.
    priors : dict, optional
        Hyperpriors by name (``mu``, ``tau``, ``sigma``; ``alpha``, ``beta``) as Stan
        strings, e.g. ``{"mu": "normal(0, 5)", "tau": "cauchy(0, 5)"}``; priors on positive
        parameters are truncated at zero as in Stan. Unset ones get weakly informative,
        data-scaled defaults (``fit.priors`` shows them).
    hyper : "bayes", "eb" or dict
        ``"bayes"`` integrates the hyperparameters against their prior by adaptive
        quadrature (exact); ``"eb"`` plugs in their maximum marginal likelihood estimate;
        a dict of values fixes them (then no group informs another).
    **columns
        Column names for the likelihood's roles (see the table).

    Returns
    -------
    ConjugateFit
        ``groups()``, ``hyper()``, ``hyper_grid()``, ``hyper_draws()``, ``hyper_without()``,
        ``loo()``, ``predict()``, ``new_group()``, ``update_new_group()``,
        ``plot_shrinkage()``.

    Raises
    ------
    DataError
        Missing columns, NaN/inf, values outside the likelihood's support (negative counts,
        successes > trials, non-positive exposure or SE), or fewer than two groups.
    PriorError
        A prior for an unknown hyperparameter or an unreadable prior string.

    Examples
    --------
    >>> import multilevel as ml
    >>> schools = ml.datasets.load("eight_schools")
    >>> fit = ml.fit_conjugate(schools, likelihood="normal", group="school", y="y",
    ...                        se="sigma", priors={"mu": "normal(0, 5)", "tau": "cauchy(0, 5)"})
    >>> fit.hyper().loc["tau", "mean"].round(1)
    np.float64(3.6)
    >>> list(fit.groups().columns)
    ['n', 'estimate', 'mean', 'sd', 'q5', 'q50', 'q95', 'shrinkage']
    """
    if is_dask_frame(data):
        from multilevel.distributed.conjugate import conjugate_spec  # imports Dask

        spec = conjugate_spec(
            data, likelihood=likelihood, group=group, priors=priors, hyper=hyper, **columns
        )
    else:
        spec = build_conjugate_spec(
            data, likelihood=likelihood, group=group, priors=priors, hyper=hyper, **columns
        )
    return ConjugateFit(spec, fit_spec(spec))
