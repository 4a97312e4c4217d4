"""What a fit-file test compares after a round trip: every table and array a user sees, as
plain data; the fits of every engine come from the shared cache (``tests/_fitted.py``)."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _fitted import ENGINES, engine_fit, fake_fit, simulated

__all__ = [
    "ENGINES",
    "NEWDATA",
    "assert_same_outputs",
    "engine_fit",
    "fake_fit",
    "outputs",
    "read_outputs",
    "simulated",
    "write_outputs",
]


#: Rows to predict for, per engine (a new level of the grouping factor in each).
NEWDATA = {
    "conjugate": pd.DataFrame({"g": ["g1", "g4", "new"]}, index=[10, 11, 12]),
    "exact": pd.DataFrame({"x": [0.0, 1.0, -1.0], "g": ["g0", "g3", "new"]}),
    "nuts": pd.DataFrame({"x": [0.0, 1.0, -1.0], "g": ["g1", "g3", "new"]}),
    "reml": pd.DataFrame({"Days": [0, 5, 9], "Subject": [308, 372, 999]}),
    "ml": pd.DataFrame({"Days": [0, 5, 9], "Subject": [308, 372, 999]}),
}


def _group(fit) -> str:
    return fit.groups[0]


def outputs(fit, newdata: pd.DataFrame, *, report: Path | None = None) -> dict:
    """Everything a user reads from ``fit``: ``{name: DataFrame | ndarray | str}``.

    Fits: summary, coef, ranef, predictions of every kind (draws, fixed seed), the ArviZ
    groups' arrays and coordinates, the repr and, with ``report``, the HTML report written
    there. Point fits: summary, coef, ranef, fixef, predict, loglik, repr.
    """
    out: dict = {"summary": fit.summary(), "repr": repr(fit)}
    group = _group(fit)
    out["coef"] = fit.coef(group)
    out["ranef"] = fit.ranef(group)
    if not hasattr(fit, "posterior"):  # PointFit
        out["fixef"] = fit.fixef().to_frame("fixef")
        out["predict"] = fit.predict(newdata, new_groups="population").to_frame()
        out["predict_train"] = fit.predict().to_frame()
        out["loglik"] = np.array([fit.loglik()])
        return out
    for kind in ("linear", "mean", "response"):
        out[f"predict_{kind}"] = fit.predict(newdata, kind=kind, new_groups="sample", seed=4)
        out[f"draws_{kind}"] = fit.predict(kind=kind, seed=5, summary=False)
    out["coef_q95"] = fit.coef(group, "q95")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = fit.to_arviz()
    from multilevel.results import arviz_bridge

    for name in arviz_bridge.group_names(idata):
        dataset = idata[name]
        dataset = getattr(dataset, "ds", dataset)  # DataTree node (ArviZ 1.x) or Dataset
        for var in dataset.data_vars:
            out[f"arviz/{name}/{var}"] = np.asarray(dataset[var].values)
            for dim in dataset[var].dims:
                out[f"arviz/{name}/{var}/{dim}"] = np.asarray(dataset[var][dim].values)
    out["diagnostics"] = "\n".join(fit.diagnostics())
    if report is not None:  # the report's every byte but the time it was made
        from multilevel.report import build_report, render

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            content = build_report(fit, data_source="data.csv", settings={"seed": 1})
        html = render(dataclasses.replace(content, created="(time)"))
        report.write_text(html, encoding="utf-8")
        out["report"] = html
    return out


def assert_same_outputs(a: dict, b: dict) -> None:
    """Every output identical: frames exactly (values, index, dtypes), arrays bit for bit."""
    assert list(a) == list(b)
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, name
            np.testing.assert_array_equal(x, y, err_msg=name, strict=True)
        else:
            assert x == y, name


def write_outputs(out: dict, folder: Path) -> None:
    """:func:`outputs` as files (Parquet, ``.npy``, text) with an index, so that another
    process can hand them over exactly."""
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for k, (name, value) in enumerate(out.items()):
        if isinstance(value, pd.DataFrame):
            kind = "frame"
            value.to_parquet(folder / f"{k}.parquet")
        elif isinstance(value, np.ndarray):
            kind = "array"
            np.save(folder / f"{k}.npy", value, allow_pickle=False)
        else:
            kind = "text"
            (folder / f"{k}.txt").write_text(value, encoding="utf-8")
        index.append([name, kind])
    (folder / "index.json").write_text(json.dumps(index))


def read_outputs(folder: Path) -> dict:
    """What :func:`write_outputs` wrote."""
    out = {}
    for k, (name, kind) in enumerate(json.loads((folder / "index.json").read_text())):
        if kind == "frame":
            out[name] = pd.read_parquet(folder / f"{k}.parquet")
        elif kind == "array":
            out[name] = np.load(folder / f"{k}.npy", allow_pickle=False)
        else:
            out[name] = (folder / f"{k}.txt").read_text(encoding="utf-8")
    return out
