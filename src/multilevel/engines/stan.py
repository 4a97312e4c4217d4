"""The Stan engine: the spec's Stan program (:mod:`multilevel.stan`) compiled and sampled by
Stan itself, through CmdStanPy when CmdStan is installed, else PyStan 3.

Compiled models are kept by the hash of their program: CmdStanPy's executables under
``$MULTILEVEL_CACHE/stan/<hash>/`` (:mod:`multilevel.user_cache`), PyStan's by
httpstan in its own cache, keyed the same way. A second fit of the same program (new data of
the same model, the same priors) starts sampling at once.

``MULTILEVEL_STAN_BACKEND=cmdstanpy`` or ``pystan`` picks one backend over the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from multilevel.engines.protocol import SamplerSettings, Support
from multilevel.errors import EngineError
from multilevel.posterior import Posterior

__all__ = ["StanEngine", "stan_backend", "cache_dir"]

_MAX_LOG_LIK_VALUES = 50_000_000  # as the NUTS engine
_SEED_RANGE = 2**31  # PyStan's seeds
_MAX_MESSAGE = 2000  # characters of a backend's error shown (PyStan's repeat the data)
_BACKENDS = ("cmdstanpy", "pystan")
_INSTALL = (
    "install CmdStan (pip install cmdstanpy; python -m cmdstanpy.install_cmdstan) or, on "
    "Python 3.11 and 3.12, PyStan (pip install 'multilevel[stan]', with a C++ compiler)"
)
#: Stan's sampler statistics -> the library's (as the NUTS engine names them).
_STATS = {
    "divergent__": "diverging",
    "treedepth__": "tree_depth",
    "n_leapfrog__": "n_steps",
    "energy__": "energy",
    "accept_stat__": "acceptance_rate",
    "stepsize__": "step_size",
    "lp__": "lp",
}


def cache_dir() -> Path:
    """Where compiled Stan programs are kept: ``$MULTILEVEL_CACHE/stan`` (default: the user
    cache folder's, :mod:`multilevel.user_cache`)."""
    from multilevel import user_cache

    return user_cache.folder("stan")


def _cmdstanpy_reason() -> str | None:
    """None when CmdStanPy can run (CmdStan installed), else why not."""
    if importlib.util.find_spec("cmdstanpy") is None:
        return "CmdStanPy is not installed"
    import cmdstanpy

    try:
        cmdstanpy.cmdstan_path()
    except (ValueError, OSError):
        return "CmdStanPy is installed but CmdStan is not (python -m cmdstanpy.install_cmdstan)"
    return None


def _pystan_reason() -> str | None:
    """None when PyStan 3 can run, else why not. httpstan's wheels carry a compiled Stan
    services object built for one Python; a model compiled against another fails only after
    a minute of compiling (httpstan 4.17's wheel for Python 3.13 holds one built for 3.10),
    so the object's Python is checked first."""
    if importlib.util.find_spec("stan") is None or importlib.util.find_spec("httpstan") is None:
        return "PyStan is not installed"
    plugins = Path(importlib.util.find_spec("stan").origin).parent / "plugins.py"
    if (
        plugins.exists()
        and "import pkg_resources" in plugins.read_text()
        and importlib.util.find_spec("pkg_resources") is None
    ):
        return (
            "this PyStan (3.10, the newest for Python 3.11) imports pkg_resources, which "
            "setuptools 81 removed: pip install 'setuptools<81'"
        )
    services = Path(importlib.util.find_spec("httpstan").origin).parent / "stan_services.o"
    if services.exists():
        built = set(re.findall(rb"include/python(3\.\d+)", services.read_bytes()))
        running = f"{sys.version_info.major}.{sys.version_info.minor}".encode()
        if built and running not in built:
            found = ", ".join(sorted(b.decode() for b in built))
            return (
                f"PyStan's httpstan wheel was built for Python {found}, not {running.decode()} "
                "(its models fail to load)"
            )
    return None


def stan_backend() -> tuple[str | None, str]:
    """``(backend, reason)``: ``"cmdstanpy"`` or ``"pystan"`` (in that order of preference,
    or as ``MULTILEVEL_STAN_BACKEND`` asks), or None and why neither can run."""
    wanted = os.environ.get("MULTILEVEL_STAN_BACKEND", "").strip().lower()
    if wanted and wanted not in _BACKENDS:
        raise EngineError(
            f"MULTILEVEL_STAN_BACKEND={wanted!r}: valid values are {', '.join(_BACKENDS)}"
        )
    reasons = {"cmdstanpy": _cmdstanpy_reason, "pystan": _pystan_reason}
    why = []
    for name in [wanted] if wanted else _BACKENDS:
        reason = reasons[name]()
        if reason is None:
            return name, ""
        why.append(reason)
    return None, "; ".join(why) + f": {_INSTALL}"


def program_hash(code: str) -> str:
    """The hash that keys a compiled program."""
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def _shortened(error: Exception) -> str:
    text = str(error)
    if len(text) <= _MAX_MESSAGE:
        return text
    return f"{text[:_MAX_MESSAGE]} ... ({len(text) - _MAX_MESSAGE} more characters)"


def _from_pystan(fit, names, chains: int, draws: int) -> dict[str, np.ndarray]:
    """PyStan's ``fit[name]`` ``(*dims, draws * chains)`` (draw-major) -> ``(chains, draws,
    *dims)``."""
    out = {}
    for name in names:
        dims = [] if name.endswith("__") else list(fit.dims[fit.param_names.index(name)])
        a = np.asarray(fit[name], dtype=float).reshape(*dims, draws, chains)
        out[name] = np.moveaxis(np.moveaxis(a, -1, 0), -1, 1)
    return out


@contextlib.contextmanager
def _quiet(enabled: bool):
    """Send what this process and its children (the C++ compiler) write to stdout and stderr
    into a temporary file, shown only if the block fails."""
    if not enabled:
        yield
        return
    import tempfile

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with (
                contextlib.redirect_stderr(io.StringIO()),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _sample_pystan(model, settings: SamplerSettings):
    """``model.sample`` without Stan's iteration messages (``refresh=0``): httpstan's parser of
    them fails now and then when one arrives split (``IndexError('pop from empty list')`` in
    ``httpstan/views.py``), often on a busy machine, and the sampling with it."""
    return model.sample(
        num_chains=settings.chains,
        num_samples=settings.draws,
        num_warmup=settings.warmup,
        delta=settings.target_accept,
        max_depth=settings.max_tree_depth,
        refresh=0,
    )


def _signed_seed(seed: int) -> int:
    """PyStan takes seeds below 2^31 (CmdStan below 2^32, as the library): those pass
    unchanged, a larger one is replaced by a 31-bit number derived from it."""
    if seed < _SEED_RANGE:
        return seed
    return int(np.random.SeedSequence(seed).generate_state(1)[0] >> 1)


def _run_pystan(program, settings: SamplerSettings, seed: int):
    """Compile (httpstan caches by program) and sample with PyStan 3 in a worker thread (its
    asyncio loop must not meet a running one, as in a notebook)."""
    import concurrent.futures

    import stan

    data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in program.data.items()}
    chains, draws = settings.chains, settings.draws
    seed = _signed_seed(seed)

    def run():
        with _quiet(not settings.progress):
            start = time.perf_counter()
            model = stan.build(program.code, data=data, random_seed=seed)
            built = time.perf_counter() - start
            fit = _sample_pystan(model, settings)
        names = [*program.variables, *_STATS]
        return _from_pystan(fit, names, chains, draws), built

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(run).result()
        except Exception as error:  # PyStan raises bare RuntimeErrors (compiler, sampler)
            raise EngineError(f"Stan (PyStan) failed: {_shortened(error)}") from error


def _run_cmdstanpy(program, settings: SamplerSettings, seed: int):
    """Compile once per program (kept under :func:`cache_dir`) and sample with CmdStanPy."""
    import logging

    import cmdstanpy

    folder = cache_dir() / program_hash(program.code)
    folder.mkdir(parents=True, exist_ok=True)
    stan_file = folder / "model.stan"
    if not stan_file.exists() or stan_file.read_text() != program.code:
        stan_file.write_text(program.code)
    chains, draws = settings.chains, settings.draws
    logger = logging.getLogger("cmdstanpy")
    level = logger.level
    if not settings.progress:
        logger.setLevel(logging.WARNING)
    try:
        start = time.perf_counter()
        model = cmdstanpy.CmdStanModel(stan_file=str(stan_file))
        built = time.perf_counter() - start
        fit = model.sample(
            data=program.data,
            chains=chains,
            parallel_chains=min(chains, os.cpu_count() or 1),
            iter_warmup=settings.warmup,
            iter_sampling=draws,
            seed=seed,
            adapt_delta=settings.target_accept,
            max_treedepth=settings.max_tree_depth,
            show_progress=settings.progress,
        )
    except (RuntimeError, ValueError) as error:
        raise EngineError(f"Stan (CmdStanPy) failed: {_shortened(error)}") from error
    finally:
        logger.setLevel(level)
    out = {}
    for name in program.variables:
        a = np.asarray(fit.stan_variable(name), dtype=float)  # (chains * draws, *dims)
        out[name] = a.reshape(chains, draws, *a.shape[1:])
    for name, values in fit.method_variables().items():
        out[name] = np.asarray(values, dtype=float).reshape(draws, chains).T
    return out, built


class StanEngine:
    """Stan's NUTS on the spec's generated program (:func:`multilevel.stan_code`): the
    reference sampler, one call away. Reads ``chains``, ``draws``, ``warmup``, ``seed``,
    ``target_accept`` (Stan's ``adapt_delta``) and ``max_tree_depth`` from the
    :class:`~multilevel.engines.protocol.SamplerSettings`; never chosen by ``"auto"``."""

    name = "stan"
    methods = ("stan",)
    auto_label = ""
    in_auto = False

    def supports(self, spec) -> Support:
        """Every family and block structure with a Stan program, when CmdStan or PyStan runs."""
        from multilevel.families import REGISTRY

        if spec.family.name not in REGISTRY:
            return Support(False, f"the {spec.family.name} family has no Stan program")
        backend, why = stan_backend()
        if backend is None:
            return Support(False, why)
        return Support(True, f"{spec.family.name} family: Stan's NUTS ({backend})")

    def fit(self, spec, settings: SamplerSettings, *, reason: str = "") -> Posterior:
        """Write, compile (once per program) and sample the spec's Stan program.

        Returns
        -------
        Posterior
            Draws under brms names, Stan's sampler statistics, the pointwise
            log-likelihood, timings.

        Raises
        ------
        EngineError
            No Stan backend, a model without a Stan program, or Stan failing (its message).
        """
        from multilevel.stan import draws_from_stan, program

        support = self.supports(spec)
        if not support:
            raise EngineError(f"the Stan engine cannot fit this model: {support.reason}")
        backend, _ = stan_backend()
        built = program(spec)
        seed = int(settings.seed)  # resolved by SamplerSettings: below 2^32
        run = _run_cmdstanpy if backend == "cmdstanpy" else _run_pystan
        start = time.perf_counter()
        stan, compile_time = run(built, settings, seed)
        total = time.perf_counter() - start
        stats = {ours: stan[theirs] for theirs, ours in _STATS.items() if theirs in stan}
        if "diverging" in stats:
            stats["diverging"] = stats["diverging"].astype(bool)
        if "tree_depth" in stats:
            stats["tree_depth"] = stats["tree_depth"].astype(int)
        if "n_steps" in stats:
            stats["n_steps"] = stats["n_steps"].astype(int)
        draws = draws_from_stan(spec, stan)
        timings = {"compile": compile_time, "warmup_and_sampling": total - compile_time}
        loglik = None
        if settings.log_likelihood and settings.chains * settings.draws * spec.design.n <= (
            _MAX_LOG_LIK_VALUES
        ):
            start = time.perf_counter()
            loglik = pointwise_log_likelihood(spec, draws)
            timings["log_likelihood"] = time.perf_counter() - start
        return Posterior(
            draws=draws,
            sample_stats=stats,
            engine=self.name,
            reason=reason or support.reason,
            timings=timings,
            log_likelihood=loglik,
            settings={
                "seed": seed,
                "chains": settings.chains,
                "draws": settings.draws,
                "warmup": settings.warmup,
                "target_accept": settings.target_accept,
                "max_tree_depth": settings.max_tree_depth,
                "backend": backend,
                "program_hash": program_hash(built.code),
            },
        )


def pointwise_log_likelihood(spec, draws) -> np.ndarray:
    """``(chains, draws, n)`` log density of each row at each draw (unweighted, as the NUTS
    engine's)."""
    from multilevel.results.predict import _aux_values, linear_predictor

    d = spec.design
    first = next(iter(draws.values()))
    chains, n_draws = first.shape[:2]
    eta = linear_predictor(spec, draws, d)
    aux = _aux_values(spec, draws, d, None, "error", need_se=True)
    ll = spec.family.log_likelihood_eta(
        np.asarray(d.y, dtype=float)[None, :], eta, aux, trials=d.trials
    )
    return np.asarray(ll).reshape(chains, n_draws, -1)


def stanc_path() -> Path | None:
    """Stan's compiler ``stanc`` (CmdStan's, else the one httpstan ships), or None."""
    if _cmdstanpy_reason() is None:
        import cmdstanpy

        path = Path(cmdstanpy.cmdstan_path()) / "bin" / "stanc"
        if path.exists():
            return path
    spec = importlib.util.find_spec("httpstan")
    if spec is not None:
        path = Path(spec.origin).parent / "stanc"
        if path.exists():
            return path
    return None


def check_syntax(code: str) -> None:
    """Translate a Stan program with ``stanc`` (seconds, no C++ compiler): raises EngineError
    with stanc's message if it is not a valid program."""
    import subprocess
    import tempfile

    stanc = stanc_path()
    if stanc is None:
        raise EngineError(f"no stanc to check the program with: {_INSTALL}")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "model.stan"
        source.write_text(code)
        result = subprocess.run(
            [str(stanc), str(source), f"--o={Path(folder) / 'model.hpp'}"],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise EngineError(f"stanc rejects the program: {result.stderr or result.stdout}")
