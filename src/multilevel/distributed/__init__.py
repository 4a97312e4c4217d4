"""Fits of data on Dask: per-partition statistics reduced on the cluster.

:func:`multilevel.fit` and :func:`multilevel.fit_conjugate` accept a
``dask.dataframe.DataFrame`` (from Parquet on disk, say, larger than memory). The engines that
need only sums over rows then run on those sums: the gaussian engine's cross products of
``[Z X y]`` (REML, ML and the exact full-Bayes engine) and the conjugate engine's per-group
sufficient statistics. The rows never leave the workers; the client receives objects whose
size grows with the number of levels. Work runs on the active ``distributed.Client`` if
there is one, on Dask's threaded scheduler otherwise (:mod:`multilevel.distributed._client`).

The passes over the data:

1. levels of every grouping factor and categorical predictor, rows left out for missing
   values (:mod:`multilevel.distributed._design`);
2. each partition's design with those encodings, reduced to cross products and the
   summaries of the default priors (:mod:`multilevel.distributed.statistics`);
3. for the default priors' location and scale, exact medians of the response in two passes
   each over the response column alone (:mod:`multilevel.distributed._order`).
"""

from __future__ import annotations

from multilevel.distributed._client import active_client, compute, is_dask_frame

__all__ = ["is_dask_frame", "active_client", "compute", "dask_spec", "log_density"]


def log_density(fit, ddf, *, new_groups: str = "error"):
    """The log predictive density of each row of a Dask frame under a gaussian fit, as a lazy
    Dask series (:func:`multilevel.distributed.predict.log_density_lazily`); its sum is the
    frame's log predictive density (held-out ``elpd`` when the rows were not fitted).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import multilevel as ml
    >>> ddf = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=3)
    >>> fit = ml.fit("Reaction ~ Days + (Days | Subject)", ddf, method="reml")
    >>> round(float(log_density(fit, ddf).sum().compute()), 1)
    -824.5
    """
    from multilevel.distributed.predict import log_density_lazily

    return log_density_lazily(fit, ddf, new_groups=new_groups)


