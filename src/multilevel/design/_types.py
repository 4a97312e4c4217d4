"""The design stage's hand-offs: :class:`GroupBlock`, :class:`DparDesign`, :class:`Design`,
:class:`DesignInfo`. Frozen dataclasses of read-only numpy arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from multilevel.design._coding import TermCoding
from multilevel.design._evaluate import FactorInfo
from multilevel.design._groups import GroupingInfo
from multilevel.formula.terms import FactorTerm, Formula, GroupTerm

__all__ = [
    "GroupBlock",
    "DparDesign",
    "Design",
    "DesignInfo",
    "PartInfo",
    "BlockInfo",
    "FactorSide",
    "FactorDesign",
]


def _restore(obj: object, state: dict) -> None:
    """Unpickle a frozen dataclass, its arrays read-only again."""
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
        object.__setattr__(obj, key, value)


class _ReadOnlyArrays:
    """Mixin: arrays stay read-only through pickling."""

    def __setstate__(self, state: dict) -> None:
        _restore(self, state)


@dataclass(frozen=True, eq=False)
class GroupBlock(_ReadOnlyArrays):
    """One block of group-level effects: ``(1 + floor | county)`` with its data.

    The linear predictor of row ``i`` gets ``sum_k weights[i, k] * Z[i] @ r[index[i, k]]``
    where ``r`` is the ``(levels, q)`` matrix of the block's group effects.

    Parameters
    ----------
    name : str
        The grouping factor: ``"county"``, ``"a:b"``, ``"mm(g1,g2)"``.
    coef_names : tuple of str
        Names of the ``q`` varying coefficients (the columns of ``Z``): ``("Intercept",
        "floor")``; categorical terms are expanded as in the population part (``"catb"``).
    correlated : bool
        True for ``|`` (one unstructured covariance), False for a block split off ``||``.
    levels : pandas.Index
        Level labels in lme4's sorted order (numbers numerically). For ``a:b`` the labels are
        ``"a_level:b_level"`` strings of the combinations in the data; for ``mm()`` the union
        of the member columns' levels.
    index : numpy.ndarray
        int32 ``(n, m)``: each row's level, ``m = 1`` or the number of ``mm`` columns. After
        :meth:`DesignInfo.transform`, values ``>= len(levels)`` point into ``new_levels``
        (see :attr:`known`).
    weights : numpy.ndarray
        float ``(n, m)``: 1 unless ``mm(..., weights = cbind(...))`` (divided by the row's sum
        under ``scale = TRUE``); 0 for new levels under ``new_groups="population"``.
    Z : numpy.ndarray
        float ``(n, q)``: the varying coefficients' covariates (a column of ones for the
        intercept).
    columns : tuple of str
        The grouping columns in the data.
    source : str
        The group term as written, e.g. ``"(1 + x || g)"``.
    new_levels : pandas.Index
        Labels of levels met in new data and not in training (empty for a training design).
    """

    name: str
    coef_names: tuple[str, ...]
    correlated: bool
    levels: pd.Index
    index: np.ndarray
    weights: np.ndarray
    Z: np.ndarray
    columns: tuple[str, ...] = ()
    source: str = ""
    new_levels: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))

    @property
    def n_levels(self) -> int:
        """Number of training levels."""
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of varying coefficients."""
        return self.Z.shape[1]

    @property
    def multiple_membership(self) -> bool:
        """Whether rows belong to several levels (``mm()``)."""
        return self.index.shape[1] > 1

    @property
    def known(self) -> np.ndarray:
        """bool ``(n, m)``: True where the row's level was in the training data."""
        return self.index < self.n_levels


@dataclass(frozen=True, eq=False)
class FactorSide(_ReadOnlyArrays):
    """One side (the users or the items) of a factor term, with its data.

    Parameters
    ----------
    name : str
        The grouping column (``"user"``).
    levels : pandas.Index
        Its training levels, sorted as a grouping factor's.
    index : numpy.ndarray
        int32 ``(n,)``: each row's level; after :meth:`DesignInfo.transform`, values
        ``>= len(levels)`` point into ``new_levels``.
    new_levels : pandas.Index
        Levels met in new data and not in training.
    group : str or None
        The column grouping this side (``"artist"``), if any.
    group_levels : pandas.Index or None
        Its training levels.
    group_index : numpy.ndarray or None
        int32 ``(n,)``: each row's group level (``>= len(group_levels)`` for a new group).
    """

    name: str
    levels: pd.Index
    index: np.ndarray
    new_levels: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    group: str | None = None
    group_levels: pd.Index | None = None
    group_index: np.ndarray | None = None

    @property
    def n_levels(self) -> int:
        """Number of training levels."""
        return len(self.levels)

    def level_groups(self) -> np.ndarray:
        """int32 ``(levels,)``: the group of each training level (its rows all share one)."""
        out = np.zeros(self.n_levels, dtype=np.int32)
        known = self.index < self.n_levels
        out[self.index[known]] = self.group_index[known]
        return out


