"""Predictions, pointwise log predictive densities and posterior predictive draws over a Dask
frame, lazily: each partition is predicted on the worker that holds it, with the fit sent
once per task; the result is a Dask frame with the rows' labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["predict_lazily", "log_density_lazily"]


def _partition_seed(seed, number: int):
    """An independent stream per partition from the user's seed (None stays None)."""
    if seed is None:
        return None
    return np.random.default_rng(np.random.SeedSequence([int(seed), number]))


def predict_lazily(fit, ddf, *, kind: str, new_groups: str, seed, summary: bool = True):
    """``fit.predict`` of every partition of ``ddf`` as a lazy Dask frame with the columns of
    the in-memory table (``mean, sd, q5, q50, q95``; ``estimate`` for a point fit).

    Raises
    ------
    ValueError
        ``summary=False``: the draws of every row of a frame that does not fit in memory
        cannot come back to the client; summarise them on the workers (the default).
    """
    if not summary:
        raise ValueError(
            "summary=False returns every draw of every row, which for a Dask frame would not "
            "fit in memory: use summary=True (a lazy Dask frame of per-row summaries), or "
            "predict a pandas subset"
        )
    point = not hasattr(fit, "posterior")
    options = {"kind": kind, "new_groups": new_groups}

    def one(part, partition_info=None):
        if not len(part):
            return meta
        number = 0 if partition_info is None else partition_info["number"]
        if point:
            return fit.predict(part, **options).to_frame()
        return fit.predict(part, seed=_partition_seed(seed, number), **options)

    if point:
        meta = pd.DataFrame({"estimate": pd.Series(dtype=float)})
    else:
        from multilevel.results.predict import summarize_draws

        meta = summarize_draws(np.zeros((2, 0)))
    return ddf.map_partitions(one, meta=meta)


def log_density_lazily(fit, ddf, *, new_groups: str = "error"):
    """The log predictive density of each row's response, lazily: for a posterior
    ``log mean_s N(y | mu_s, sigma_s)`` over the draws (the pointwise ``lppd`` of LOO and
    WAIC), for a point fit ``log N(y | mu, sigma)`` at the estimates.

    Raises
    ------
    EngineError
        A family other than gaussian (the models fitted on Dask).
    """
    from scipy.special import logsumexp

    from multilevel.errors import DataError, EngineError

    if fit.spec.family.name != "gaussian" or fit.spec.known_sigma:
        raise EngineError(
            "log densities over a Dask frame are for gaussian models with a sigma parameter"
        )
    response = fit.spec.design.info.formula.response
    point = not hasattr(fit, "posterior")

    def one(part):
        if not len(part):
            return pd.Series([], dtype=float, name="log_density")
        y = fit.spec.design.info.response_of(part)
        if y is None:
            raise DataError(f"the frame has no response {response!r} to score")
        if point:
            mu = fit.predict(part, kind="linear", new_groups=new_groups).to_numpy()[None, :]
            sigma = np.array([[fit.estimate.estimates["sigma"]]])
        else:
            mu = fit.predict(part, kind="linear", new_groups=new_groups, summary=False)
            sigma = np.asarray(fit.posterior.draws["sigma"], float).reshape(-1, 1)
        z = (y[None, :] - mu) / sigma
        log_p = -0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
        values = logsumexp(log_p, axis=0) - np.log(log_p.shape[0])
        return pd.Series(values, index=part.index, name="log_density")

    return ddf.map_partitions(one, meta=pd.Series([], dtype=float, name="log_density"))
