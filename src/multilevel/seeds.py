"""The one seed of a fit: validated, drawn fresh when not given, and recorded.

Every engine turns the fit's ``seed`` argument into an integer with :func:`resolve_seed`
and records that integer in ``Posterior.settings["seed"]``, so a fit made with
``seed=None`` can be repeated, and the random draws made later from the fit (the posterior
predictive of ``to_arviz``) derive from it.

Examples
--------
>>> from multilevel.seeds import resolve_seed
>>> resolve_seed(7)
7
>>> isinstance(resolve_seed(None), int)
True
"""

from __future__ import annotations

import numpy as np

from multilevel.errors import EngineError

__all__ = ["SEED_LIMIT", "resolve_seed"]


#: Seeds are below 2^32: JAX's ``PRNGKey`` keeps only the low 32 bits of a larger one, so
#: 2^32 would silently give the draws of seed 0.
SEED_LIMIT = 2**32


def resolve_seed(seed) -> int:
    """``seed`` as an integer in ``[0, 2^32)``; a fresh one from the OS's entropy when None.

    Raises
    ------
    EngineError
        ``seed`` is neither None nor an integer in ``[0, 2^32)``.
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        if seed >= SEED_LIMIT:
            raise EngineError(
                f"seed must be below 2^32 = {SEED_LIMIT}, got {seed}: larger seeds would "
                "repeat the draws of smaller ones"
            )
        return int(seed)
    raise EngineError(f"seed must be a non-negative integer or None, got {seed!r}")
