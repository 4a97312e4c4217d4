"""Stan programs of the library's models: :func:`stan_code` and :func:`stan_data`, as brms's
``stancode()`` and ``standata()``; ``method="stan"`` samples them
(:class:`multilevel.engines.stan.StanEngine`).

The program is written as brms writes it (:mod:`._code`) and is the model the NUTS engine
samples, so the two agree within Monte Carlo error. Only numpy is needed to write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from multilevel.spec.model import ModelSpec
from multilevel.stan._code import program_code
from multilevel.stan._data import program_data
from multilevel.stan._readout import draws_from_stan, program_variables

__all__ = [
    "stan_code",
    "stan_data",
    "StanProgram",
    "program",
    "program_code",
    "program_data",
    "draws_from_stan",
]


@dataclass(frozen=True)
class StanProgram:
    """A spec's Stan program, its data and the variables read back.

    Attributes
    ----------
    code : str
        The program text.
    data : dict
        The data list (numpy arrays and ints under the program's names).
    variables : tuple of str
        The program's variables that become the fit's draws (:func:`draws_from_stan`).
    """

    code: str
    data: dict
    variables: tuple[str, ...]


def program(spec: ModelSpec, *, prior_only: bool = False) -> StanProgram:
    """The :class:`StanProgram` of a :class:`~multilevel.spec.model.ModelSpec`.

    Raises
    ------
    EngineError
        A model without a Stan program: a ``factors()`` term, data on Dask, a bounded prior
        on an intercept.
    """
    return StanProgram(
        code=program_code(spec),
        data=program_data(spec, prior_only=prior_only),
        variables=program_variables(spec),
    )


def _spec(formula, data, family, priors, dpars, na_action) -> ModelSpec:
    from multilevel.fit import _spec

    return _spec(formula, data, family, priors, dpars, na_action=na_action)


def stan_code(
    formula,
    data,
    *,
    family="gaussian",
    priors: Mapping | None = None,
    dpars=None,
    na_action: str = "omit",
) -> str:
    """The Stan program of a model, as brms's ``stancode()``.

    The arguments are those of :func:`multilevel.fit`; the data set the priors' data-scaled
    defaults (written into the program as numbers, as brms does) and the shapes.

    Returns
    -------
    str
        A program with ``functions``, ``data``, ``transformed data``, ``parameters``,
        ``transformed parameters``, ``model`` and ``generated quantities`` blocks, brms's
        variable names (``b``, ``Intercept``, ``sd_1``, ``z_1``, ``L_1``, ``r_1``), and a
        comment naming each formula term and parameter.

    Raises
    ------
    FormulaSyntaxError, FormulaError, DataError, PriorError
        As :func:`multilevel.fit`.
    EngineError
        A model without a Stan program: a ``factors()`` term or data on Dask.

    Examples
    --------
    >>> import multilevel as ml
    >>> code = ml.stan_code("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> print(code.split("model {")[1].split("}")[0].strip())  # doctest: +NORMALIZE_WHITESPACE
    // likelihood
      if (!prior_only) {
        vector[N] mu = rep_vector(0.0, N);
        mu += Intercept + Xc * b;
        // (Days | Subject)
        mu += r_1[J_1, 1] .* Z_1_1 + r_1[J_1, 2] .* Z_1_2;
        target += normal_lpdf(Y | mu, sigma);
    """
    return program_code(_spec(formula, data, family, priors, dpars, na_action))


def stan_data(
    formula,
    data,
    *,
    family="gaussian",
    priors: Mapping | None = None,
    dpars=None,
    na_action: str = "omit",
    prior_only: bool = False,
) -> dict:
    """The data list of :func:`stan_code`'s program, as brms's ``standata()``.

    Returns
    -------
    dict
        ``N``, ``Y`` (integers for count and binary families), ``K`` and ``X`` (the
        population-level design, intercept column first), ``trials``, ``se``, ``weights``,
        ``offsets`` where the formula has them, per group-level block ``i`` (numbered as in
        the program) ``N_i`` levels, ``M_i`` coefficients, ``J_i`` the 1-based level of each
        row (``J_i_1``, ``J_i_2``, ... and weights ``W_i_m`` for ``mm()``), ``Z_i_k`` the
        covariate of coefficient ``k``, ``NC_i`` correlations; a distributional formula's
        arrays with its suffix (``X_sigma``); ``prior_only``.

    Examples
    --------
    >>> import multilevel as ml
    >>> data = ml.stan_data("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> data["N"], data["K"], data["N_1"], data["M_1"], int(data["J_1"].max())
    (180, 2, 18, 2, 18)
    """
    spec = _spec(formula, data, family, priors, dpars, na_action)
    return program_data(spec, prior_only=prior_only)