@dataclass(frozen=True, eq=False)
class FactorDesign:
    """A factor term evaluated on data: ``u[users.index] · v[items.index]`` per row.

    Parameters
    ----------
    term : FactorTerm
    users, items : FactorSide
    """

    term: FactorTerm
    users: FactorSide
    items: FactorSide

    @property
    def k(self) -> int:
        """Number of factors."""
        return self.term.k

    @property
    def sides(self) -> tuple[FactorSide, FactorSide]:
        """``(users, items)``."""
        return self.users, self.items


@dataclass(frozen=True, eq=False)
class DparDesign(_ReadOnlyArrays):
    """The design of a distributional parameter's formula, e.g. ``sigma ~ 1 + (1 | g)``.

    Parameters
    ----------
    parameter : str
        ``"sigma"``, ...
    X, X_names, X_terms, intercept, offset, blocks
        As in :class:`Design`.
    """

    parameter: str
    X: np.ndarray
    X_names: tuple[str, ...]
    X_terms: tuple[str, ...]
    intercept: bool
    offset: np.ndarray
    blocks: tuple[GroupBlock, ...] = ()


@dataclass(frozen=True, eq=False)
class BlockInfo:
    """How to rebuild one :class:`GroupBlock`: its term, grouping and coding of ``Z``."""

    term: GroupTerm
    grouping: str
    coding: tuple[TermCoding, ...]
    coef_names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class PartInfo:
    """Encodings of one formula: the main one (``mu``) or a distributional one.

    ``dropped`` names the population-level columns left out of ``X`` because they are linear
    combinations of earlier columns (lme4's rank check; new data lose them too).
    """

    parameter: str
    intercept: bool
    factors: Mapping[str, FactorInfo]
    population: tuple[TermCoding, ...]
    offsets: tuple[FactorInfo, ...]
    blocks: tuple[BlockInfo, ...]
    dropped: tuple[str, ...] = ()

    @property
    def X_names(self) -> tuple[str, ...]:
        return tuple(
            name for plan in self.population for name in plan.names if name not in self.dropped
        )

    @property
    def X_terms(self) -> tuple[str, ...]:
        return tuple(
            plan.term for plan in self.population for name in plan.names if name not in self.dropped
        )


