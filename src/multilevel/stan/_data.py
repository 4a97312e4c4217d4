"""The data list of a spec's Stan program (:mod:`._code`): brms's names, numpy arrays."""

from __future__ import annotations

import numpy as np

from multilevel.spec.model import ModelSpec
from multilevel.stan._code import INTEGER_FAMILIES
from multilevel.stan._layout import layout

__all__ = ["program_data"]


def _integers(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.rint(values).astype(np.int64)


def program_data(spec: ModelSpec, *, prior_only: bool = False) -> dict:
    """The data of ``spec``'s Stan program: ``N``, ``Y``, ``K``, ``X``, per block ``N_<i>``,
    ``M_<i>``, ``J_<i>`` (1-based levels), ``Z_<i>_<k>``, ... (see :func:`._code.program_code`).
    """
    lay = layout(spec)
    d = spec.design
    y = np.asarray(d.y, dtype=float)
    out: dict = {"N": int(y.shape[0])}
    out["Y"] = _integers(y) if spec.family.name in INTEGER_FAMILIES else y
    if d.trials is not None:
        out["trials"] = _integers(d.trials)
    if spec.known_sigma:
        out["se"] = np.asarray(d.se, dtype=float)
    if d.weights is not None:
        out["weights"] = np.asarray(d.weights, dtype=float)
    for part in lay.parts:
        part_design = part.design
        s = part.suffix
        X = np.asarray(part_design.X, dtype=float)
        if X.shape[1]:
            out[f"K{s}"] = int(X.shape[1])
            out[f"X{s}"] = X
        if part.offset:
            out[f"offsets{s}"] = np.asarray(part_design.offset, dtype=float)
        for blk, block in zip(part.blocks, part_design.blocks, strict=True):
            i = blk.id
            out[f"N_{i}"] = blk.levels
            out[f"M_{i}"] = blk.q
            index = np.asarray(block.index, dtype=np.int64) + 1
            weights = np.asarray(block.weights, dtype=float)
            for m in range(blk.members):
                suffix = f"_{m + 1}" if blk.members > 1 else ""
                out[f"J_{i}{suffix}"] = index[:, m]
                if blk.weighted:
                    out[f"W_{i}{suffix}"] = weights[:, m]
            Z = np.asarray(block.Z, dtype=float)
            for k in range(blk.q):
                out[f"Z_{i}_{k + 1}"] = Z[:, k]
            if blk.correlated:
                out[f"NC_{i}"] = len(blk.cor_names)
    out["prior_only"] = int(bool(prior_only))
    return out
