"""Stan's draws of a spec's program (:mod:`._code`) under the library's names: the
:class:`~multilevel.posterior.Posterior` draws every engine returns."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from multilevel.spec.model import ModelSpec
from multilevel.stan._layout import layout

__all__ = ["program_variables", "draws_from_stan"]


def program_variables(spec: ModelSpec) -> tuple[str, ...]:
    """The program's variables that :func:`draws_from_stan` reads."""
    lay = layout(spec)
    out = []
    for part in lay.parts:
        if part.slopes:
            out.append(f"b{part.suffix}")
        if part.intercept is not None:
            out.append(part.intercept)
        for blk in part.blocks:
            out += [f"sd_{blk.id}", f"r_{blk.id}"]
            if blk.correlated:
                out.append(f"L_{blk.id}")
    return tuple(out) + lay.aux


def draws_from_stan(spec: ModelSpec, stan: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draws under brms names from the program's variables, each ``(chains, draws, *dims)``:
    ``b[k]`` -> ``b_<coef>``, ``sd_<i>[k]`` -> ``sd_<group>__<coef>``, ``L_<i>`` -> the
    ``cor_`` names, ``r_<i>`` -> the block's ``(levels, q)`` effects, family parameters by
    name."""
    lay = layout(spec)
    out: dict[str, np.ndarray] = {}
    covariance = {c.key: c for c in spec.all_covariance}
    for part in lay.parts:
        if part.intercept is not None:
            out[part.intercept] = np.asarray(stan[part.intercept], dtype=float)
        for k, name in enumerate(part.slopes):
            out[name] = np.asarray(stan[f"b{part.suffix}"][..., k], dtype=float)
        for blk in part.blocks:
            sd = np.asarray(stan[f"sd_{blk.id}"], dtype=float)
            for k, name in enumerate(blk.sd_names):
                out[name] = sd[..., k]
            if blk.correlated:
                L = np.asarray(stan[f"L_{blk.id}"], dtype=float)
                out.update(covariance[blk.key].named_correlations(L))
            out[blk.key] = np.asarray(stan[f"r_{blk.id}"], dtype=float)
    for name in lay.aux:
        out[name] = np.asarray(stan[name], dtype=float)
    ordered = {name: out[name] for name in spec.parameter_names if name in out}
    ordered.update({k: v for k, v in out.items() if k not in ordered})
    return ordered