@dataclass(frozen=True, eq=False)
class DesignInfo:
    """Everything needed to build the same design on new data.

    Holds the formula, the family name, the levels and contrasts of categorical predictors,
    the parameters of stateful transforms (``scale``, ``center``, ``poly``) and the levels of
    every grouping factor, all learned from the training data. Picklable.

    Parameters
    ----------
    formula : Formula
    family : str or None
    response : FactorInfo or None
    additions : tuple of (str, FactorInfo)
    parts : tuple of PartInfo
        The main formula first, then one per distributional parameter.
    groupings : Mapping of str to GroupingInfo
        Every grouping factor by name.
    n_train : int
        Number of training rows (after rows with missing values were left out).
    notes : tuple of str
        What the design stage changed, in words, each also given as a
        :class:`~multilevel.errors.DataWarning`: rows left out for missing values, collinear
        population-level columns dropped. :func:`multilevel.checks.data_warnings` lists them
        with the other warnings about the data.
    row_labels : pandas.Index or None
        The labels (index) of the training rows in the data they came from, when they are
        not ``0, 1, ..., n_train - 1``: predictions for the training rows carry them, so
        they line up with the data even after rows with missing values were left out.
    """

    formula: Formula
    family: str | None
    response: FactorInfo | None
    additions: tuple[tuple[str, FactorInfo], ...]
    parts: tuple[PartInfo, ...]
    groupings: Mapping[str, GroupingInfo]
    n_train: int
    notes: tuple[str, ...] = ()
    row_labels: pd.Index | None = None

    @property
    def training_index(self) -> pd.Index:
        """The labels of the training rows: :attr:`row_labels`, else ``0, ..., n_train - 1``."""
        return pd.RangeIndex(self.n_train) if self.row_labels is None else self.row_labels

    @property
    def X_names(self) -> tuple[str, ...]:
        """Population-level column names of the main formula."""
        return self.parts[0].X_names

    def levels(self, group: str) -> pd.Index:
        """Training levels of grouping factor ``group`` (``"county"``, ``"a:b"``)."""
        try:
            return self.groupings[group].levels
        except KeyError:
            raise KeyError(
                f"no grouping factor {group!r}; the grouping factors are "
                + ", ".join(self.groupings)
            ) from None

    def transform(self, newdata, *, new_groups: str = "error") -> Design:
        """Build the design of new data with the training encodings.

        Categorical levels and contrasts, the means and SDs of ``scale()``/``center()``, the
        coefficients of ``poly()`` and the grouping levels are those of the training data.
        Columns of the response and addition terms are optional in ``newdata``: when absent,
        the corresponding arrays are None.

        Parameters
        ----------
        newdata : data frame or dict of columns
        new_groups : {"error", "population", "sample"}
            What to do with a grouping level that was not in the training data: raise a
            DataError, or keep the rows and mark the level as new: its index is
            ``len(block.levels) + j`` for the label ``block.new_levels[j]``, so that
            prediction can draw one new effect per new level ("sample"); under
            "population" its weight is also set to 0, so that ``sum(weights * r[index])``
            leaves the group effect out. Levels of each grouping factor are handled
            independently. Index only the training levels where ``block.known`` is true.

        Returns
        -------
        Design

        Raises
        ------
        DataError
            Missing columns, NaN/inf in a used column, a categorical predictor level or (under
            ``"error"``) a grouping level that the training data did not have.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import design
        >>> d = design("log_radon ~ scale(log_uppm) + (1 | county)", ml.datasets.load("radon"))
        >>> new = d.info.transform({"log_uppm": [0.0], "county": ["C01"]})
        >>> new.X.shape, new.blocks[0].index.ravel().tolist()
        ((1, 2), [0])
        >>> d.info.transform({"log_uppm": [0.0], "county": ["Nowhere"]})
        Traceback (most recent call last):
        ...
        multilevel.errors.DataError: the grouping factor county has level 'Nowhere' in row 0 ...
        >>> new = d.info.transform({"log_uppm": [0.0], "county": ["Nowhere"]},
        ...                        new_groups="population")
        >>> new.blocks[0].index.ravel().tolist(), list(new.blocks[0].new_levels)
        ([85], ['Nowhere'])
        """
        from multilevel.design._build import transform

        return transform(self, newdata, new_groups=new_groups)

    def response_of(self, newdata) -> np.ndarray | None:
        """The response of new data (complete rows) with the training encodings: the ``y``
        of :meth:`transform` without building the rest of the design; None when the
        formula has no response or the data lack its columns.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import design
        >>> d = design("log(Reaction) ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> d.info.response_of({"Reaction": [100.0]}).round(3).tolist()
        [4.605]
        """
        from multilevel.design._build import response_values

        return response_values(self, newdata)

    def missing_rows(self, newdata) -> np.ndarray:
        """bool per row of ``newdata``: True where a column that predictions read is missing.

        Missing are NaN, None, ``pd.NA`` and, in a text column that otherwise holds numbers,
        the usual spellings (``"NA"``, ``"n/a"``, ``"."``, ...). Predictions read the
        predictors, grouping factors, offsets and, when ``newdata`` has them, the columns of
        ``trials()`` and ``se()``; not the response or ``weights()``. Predictions are NaN in
        these rows (:meth:`transform_complete`); :meth:`transform` refuses them.

        Raises
        ------
        DataError
            A column the prediction needs is absent.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import design
        >>> d = design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> d.info.missing_rows({"Days": [1.0, None, 3.0], "Subject": [308, 308, None]})
        array([False,  True,  True])
        """
        from multilevel.design._build import missing_rows

        return missing_rows(self, newdata)

    def transform_complete(
        self, newdata, *, new_groups: str = "error"
    ) -> tuple[Design | None, np.ndarray]:
        """:meth:`transform` of the rows of ``newdata`` that predictions can use.

        Rows with a missing value in a column that predictions read (:meth:`missing_rows`)
        are left out, and the columns read only by the response or ``weights()`` are
        ignored, so that predictions can be NaN in those rows, as R's ``predict()`` with
        ``na.action = na.pass`` gives them (lme4's default for new data, and brms's).

        Returns
        -------
        design : Design or None
            Of the complete rows, in order; None when no row is complete.
        missing : numpy.ndarray
            bool per row of ``newdata``: True for the rows left out.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import design
        >>> d = design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> new, missing = d.info.transform_complete({"Days": [1.0, None], "Subject": [308, 308]})
        >>> new.X.tolist(), missing.tolist()
        ([[1.0, 1.0]], [False, True])
        """
        from multilevel.design._build import transform_complete

        return transform_complete(self, newdata, new_groups=new_groups)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        formula = state.pop("formula")
        state["_formula_text"] = formula.text
        state["_dpar_texts"] = {name: sub.text for name, sub in formula.dpars.items()}
        state["groupings"] = dict(self.groupings)
        state["parts"] = tuple(
            PartInfo(
                p.parameter,
                p.intercept,
                dict(p.factors),
                p.population,
                p.offsets,
                p.blocks,
                p.dropped,
            )
            for p in self.parts
        )
        return state

    def __setstate__(self, state: dict) -> None:
        from multilevel.formula import parse

        text = state.pop("_formula_text")
        dpars = state.pop("_dpar_texts")
        state["formula"] = parse(text, dpars=dpars or None)
        state["groupings"] = MappingProxyType(state["groupings"])
        state["parts"] = tuple(
            PartInfo(
                p.parameter,
                p.intercept,
                MappingProxyType(dict(p.factors)),
                p.population,
                p.offsets,
                p.blocks,
                p.dropped,
            )
            for p in state["parts"]
        )
        for key, value in state.items():
            object.__setattr__(self, key, value)


