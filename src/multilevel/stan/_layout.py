"""The layout of a model's Stan program: brms's variable names for every part of a
:class:`~multilevel.spec.model.ModelSpec`, shared by the code, the data and the read-out.

brms numbers the group-level blocks ``1, 2, ...`` across the mean's formula and the
distributional ones (``sd_1``, ``z_1``, ``L_1``, ``r_1``, ``J_1``, ``Z_1_1``) and suffixes a
distributional parameter's population-level variables with its name (``b_sigma``,
``Intercept_sigma``, ``X_sigma``). The layout records, per formula, those names and the
spec's names they stand for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from multilevel.errors import EngineError
from multilevel.spec.model import ModelSpec

__all__ = ["Layout", "PartLayout", "BlockLayout", "layout"]


@dataclass(frozen=True)
class BlockLayout:
    """One group-level block: ``id`` (brms's number), the spec's names and its shape."""

    id: int
    source: str  # "(Days | Subject)"
    group: str
    coefs: tuple[str, ...]
    sd_names: tuple[str, ...]
    cor_names: tuple[str, ...]
    key: str  # the draws key of its (levels, q) effects
    levels: int
    members: int  # columns of the block's index (mm())
    weighted: bool  # mm() weights other than 1
    correlated: bool

    @property
    def q(self) -> int:
        return len(self.coefs)


@dataclass(frozen=True)
class PartLayout:
    """One formula: the mean's (``dpar`` None) or a family parameter's."""

    dpar: str | None
    link: str
    intercept: str | None  # b_Intercept / b_sigma_Intercept
    slopes: tuple[str, ...]  # the other b_ names, in X's column order
    centred_prior: bool  # the intercept's prior is on the centred intercept
    offset: bool
    blocks: tuple[BlockLayout, ...]
    design: object = field(repr=False, compare=False)  # its Design or DparDesign

    @property
    def suffix(self) -> str:
        """brms's suffix of this formula's variables: ``""`` or ``"_sigma"``."""
        return "" if self.dpar is None else f"_{self.dpar}"

    @property
    def name(self) -> str:
        """The variable holding this formula's linear predictor: ``mu`` or ``sigma``."""
        return "mu" if self.dpar is None else self.dpar


@dataclass(frozen=True)
class Layout:
    """The parts of a spec's Stan program (the mean's formula first)."""

    parts: tuple[PartLayout, ...]
    aux: tuple[str, ...]  # family parameters that are scalar parameters


def _blocks(blocks, covariance, first_id: int) -> tuple[BlockLayout, ...]:
    out = []
    for k, (block, cov) in enumerate(zip(blocks, covariance, strict=True)):
        out.append(
            BlockLayout(
                id=first_id + k,
                source=block.source or f"(... | {block.name})",
                group=block.name,
                coefs=tuple(block.coef_names),
                sd_names=cov.sd_names,
                cor_names=cov.cor_names,
                key=cov.key,
                levels=block.n_levels,
                members=block.index.shape[1],
                weighted=not bool(np.all(np.asarray(block.weights) == 1.0)),
                correlated=bool(cov.cor_names),
            )
        )
    return tuple(out)


def layout(spec: ModelSpec) -> Layout:
    """The :class:`Layout` of ``spec``.

    Raises
    ------
    EngineError
        A model Stan code is not written for: a ``factors()`` term, data on Dask.
    """
    if spec.factors is not None:
        raise EngineError(
            "the Stan program of a factors() term is not written: fit it with method='gibbs'"
        )
    if spec.statistics is not None:
        raise EngineError(
            "the data are on Dask: a Stan program reads every row; collect them into memory "
            "(ddf.compute()) to export or fit it with Stan"
        )
    parts = []
    next_id = 1
    for formula in spec.formula_parts:
        blocks = _blocks(formula.design.blocks, formula.covariance, next_id)
        next_id += len(blocks)
        parts.append(
            PartLayout(
                dpar=formula.dpar,
                link=formula.link,
                intercept=formula.intercept,
                slopes=formula.slopes,
                centred_prior=formula.centred_prior and formula.intercept is not None,
                offset=bool(np.any(np.asarray(formula.design.offset) != 0)),
                blocks=blocks,
                design=formula.design,
            )
        )
    return Layout(parts=tuple(parts), aux=tuple(spec.aux_names))
