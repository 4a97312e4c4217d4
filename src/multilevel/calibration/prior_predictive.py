"""Data sets simulated from a model's priors on the user's design: :func:`simulate`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from multilevel.calibration._priors import check_simulable
from multilevel.calibration._seeds import simulation_seeds
from multilevel.calibration._simulate import effect_names, simulate_once
from multilevel.errors import EngineError

__all__ = ["SimulatedData", "simulate"]


@dataclass(frozen=True, eq=False)
class SimulatedData:
    """One data set drawn from the priors.

    Attributes
    ----------
    truth : pandas.Series
        The value of every named parameter (``b_Intercept``, ``sd_g__Intercept``, ...,
        ``sigma``) then of every group effect (``r_g[1,Intercept]``).
    y : numpy.ndarray
        The simulated response, one value per row of the design (rows the fit would leave
        out for missing values are not simulated).
    data : pandas.DataFrame or None
        The rows of the data that the model reads, with the response column replaced by
        ``y``; None when the response is not a plain column (``log(y)``, ``cbind(...)``).
    redraws : int
        Draws from the priors rejected before this one because their response was not valid
        data for the family (see :mod:`multilevel.calibration._simulate`).
    """

    truth: pd.Series
    y: np.ndarray
    data: pd.DataFrame | None
    redraws: int


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EngineError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _frame(data, spec) -> pd.DataFrame | None:
    """The training rows of ``data`` (None when the response is not a plain column)."""
    formula = spec.design.info.formula
    column = spec.design.response
    if getattr(formula, "binomial_pair", None) is not None:
        return None
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
    if column not in frame.columns:
        return None
    return frame.loc[spec.design.info.training_index].copy()


def simulate(
    formula,
    data,
    *,
    family="gaussian",
    priors: Mapping | None = None,
    dpars=None,
    n_sims: int = 1,
    seed: int | None = None,
) -> list[SimulatedData]:
    """Draw data sets from the priors of a model, on the design of your data.

    The model is built from ``formula`` and ``data`` as :func:`multilevel.fit` builds it
    (default priors are scaled to ``data``'s response, then frozen); each data set draws
    every parameter from its prior, the group effects from their normal distribution and
    the response from the family (:mod:`multilevel.calibration._simulate` gives the
    details). These are the data sets that :func:`multilevel.calibration.sbc` fits, for the
    same ``seed``: a prior predictive check of the priors.

    Parameters
    ----------
    formula, data, family, priors, dpars
        As in :func:`multilevel.fit`. Every prior must be proper.
    n_sims : int
        Number of data sets.
    seed : int, optional
        Random seed (None: fresh).

    Returns
    -------
    list of SimulatedData

    Raises
    ------
    FormulaSyntaxError, FormulaError, DataError
        As :func:`multilevel.fit`.
    PriorError
        An improper (``flat``) prior, which cannot be drawn from.
    EngineError
        A bad ``n_sims`` or ``seed``; a ``factors()`` term or data on Dask; priors that
        give no valid response in 100 draws in a row.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.calibration import simulate
    >>> sims = simulate("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
    ...                 n_sims=2, seed=1)
    >>> len(sims), sims[0].y.shape, list(sims[0].truth.index[:2])
    (2, (180,), ['b_Intercept', 'b_Days'])
    >>> sims[0].data["Reaction"].equals(pd.Series(sims[0].y, index=sims[0].data.index))
    True
    """
    from multilevel.fit import _spec

    n_sims = _positive_int(n_sims, "n_sims")
    spec = _spec(formula, data, family, priors, dpars)
    check_simulable(spec)
    _, seeds = simulation_seeds(seed, n_sims)
    effects = effect_names(spec)
    frame = _frame(data, spec)
    out = []
    for data_seed, _ in seeds:
        truth, y, redraws = simulate_once(spec, np.random.default_rng(data_seed))
        values = dict(truth.values)
        values.update({name: truth.effects[key][j, c] for name, key, j, c in effects})
        sim_frame = None
        if frame is not None:
            sim_frame = frame.copy()
            sim_frame[spec.design.response] = y
        out.append(SimulatedData(pd.Series(values, dtype=float), y, sim_frame, redraws))
    return out