def _label_sets(formula, meta) -> tuple[tuple[str, ...], ...]:
    """Column sets whose distinct values may be levels: grouping factors (an interaction's
    columns together, an ``mm()``'s one by one), text / categorical / boolean columns and
    the columns inside ``C()`` or ``factor()``."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    from multilevel.formula.ast import variables

    sets: list[tuple[str, ...]] = []
    formulas = [formula, *formula.dpars.values()]
    for f in formulas:
        for block in f.groups:
            if block.membership is not None:
                sets += [(c,) for c in block.group]
            else:
                sets.append(tuple(block.group))
        for text, node in f.expressions.items():
            if text.startswith(("C(", "factor(", "as.factor(", "as.character(")):
                sets += [(c,) for c in variables(node)]
    used = formula.variables()
    for column in meta.columns:
        dtype = meta[column].dtype
        if column in used and (is_bool_dtype(dtype) or not is_numeric_dtype(dtype)):
            sets.append((column,))
    return tuple(dict.fromkeys(sets))


def dask_spec(formula, ddf, family, priors, *, with_priors: bool = True, na_action="omit"):
    """The :class:`~multilevel.spec.model.ModelSpec` of a parsed formula on a Dask frame: a
    design with the frame's encodings and no rows, and the frame's statistics.

    Raises
    ------
    DataError
        Missing columns; missing values under ``na_action="error"`` or bad values in a
        partition (the partition and rows are named); a stateful transform (``scale()``);
        no complete row.
    EngineError
        A model no engine fits from a Dask frame's statistics: a family other than gaussian
        (identity link), bernoulli, binomial and poisson; a bernoulli, binomial or poisson
        model with priors (only ``method="laplace"`` fits those); a distributional formula,
        ``weights()``, ``factors()`` or no group term.
    """
    import warnings
    from dataclasses import replace

    import pandas as pd

    from multilevel.distributed._client import in_partition, partitions, tree_reduce
    from multilevel.distributed._design import (
        HEAD_ROWS,
        DaskSource,
        complete_rows,
        label_sets,
        learned_info,
        no_rows,
        scan,
    )
    from multilevel.distributed.statistics import gaussian_statistics
    from multilevel.errors import DataError, DataWarning, EngineError
    from multilevel.frame import check_na_action, require_columns
    from multilevel.spec.model import build_spec
    from multilevel.spec.statistics import DataStatistics

    check_na_action(na_action)
    _refuse_unsupported(formula, family)
    meta = ddf._meta
    require_columns(meta, sorted(formula.variables()), role="column")
    used = [c for c in meta.columns if c in formula.variables()]
    sets = _label_sets(formula, meta)
    parts = partitions(ddf)
    total = len(parts)

    from dask import delayed

    call = delayed(in_partition, pure=True)
    scans = [call(k, total, scan, part, used, sets, na_action, k) for k, part in enumerate(parts)]
    (found,) = compute(tree_reduce(scans, lambda a, b: a + b))
    if found.rows == found.dropped:
        raise DataError(
            "every row of the Dask frame has a missing value (NA) in a column the model uses"
            + (f" (first found: {found.missing_note})" if found.missing_note else "")
        )
    with warnings.catch_warnings():  # "insufficient elements": fewer rows are fine
        warnings.simplefilter("ignore", UserWarning)
        head = ddf.head(HEAD_ROWS, npartitions=min(ddf.npartitions, 4), compute=True)
    head, _ = complete_rows(pd.DataFrame(head), used, "omit")
    learned = learned_info(formula, head, found, family.name)
    missed = [s for s in label_sets(learned.info) if s not in sets]
    if missed:  # a categorical column the frame's dtypes did not show
        raise EngineError(
            f"the columns {missed} hold categories the Dask path did not expect: give them "
            "a categorical or text dtype in the frame"
        )
    source = DaskSource(ddf, learned.info, used, na_action, family)
    if family.name == "gaussian":
        statistics = replace(
            gaussian_statistics(
                parts,
                learned.info,
                used,
                na_action,
                family,
                dropped=found.dropped,
                priors=with_priors,
            ),
            source=source,
        )
    elif with_priors:
        raise EngineError(
            f"on Dask a {family.name} model gets lme4's glmer estimates (method='laplace'), "
            "whose PIRLS passes over the partitions; a posterior of it needs every row in "
            "memory (ddf.compute())"
        )
    else:  # the laplace engine reduces per-row weights at every PIRLS step
        statistics = DataStatistics(
            None, None, None, found.rows - found.dropped, found.dropped, total, source
        )
    if found.dropped:
        warnings.warn(
            f"{found.dropped:,} of {found.rows:,} rows are left out because of missing values "
            f"(first found in {found.missing_note}); the model is fitted to the "
            f"other {found.rows - found.dropped:,} rows (as lme4 and brms do; "
            "na_action='error' refuses them instead)",
            DataWarning,
            stacklevel=3,
        )
    return build_spec(
        no_rows(learned), family, priors, with_priors=with_priors, statistics=statistics
    )


def _refuse_unsupported(formula, family) -> None:
    from multilevel.errors import EngineError

    why = None
    glmm = family.name in ("bernoulli", "binomial", "poisson")
    if not glmm and (family.name != "gaussian" or family.link != "identity"):
        why = f"the {family} family"
    elif formula.dpars:
        why = "a family parameter with its own formula"
    elif formula.factors:
        why = "factors() terms"
    elif formula.addition("weights") is not None:
        why = "weights()"
    elif not formula.groups:
        why = "a model without group terms"
    if why is not None:
        raise EngineError(
            f"a fit on a Dask frame runs the engines that need only sums over rows: the "
            "gaussian engine (REML, ML, exact), the laplace engine (bernoulli, binomial, "
            f"poisson) and fit_conjugate; this model has {why}. Fit it in memory "
            "(ddf.compute()) or with one of those models"
        )
