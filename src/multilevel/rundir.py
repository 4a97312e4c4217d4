"""A run folder (``RUN_DIR``): everything ``multilevel fit`` produced, written atomically.

Layout (:data:`FILES`)::

    RUN_DIR/
      summary.csv    posterior summary, one row per parameter (Fit.summary())
      posterior.nc   the draws in ArviZ's netCDF-4 layout (posterior, sample_stats,
                     observed_data, log_likelihood), for ArviZ / xarray users: opens with
                     arviz.from_netcdf in ArviZ 0.x and 1.x
      fit.mlfit      the whole fit, losslessly, as data only (Fit.save; docs/fit-file.md);
                     multilevel.load() reads it back
      spec.json      formula, family, method, data file and summary, resolved priors (with
                     who set them), design (population columns, grouping factors)
      report.html    the self-contained HTML report
      run.json       the manifest, written last: format, versions, seed, command, timings,
                     warnings, diagnostics, and the size and SHA-256 of every file above

The folder is first written under a hidden temporary name beside ``RUN_DIR``
(``.NAME.partial-XXXX``) and renamed into place only when every file is complete, so an
interrupted run never leaves a ``RUN_DIR`` that looks complete. An existing run folder is
replaced only when asked (``overwrite=True``, ``--overwrite``) and only at that last step
(it is kept intact on any failure); the files of :data:`FILES` are replaced and any other
file the user put there is kept. :func:`check_target` refuses, before any work, a target
that cannot be written or would lose files. :func:`open_run` checks the manifest and, for
every file it reads, the checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from multilevel.atomic import atomic_path, fresh_folder, renaming, temporary_folder
from multilevel.errors import DataError
from multilevel.results import arviz_bridge

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FILES", "FORMAT", "VERSION", "Run", "check_target", "open_run", "write_run"]

#: Name of the run folder format, in ``run.json``.
FORMAT = "multilevel-run"
#: Version of the run folder format; a reader refuses newer versions.
VERSION = 1
#: Role -> file name inside a run folder.
FILES = {
    "summary": "summary.csv",
    "posterior": "posterior.nc",
    "fit": "fit.mlfit",
    "spec": "spec.json",
    "report": "report.html",
    "manifest": "run.json",
}
_NETCDF_GROUPS = ("posterior", "sample_stats", "observed_data", "log_likelihood")
#: Why a point fit's run has no posterior.nc (in run.json's ``not_written``).
POINT_FIT_NOTE = (
    "a point fit (method reml or ml) has estimates, not draws: there is nothing for ArviZ; "
    "fit with --method exact or auto for the posterior"
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, data: Mapping) -> None:
    path.write_text(json.dumps(data, indent=1, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


_RUN_NAMES = frozenset(FILES.values())


def _is_run(path: Path) -> bool:
    return (path / FILES["manifest"]).is_file()


def check_target(out, *, overwrite: bool = False) -> Path:
    """Check, before any work, that ``out`` can become a run folder.

    It may be absent (its parent folder is created when the run is written), an empty
    folder, or, with ``overwrite``, an earlier run folder (its run files are replaced when
    the new run is complete; other files there are kept). The folder that will hold it must
    be writable: a temporary folder is created there and removed.

    Raises
    ------
    DataError
        ``out`` is a file, a non-empty folder that is not a run folder, an earlier run
        folder without ``overwrite``, lies under a file, or cannot be written.
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise DataError(f"--out {str(out)!r} is a file; give a folder name for the run")
        if _is_run(out):
            if not overwrite:
                raise DataError(
                    f"--out {str(out)!r} already holds a run (it has {FILES['manifest']}); add "
                    "--overwrite to replace its run files (other files there are kept), or "
                    "choose a new folder name"
                )
        elif any(out.iterdir()):
            raise DataError(
                f"--out {str(out)!r} is a folder that is not empty and holds no run (no "
                f"{FILES['manifest']}); choose a new folder name so that nothing is overwritten"
            )
    first = out.absolute()  # the first folder on the way to ``out`` that must be created
    for parent in first.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder")
            break
        first = parent
    places = [first]
    if out.is_dir() and any(p.name not in _RUN_NAMES for p in out.iterdir()):
        places.append(out / "run")  # the user's files there move with the run
    for place in places:
        try:
            fresh_folder(place, "probe").rmdir()
        except OSError as err:
            raise DataError(
                f"--out {str(out)!r} cannot be written: creating a folder in "
                f"{str(place.parent)!r} failed ({err.strerror or err}); choose a folder you "
                "can write to, or change its permissions"
            ) from None
    return out


