"""One seed per simulation, from one run seed: the data's random stream and the fit's seed.

Simulation ``i`` of a run takes child ``i`` of ``numpy.random.SeedSequence(seed)``, which
spawns two streams: one draws the parameters and the response, the other gives the fit's
integer seed. So simulation ``i`` is the same whichever process runs it, in whatever order,
and :func:`multilevel.calibration.simulate` gives the data sets that
:func:`multilevel.calibration.sbc` fits for the same ``seed``.

Examples
--------
>>> entropy, seeds = simulation_seeds(1, 3)
>>> entropy, len(seeds), seeds[0][1] == simulation_seeds(1, 1)[1][0][1]
(1, 3, True)
"""

from __future__ import annotations

import numpy as np

from multilevel.errors import EngineError

__all__ = ["simulation_seeds"]


def simulation_seeds(seed, n: int) -> tuple[int, list[tuple[np.random.SeedSequence, int]]]:
    """``(entropy, [(data_seed_sequence, fit_seed), ...])`` for ``n`` simulations.

    Parameters
    ----------
    seed : int or None
        The run's seed; None takes fresh entropy from the OS (returned, so the run can be
        repeated).
    n : int
        Number of simulations.

    Raises
    ------
    EngineError
        A seed that is not a non-negative integer.
    """
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise EngineError(f"seed must be a non-negative integer or None, got {seed!r}")
    root = np.random.SeedSequence(None if seed is None else int(seed))
    out = []
    for child in root.spawn(n):
        data, fit = child.spawn(2)
        out.append((data, int(fit.generate_state(1, dtype=np.uint32)[0])))
    return int(root.entropy), out
