"""The classical hierarchical model: validate data and reduce it to per-group statistics.

``build_conjugate_spec`` is the boundary of :func:`multilevel.fit_conjugate`: it checks the
columns named for the likelihood, refuses values outside the likelihood's support (naming the
column and rows), and sums the data of each group into sufficient statistics. Rows may be
single observations (long form) or per-group summaries; both reduce to the same statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from multilevel.design._labels import factorize_sorted
from multilevel.errors import DataError, PriorError
from multilevel.frame import label_column, numeric_column, require_columns, row_list, to_pandas
from multilevel.spec.priors import Prior, as_prior

__all__ = ["ConjugateSpec", "GroupStats", "build_conjugate_spec", "check_arguments", "LIKELIHOODS"]


@dataclass(frozen=True)
class GroupStats:
    """Per-group sufficient statistics, one array of length G per named statistic."""

    values: dict[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))

    def take(self, index) -> GroupStats:
        """The statistics of the groups at ``index`` (an integer array or slice)."""
        return GroupStats({k: np.atleast_1d(v[index]) for k, v in self.values.items()})


# likelihood -> (required column roles, optional column roles)
LIKELIHOODS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "normal": (("y",), ("se", "n", "sd")),
    "binomial": (("successes", "trials"), ()),
    "poisson": (("counts",), ("exposure",)),
    "gamma": (("y", "shape"), ("n",)),
}
HYPER_NAMES = {
    "normal_known": ("mu", "tau"),
    "normal": ("mu", "tau", "sigma"),
    "binomial": ("alpha", "beta"),
    "poisson": ("alpha", "beta"),
    "gamma": ("alpha", "beta"),
}
POSITIVE = {"mu": False, "tau": True, "sigma": True, "alpha": True, "beta": True}


@dataclass(frozen=True)
class ConjugateSpec:
    """Everything the conjugate engine needs, as plain arrays.

    Attributes
    ----------
    chain : str
        ``"normal_known"``, ``"normal"``, ``"binomial"``, ``"poisson"`` or ``"gamma"``.
    labels : pandas.Index
        Group labels, in the order of the statistics.
    stats : GroupStats
        Per-group sufficient statistics.
    priors : dict
        User priors by hyperparameter name (defaults are filled in by the engine).
    hyper : str or dict
        ``"bayes"``, ``"eb"`` or fixed hyperparameter values.
    """

    likelihood: str
    chain: str
    group: str
    labels: pd.Index
    stats: GroupStats
    columns: dict[str, str | float]
    priors: dict[str, Prior] = field(default_factory=dict)
    hyper: str | dict[str, float] = "bayes"
    n_rows: int = 0

    @property
    def hyper_names(self) -> tuple[str, ...]:
        return HYPER_NAMES[self.chain]


def _check(condition_bad: np.ndarray, frame, message: str):
    if np.any(condition_bad):
        raise DataError(f"{message} in {row_list(frame.index, condition_bad)}")


def _integers(values, name, frame):
    _check(values != np.round(values), frame, f"column {name!r} must hold whole numbers")


def _role_values(frame, columns, role, default=None):
    """Values of a column role: a named column, a number given directly, or the default."""
    spec = columns.get(role)
    if spec is None:
        return None if default is None else np.full(len(frame), float(default))
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        if not np.isfinite(spec):
            raise DataError(f"{role}={spec!r} must be a finite number or a column name")
        return np.full(len(frame), float(spec))
    return numeric_column(frame, spec)


def _factorize_sorted(labels: pd.Series):
    """Integer codes of the labels and the distinct labels in lme4's order (as the design
    stage sorts them); small non-negative integer labels are tallied in linear time."""
    values = labels.to_numpy()
    if values.dtype.kind in "iu" and len(values) and values.min() >= 0:
        if values.max() <= 4 * len(values) + 1024:
            present = np.flatnonzero(np.bincount(values))
            lookup = np.empty(int(values.max()) + 1, dtype=np.int64)
            lookup[present] = np.arange(len(present))
            return lookup[values], pd.Index(present.astype(values.dtype))
    return factorize_sorted(labels)


def _group_codes(frame, group, allow_single_group=False):
    codes, uniques = _factorize_sorted(label_column(frame, group, grouping=True))
    if len(uniques) < 2 and not allow_single_group:
        raise DataError(
            f"grouping column {group!r} has a single level ({uniques[0]!r}): a hierarchical "
            "model needs at least 2 groups to share information between them"
        )
    return codes, uniques.rename(group)


def _sum(codes, values, size):
    return np.bincount(codes, weights=values, minlength=size)


def _binomial(frame, columns, codes, size):
    s = _role_values(frame, columns, "successes")
    n = _role_values(frame, columns, "trials")
    sname, nname = columns["successes"], columns["trials"]
    _integers(s, sname, frame)
    _integers(n, nname, frame)
    _check(s < 0, frame, f"column {sname!r} (successes) has negative counts")
    _check(n < 1, frame, f"column {nname!r} (trials) must be at least 1")
    _check(s > n, frame, f"successes {sname!r} exceed trials {nname!r}")
    return "binomial", {"successes": _sum(codes, s, size), "trials": _sum(codes, n, size)}


def _poisson(frame, columns, codes, size):
    y = _role_values(frame, columns, "counts")
    e = _role_values(frame, columns, "exposure", default=1.0)
    name = columns["counts"]
    _integers(y, name, frame)
    _check(y < 0, frame, f"column {name!r} (counts) has negative counts")
    _check(e <= 0, frame, f"exposure {columns.get('exposure')!r} must be positive")
    return "poisson", {"counts": _sum(codes, y, size), "exposure": _sum(codes, e, size)}


def _gamma(frame, columns, codes, size):
    y = _role_values(frame, columns, "y")
    k = _role_values(frame, columns, "shape")
    n = _role_values(frame, columns, "n", default=1.0)
    _check(y <= 0, frame, f"column {columns['y']!r} must be positive for a gamma likelihood")
    _check(k <= 0, frame, f"shape {columns['shape']!r} must be positive")
    _check(n < 1, frame, f"count column {columns.get('n')!r} must be at least 1")
    return "gamma", {
        "shape_total": _sum(codes, n * k, size),
        "total": _sum(codes, n * y, size),
        "n": _sum(codes, n, size),
    }


def _normal(frame, columns, codes, size):
    y = _role_values(frame, columns, "y")
    n = _role_values(frame, columns, "n", default=1.0)
    if columns.get("n") is not None:
        _integers(n, columns["n"], frame)
        _check(n < 1, frame, f"count column {columns['n']!r} must be at least 1")
    if columns.get("se") is not None:
        se = _role_values(frame, columns, "se")
        _check(se <= 0, frame, f"known standard error {columns['se']!r} must be positive")
        precision = _sum(codes, 1.0 / se**2, size)
        ybar = _sum(codes, y / se**2, size) / precision
        return "normal_known", {"ybar": ybar, "v": 1.0 / precision, "n": _sum(codes, n, size)}
    sd = _role_values(frame, columns, "sd", default=0.0)
    if columns.get("sd") is not None:
        _check(sd < 0, frame, f"within-row SD {columns['sd']!r} must not be negative")
    elif np.any(n > 1):
        raise DataError("rows that summarise n > 1 observations also need their SD: pass sd=")
    total_n = _sum(codes, n, size)
    ybar = _sum(codes, n * y, size) / total_n
    ss = _sum(codes, (n - 1) * sd**2 + n * (y - ybar[codes]) ** 2, size)
    return "normal", {"ybar": ybar, "n": total_n, "ss": ss}


_REDUCERS = {"normal": _normal, "binomial": _binomial, "poisson": _poisson, "gamma": _gamma}


def _validate_priors(priors, names):
    out = {}
    for key, value in (priors or {}).items():
        if key not in names:
            raise PriorError(
                f"unknown prior target {key!r}; this model's hyperparameters are: "
                + ", ".join(names)
            )
        try:
            prior = as_prior(value)
        except PriorError as err:
            raise PriorError(f"prior for {key!r}: {err}") from None
        out[key] = prior.truncated(0.0) if POSITIVE[key] else prior
    return out


def _validate_hyper(hyper, names):
    if isinstance(hyper, str):
        if hyper not in ("bayes", "eb"):
            raise DataError(
                f"hyper={hyper!r} is not a treatment; use 'bayes', 'eb' or a dict of fixed values"
            )
        return hyper
    if not isinstance(hyper, dict):
        raise DataError("hyper must be 'bayes', 'eb' or a dict of fixed hyperparameter values")
    missing = [n for n in names if n not in hyper]
    extra = [k for k in hyper if k not in names]
    if missing or extra:
        raise DataError(
            f"fixed hyperparameters must give exactly {', '.join(names)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(map(str, extra))}" if extra else "")
        )
    fixed = {}
    for name in names:
        value = float(hyper[name])
        if not np.isfinite(value) or (POSITIVE[name] and value <= 0):
            raise DataError(
                f"fixed hyperparameter {name}={hyper[name]!r} must be "
                + ("positive" if POSITIVE[name] else "finite")
            )
        fixed[name] = value
    return fixed


def check_arguments(likelihood, columns) -> None:
    """Raise DataError for an unknown likelihood, column arguments it does not take, or
    ``se=`` together with ``sd=``.

    The checks that need no data, shared by the in-memory and the Dask paths.
    """
    if likelihood not in LIKELIHOODS:
        raise DataError(
            f"unknown likelihood {likelihood!r}; choose one of: " + ", ".join(LIKELIHOODS)
        )
    required, optional = LIKELIHOODS[likelihood]
    unknown = [k for k in columns if k not in required + optional]
    if unknown:
        raise DataError(
            f"likelihood={likelihood!r} takes the column arguments "
            + ", ".join(f"{r}=" for r in required + optional)
            + f"; unknown: {', '.join(f'{u}=' for u in unknown)}"
        )
    absent = [r for r in required if columns.get(r) is None]
    if absent:
        raise DataError(
            f"likelihood={likelihood!r} needs the column argument(s) "
            + ", ".join(f"{r}=" for r in absent)
        )
    if likelihood == "normal" and columns.get("se") is not None and columns.get("sd") is not None:
        raise DataError("give either se= (known noise) or sd= (within-row SD), not both")


def build_conjugate_spec(
    data, *, likelihood, group, priors=None, hyper="bayes", allow_single_group=False, **columns
):
    """Validate ``data`` and reduce it to per-group sufficient statistics.

    See :func:`multilevel.fit_conjugate` for the arguments; ``allow_single_group`` is for
    statistics of new groups scored under an existing fit.

    Raises
    ------
    DataError
        Unknown likelihood, missing or misspelled columns, NaN/inf, values outside the
        support, or a single group.
    PriorError
        A prior for an unknown hyperparameter or an invalid prior string.
    """
    check_arguments(likelihood, columns)
    frame = to_pandas(data)
    named = [v for v in columns.values() if isinstance(v, str)]
    require_columns(frame, [group], role="group column")
    require_columns(frame, named)
    codes, labels = _group_codes(frame, group, allow_single_group)
    chain, stats = _REDUCERS[likelihood](frame, columns, codes, len(labels))
    names = HYPER_NAMES[chain]
    return ConjugateSpec(
        likelihood=likelihood,
        chain=chain,
        group=group,
        labels=labels,
        stats=GroupStats({k: np.asarray(v, float) for k, v in stats.items()}),
        columns=dict(columns),
        priors=_validate_priors(priors, names),
        hyper=_validate_hyper(hyper, names),
        n_rows=len(frame),
    )