def write_run(
    fit,
    out,
    *,
    spec_info: Mapping,
    log_info: Mapping,
    report_kwargs: Mapping | None = None,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
    figure_worker=None,
) -> Path:
    """Write the run folder of ``fit`` at ``out``, atomically (see the module docstring).

    Parameters
    ----------
    fit : Fit
    out : str or os.PathLike
        The run folder; checked with :func:`check_target`.
    spec_info : mapping
        Contents of ``spec.json`` beyond what the fit knows (data file, method, user priors).
    log_info : mapping
        Contents of ``run.json`` beyond the manifest (versions, seed, command, timings).
    report_kwargs : mapping, optional
        Passed to :func:`multilevel.report.build_report`.
    progress : callable, optional
        Called with a label before each file.
    overwrite : bool
        Replace the run files of an earlier run folder at ``out`` (other files there are
        kept); without it, an earlier run there is an error.
    figure_worker : multilevel.cli._figure_worker.FigureWorker, optional
        Draws the report's figures from the saved fit while the other files are written.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from multilevel.report import write_report

    step = progress or (lambda label: None)
    out = check_target(out, overwrite=overwrite)
    out.absolute().parent.mkdir(parents=True, exist_ok=True)
    with temporary_folder(out, "partial") as tmp:
        point = not hasattr(fit, "posterior")  # a REML / ML PointFit: no draws
        step("fit.mlfit")  # first: the figure worker draws from it
        fit.save(tmp / FILES["fit"])
        figures = None
        if figure_worker is not None and not point:
            figures = figure_worker.draw(tmp / FILES["fit"])
        step("summary.csv")
        fit.summary().to_csv(tmp / FILES["summary"])
        if not point:
            step("posterior.nc")
            idata = fit.to_arviz(predictive=False)
            present = arviz_bridge.group_names(idata)
            groups = [g for g in _NETCDF_GROUPS if g in present]
            arviz_bridge.to_netcdf(idata, tmp / FILES["posterior"], groups=groups)
        step("spec.json")
        _write_json(tmp / FILES["spec"], {**_spec_json(fit), **dict(spec_info)})
        step("report.html")
        extra = {} if figures is None else {"figures": figures}
        write_report(
            fit, tmp / FILES["report"], **dict(report_kwargs or {}), **extra, progress=step
        )
        files = {
            name: {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)}
            for role, name in FILES.items()
            if role != "manifest" and (tmp / name).exists()
        }
        manifest = {"format": FORMAT, "version": VERSION, **dict(log_info), "files": files}
        if point:
            manifest["not_written"] = {FILES["posterior"]: POINT_FIT_NOTE}
        _write_json(tmp / FILES["manifest"], manifest)
        _swap_in(tmp, out)
    return out


def _swap_in(tmp: Path, out: Path) -> None:
    """Rename the complete folder ``tmp`` to ``out``. An earlier run there is replaced: the
    files that are not a run's (:data:`FILES`) move into the new folder, the earlier folder
    is moved aside, the new one renamed into place and the earlier one deleted last; on any
    failure everything goes back. The renames hold :func:`~multilevel.atomic.renaming`, so
    an exit on interrupt waits for them."""
    with renaming():
        if not out.exists():
            os.replace(tmp, out)
            return
        old = fresh_folder(out, "old")
        moved = []
        try:
            for path in sorted(out.iterdir()):
                if path.name not in _RUN_NAMES:
                    os.replace(path, tmp / path.name)
                    moved.append(path.name)
            os.replace(out, old / "run")  # rename within one filesystem: atomic
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old / "run", out)  # put the earlier run back
                raise
        except BaseException:
            for name in moved:  # and the user's files
                os.replace(tmp / name, out / name)
            old.rmdir()
            raise
        shutil.rmtree(old, ignore_errors=True)


def _spec_json(fit) -> dict:
    """What the fit knows about its model, as JSON-ready data."""
    spec = fit.spec
    post = fit.posterior if hasattr(fit, "posterior") else None
    design = spec.design
    groups = []
    for block in design.blocks:
        groups.append(
            {
                "factor": block.name,
                "term": block.source,
                "levels": block.n_levels,
                "coefficients": list(block.coef_names),
                "correlated": bool(block.correlated),
            }
        )
    return {
        "formula": design.info.formula.text,
        "family": spec.family.name,
        "link": spec.family.link,
        "response": design.response,
        "observations": spec.n_rows,
        "population": list(design.X_names),
        "groups": groups,
        "parameters": list(spec.parameter_names),
        "priors": {name: prior.to_stan() for name, prior in spec.priors.items()},
        "engine": post.engine if post else f"gaussian ({fit.method})",
        "reason": post.reason if post else fit.estimate.reason,
        "chains": post.n_chains if post else None,
        "draws": post.n_draws if post else None,
    }


@dataclass(frozen=True)
class Run:
    """A run folder opened by :func:`open_run`."""

    path: Path
    manifest: dict
    spec: dict

    def file(self, role: str) -> Path:
        """The path of a file of the run (``"fit"``, ``"summary"``, ...), its checksum
        verified.

        Raises
        ------
        DataError
            The file is missing or differs from the one the run wrote.
        """
        name = FILES[role]
        path = self.path / name
        if not path.is_file():
            raise DataError(
                f"run folder {str(self.path)!r} is damaged: {name} is missing; run "
                "'multilevel fit' again"
            )
        expected = self.manifest["files"].get(name, {}).get("sha256")
        if expected is not None and _sha256(path) != expected:
            raise DataError(
                f"run folder {str(self.path)!r} is damaged: {name} differs from the file the "
                "run wrote (its SHA-256 checksum does not match run.json); run "
                "'multilevel fit' again"
            )
        return path

    def fit(self, *, trust: bool = False):
        """The fit, loaded from ``fit.mlfit`` (data only; ``trust=True`` also opens the old
        pickle format, see :func:`multilevel.results.storage.load_fit`)."""
        from multilevel.results.storage import load_fit

        return load_fit(self.file("fit"), trust=trust)

    def summary(self) -> pd.DataFrame:
        """``summary.csv`` as a data frame indexed by parameter."""
        import pandas as pd

        return pd.read_csv(self.file("summary"), index_col=0)

    def update_file(self, role: str, written: Path) -> None:
        """Record in the manifest the new checksum of a file rewritten in place (the
        report), atomically."""
        name = FILES[role]
        manifest = json.loads(json.dumps(self.manifest))
        manifest["files"][name] = {"bytes": written.stat().st_size, "sha256": _sha256(written)}
        with atomic_path(self.path / FILES["manifest"]) as tmp:
            _write_json(tmp, manifest)
        self.manifest.clear()
        self.manifest.update(manifest)


def _read_json(path: Path, folder: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(
            f"run folder {str(folder)!r} is damaged: {path.name} cannot be read "
            f"({type(err).__name__}: {err}); run 'multilevel fit' again"
        ) from None
    if not isinstance(data, dict):
        raise DataError(f"run folder {str(folder)!r} is damaged: {path.name} is not an object")
    return data


def open_run(path) -> Run:
    """Open a run folder written by :func:`write_run`, checking its manifest.

    Raises
    ------
    DataError
        A missing folder, a folder without ``run.json`` (not a run, or an interrupted one),
        a damaged manifest, a newer format, a missing ``spec.json``.
    """
    path = Path(path)
    if not path.exists():
        partial = sorted(path.absolute().parent.glob(f".{path.name}.partial-*"))
        hint = (
            f" (an interrupted run left {partial[0].name}; run 'multilevel fit' again)"
            if partial
            else ""
        )
        raise DataError(f"run folder {str(path)!r} does not exist{hint}")
    if not path.is_dir():
        raise DataError(f"{str(path)!r} is a file, not a run folder written by 'multilevel fit'")
    manifest_path = path / FILES["manifest"]
    if not manifest_path.is_file():
        raise DataError(
            f"{str(path)!r} is not a complete run folder: it has no {FILES['manifest']} "
            "(write one with 'multilevel fit DATA FORMULA --out RUN_DIR')"
        )
    manifest = _read_json(manifest_path, path)
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise DataError(
            f"run folder {str(path)!r} is damaged: {FILES['manifest']} is not a multilevel run "
            "manifest"
        )
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise DataError(
            f"run folder {str(path)!r} has format version {version!r}; this multilevel reads "
            f"up to {VERSION}: upgrade multilevel"
        )
    run = Run(path, manifest, {})
    spec = _read_json(run.file("spec"), path)
    return Run(path, manifest, spec)
