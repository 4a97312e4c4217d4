"""BLAS threads, chosen deliberately rather than left to OpenBLAS.

The REML/ML optimizer factors the same dense matrices (the Schur complement of crossed
terms: 1,142 columns for InstEval) a few hundred times. OpenBLAS threads spin while they
wait for each other, and on a machine whose cores are busy (parallel fits, Dask workers, a
notebook beside other jobs) that spinning made InstEval's REML 9-18 s instead of 2-3 s on
two cores; one thread took 4-5 s there and cost ~12% on an idle machine (docs/benchmarks.md).
So the optimizer, and the factorization engine's Gibbs sweeps (:func:`blas_threads`), run
single-threaded BLAS unless ``MULTILEVEL_BLAS_THREADS`` says otherwise; elsewhere the user's
settings hold.

Examples
--------
>>> from multilevel.linalg.threads import optimizer_blas_threads
>>> with optimizer_blas_threads(1142):
...     pass
"""

from __future__ import annotations

import contextlib
import functools
import os

__all__ = ["optimizer_blas_threads", "blas_threads"]

#: Environment variable: BLAS threads of the REML/ML optimizer (default 1; 0 leaves them as
#: they are).
ENV = "MULTILEVEL_BLAS_THREADS"


@functools.cache
def _controller():
    import numpy.linalg  # noqa: F401 - load the BLAS libraries the optimizer uses first,
    import scipy.linalg  # noqa: F401 - so that the controller sees them
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


#: Columns of the largest dense matrix factored per evaluation below which the optimizer's
#: BLAS is left alone: OpenBLAS starts threads for a Cholesky factor from ~230 columns on,
#: and below that the limit would only add the cost of loading threadpoolctl (~8 ms).
THREADED_COLUMNS = 200


def optimizer_blas_threads(columns: int):
    """A context in which BLAS uses ``MULTILEVEL_BLAS_THREADS`` threads (default 1), for an
    optimizer whose largest dense factor has ``columns`` columns (none below
    :data:`THREADED_COLUMNS`)."""
    if columns < THREADED_COLUMNS:
        return contextlib.nullcontext()
    return blas_threads()


def blas_threads():
    """A context in which BLAS uses ``MULTILEVEL_BLAS_THREADS`` threads (default 1).

    The factorization engine's Gibbs sweeps run in it: their batched products of small
    matrices gain nothing from a second thread (6.1 s for 200 MovieLens sweeps with one or
    two), which only spins (11.8 CPU seconds instead of 6.1) and slowed the sweeps 2x beside
    two busy neighbours."""
    text = os.environ.get(ENV, "1").strip()
    try:
        threads = int(text)
    except ValueError:
        threads = -1
    if threads < 0:
        from multilevel.errors import EngineError

        raise EngineError(
            f"{ENV} must be a whole number of threads (0: as BLAS chooses), got {text!r}"
        )
    if threads == 0:
        return contextlib.nullcontext()
    return _controller().limit(limits=threads, user_api="blas")