@dataclass(frozen=True, eq=False)
class Design:
    """A formula evaluated on data: plain numpy arrays, ready for a model.

    Parameters
    ----------
    y : numpy.ndarray or None
        float ``(n,)`` response (booleans as 0/1); None for a one-sided formula, or after
        :meth:`DesignInfo.transform` on data without the response column.
    response : str or None
        The response's text (``"y"``, ``"log(y)"``).
    X : numpy.ndarray
        float ``(n, p)`` population-level design, dense.
    X_names : tuple of str
        Column names without brms's ``b_`` prefix: ``"Intercept"``, ``"x"``, ``"log(z)"``,
        ``"catb"``, ``"x:catb"``, ``"poly(x, 2)1"``.
    X_terms : tuple of str
        The term each column belongs to (``"cat"`` for ``"catb"`` and ``"catc"``).
    intercept : bool
        Whether ``X`` has the intercept column (always first).
    offset : numpy.ndarray
        float ``(n,)``: the sum of the ``offset(...)`` terms, zeros if none.
    blocks : tuple of GroupBlock
        One per group term after the rewrites (``/`` nesting, ``||`` splitting), in order.
    trials, se, weights : numpy.ndarray or None
        float ``(n,)`` values of the addition terms ``trials()``, ``se()``, ``weights()``.
    dpars : Mapping of str to DparDesign
        Designs of distributional parameters' formulas (``sigma ~ ...``).
    factors : FactorDesign or None
        The ``factors(user, item, k = ...)`` term's data, if the formula has one.
    info : DesignInfo
        The formula and encodings; ``info.transform(newdata)`` builds the design of new data.
    """

    y: np.ndarray | None
    response: str | None
    X: np.ndarray
    X_names: tuple[str, ...]
    X_terms: tuple[str, ...]
    intercept: bool
    offset: np.ndarray
    blocks: tuple[GroupBlock, ...]
    trials: np.ndarray | None
    se: np.ndarray | None
    weights: np.ndarray | None
    dpars: Mapping[str, DparDesign]
    info: DesignInfo
    factors: FactorDesign | None = None

    @property
    def n(self) -> int:
        """Number of rows."""
        return self.X.shape[0]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["dpars"] = dict(self.dpars)
        return state

    def __setstate__(self, state: dict) -> None:
        state["dpars"] = MappingProxyType(state["dpars"])
        _restore(self, state)

    def group_structure(self) -> pd.DataFrame:
        """How the grouping factors relate: levels, rows per level, nesting and crossing.

        Factor A is *nested in* B when every level of A occurs with exactly one level of B
        (``batch:cask`` in ``batch``); two factors are *crossed* when neither is nested in the
        other (``plate`` and ``sample`` in penicillin). Multiple-membership factors are
        neither.

        Returns
        -------
        pandas.DataFrame
            Indexed by factor name, with columns ``levels``, ``min_rows``, ``max_rows``
            (rows per level), ``nested_in`` and ``crossed_with`` (comma-separated factor
            names, ``""`` if none), and ``structure`` (``"nested"``, ``"crossed"``,
            ``"single"``, ``"outer"`` for a factor others are nested in, or
            ``"multiple membership"``).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import design
        >>> d = design("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("pastes"))
        >>> table = d.group_structure()
        >>> table[["levels", "nested_in", "structure"]]  # doctest: +NORMALIZE_WHITESPACE
                    levels nested_in structure
        factor
        batch           10               outer
        batch:cask      30     batch    nested
        """
        from multilevel.design._structure import group_structure

        return group_structure(self)
