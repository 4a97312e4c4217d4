"""The ``multilevel demo`` job: exact hierarchical fits of bundled real data, explained.

Three parts, each a function that the command line (``multilevel demo``) and the tests call:

1. :func:`fit_cbpp` fits lme4's ``cbpp`` herds as a beta-binomial model (full Bayes) and
   :func:`herd_table` / :func:`print_herds` show every herd's posterior with its shrinkage.
2. :func:`family_size_table` answers the question that motivates hierarchical models ("what do
   we know about a family with 1000 kids, with 10, with 1, and about a family we have not
   met?") on the Minnesota radon data: a *new* county whose houses average
   :data:`NEW_COUNTY_MEAN` log pCi/L, observed with 1, 10 and 1000 houses, is scored with
   :meth:`~multilevel.results.conjugate.ConjugateFit.update_new_group` (no refit), next to
   :meth:`~multilevel.results.conjugate.ConjugateFit.new_group` for a county not yet met.
3. :func:`write_plots` writes the shrinkage plots of both fits as PNG files.

:func:`run` does all three and prints the results with ``rich``.

Examples
--------
>>> from multilevel import demo
>>> radon = demo.fit_radon()
>>> table = demo.family_size_table(radon)
>>> print(*table.index, sep="; ")
new county, not yet met; new county, 1 house; new county, 10 houses; new county, 1000 houses
>>> bool(table["shrinkage"].is_monotonic_decreasing)
True
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multilevel import datasets
from multilevel.conjugate import fit_conjugate
from multilevel.errors import MultilevelError

__all__ = [
    "NEW_COUNTY_MEAN",
    "NEW_COUNTY_SIZES",
    "DemoResult",
    "fit_cbpp",
    "fit_radon",
    "herd_table",
    "new_county_data",
    "family_size_table",
    "output_folder",
    "write_plots",
    "run",
]

#: average log radon (log pCi/L) of the hypothetical new county; the state mean is about 1.35
NEW_COUNTY_MEAN = 2.0
#: numbers of houses measured in the hypothetical new county
NEW_COUNTY_SIZES = (1, 10, 1000)
#: file names of the plots written by :func:`write_plots`
PLOT_NAMES = {"cbpp": "shrinkage_cbpp.png", "radon": "shrinkage_radon.png"}


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run` computed and wrote.

    Attributes
    ----------
    herds : DataFrame
        :func:`herd_table` of the cbpp fit.
    hyper : DataFrame
        The cbpp hyperparameters (``alpha``, ``beta``).
    family_size : DataFrame
        :func:`family_size_table` of the radon fit.
    plots : tuple of Path
        Absolute paths of the PNG files written.
    seconds : float
        Wall time of the whole job.
    """

    herds: pd.DataFrame
    hyper: pd.DataFrame
    family_size: pd.DataFrame
    plots: tuple[Path, ...]
    seconds: float


# --------------------------------------------------------------------------- fits
def fit_cbpp():
    """Beta-binomial fit of the cbpp herds: cases of 15 herds, p_herd ~ Beta(alpha, beta)."""
    return fit_conjugate(
        datasets.load("cbpp"),
        likelihood="binomial",
        group="herd",
        successes="incidence",
        trials="size",
    )


def fit_radon():
    """Normal fit of log radon by county, unknown within-county SD ``sigma``."""
    return fit_conjugate(datasets.load("radon"), likelihood="normal", group="county", y="log_radon")


def _natural_key(label) -> tuple:
    """Sort key putting "2" before "10" (herd labels are strings)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(label)))


def herd_table(fit) -> pd.DataFrame:
    """Every herd's posterior, in herd order.

    Columns ``cases``, ``trials``, ``estimate`` (cases / trials), ``mean``, ``q5``, ``q95``
    (90% interval) and ``shrinkage`` (weight of the population mean in the posterior mean).
    """
    groups = fit.groups()
    table = pd.DataFrame(
        {
            "cases": np.rint(groups["estimate"] * groups["n"]).astype(int),
            "trials": groups["n"].astype(int),
            "estimate": groups["estimate"],
            "mean": groups["mean"],
            "q5": groups["q5"],
            "q95": groups["q95"],
            "shrinkage": groups["shrinkage"],
        },
        index=groups.index,
    )
    return table.loc[sorted(table.index, key=_natural_key)]


# --------------------------------------------------------------------------- the seed question
def new_county_data(
    n: int, *, mean: float, sd: float, seed=0, label: str = "new county"
) -> pd.DataFrame:
    """``n`` synthetic houses of one new county, averaging exactly ``mean``.

    The values are ``mean + sd * z`` with ``z`` standard normal draws (``seed``) centred and
    scaled so that the sample mean is exactly ``mean`` and, for ``n > 1``, the sample SD is
    exactly ``sd``. The normal model depends on the houses only through these two numbers, so
    the posterior does not depend on ``seed``.
    """
    if n < 1:
        raise MultilevelError(f"a new county needs at least one house, got n={n}")
    z = np.random.default_rng(seed).standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=1) if n > 1 else np.zeros(1)
    return pd.DataFrame({"county": label, "log_radon": mean + sd * z})


def _house_label(n: int) -> str:
    return f"new county, {n} house" + ("" if n == 1 else "s")


def family_size_table(fit, *, mean=NEW_COUNTY_MEAN, sizes=NEW_COUNTY_SIZES, seed=0):
    """What we know about a new county, before and after measuring 1, 10, 1000 houses.

    Row ``"new county, not yet met"`` is :meth:`new_group` (the population distribution of a
    county's mean, integrated over the hyperparameter posterior: shrinkage 1 by definition);
    each row ``"new county, n houses"`` is :meth:`update_new_group` on :func:`new_county_data`
    with that many houses averaging ``mean`` and the fitted within-county SD (posterior mean
    of ``sigma``). Each size is scored on its own, as a separate what-if.

    Returns
    -------
    DataFrame
        Columns ``n``, ``own_mean`` (the houses' average; NaN for no houses), ``mean``,
        ``sd``, ``q5``, ``q95`` (90% interval) and ``shrinkage``.
    """
    sigma = _posterior_means(fit)["sigma"]
    prior = fit.new_group().loc["parameter"]
    rows = {
        "new county, not yet met": {
            "n": 0,
            "own_mean": np.nan,
            "mean": prior["mean"],
            "sd": prior["sd"],
            "q5": prior["q5"],
            "q95": prior["q95"],
            "shrinkage": 1.0,
        }
    }
    for n in sizes:
        label = _house_label(n)
        data = new_county_data(n, mean=mean, sd=sigma, seed=seed, label=label)
        post = fit.update_new_group(data).loc[label]
        rows[label] = {
            "n": int(n),
            "own_mean": post["estimate"],
            **{k: post[k] for k in ("mean", "sd", "q5", "q95", "shrinkage")},
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["n"] = table["n"].astype(int)
    return table


def family_size_sentence(table: pd.DataFrame) -> str:
    """One sentence explaining the trend of :func:`family_size_table`."""
    prior, met = table.iloc[0], table.iloc[1:]
    own = float(met["own_mean"].iloc[0])
    steps = [
        f"{s:.3f} ({n} house{'' if n == 1 else 's'})"
        for n, s in zip(met["n"], met["shrinkage"], strict=True)
    ]
    return (
        f"A county we have not met gets the state-wide distribution (mean {prior['mean']:.2f}, "
        f"sd {prior['sd']:.2f}); every house measured moves the posterior from the state mean "
        f"toward the county's own average {own:.2f} and narrows it: shrinkage falls from "
        + " to ".join(steps)
        + ", because the county's own mean is known to within sigma / sqrt(n) while the "
        "state-wide information is worth a fixed amount."
    )


# --------------------------------------------------------------------------- files
def output_folder(out=None) -> Path:
    """The folder to write into (created if needed), as an absolute path.

    Raises
    ------
    MultilevelError
        ``out`` exists and is not a folder, or cannot be created.
    """
    path = Path("." if out is None else out).expanduser()
    if path.exists() and not path.is_dir():
        raise MultilevelError(f"output folder {str(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MultilevelError(
            f"cannot create output folder {str(path)!r}: {err.strerror or err}"
        ) from None
    return path.resolve()


def _save(fig, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # render with Agg whatever pyplot's backend is
    from multilevel.atomic import atomic_open

    try:
        with atomic_open(path, "wb") as handle:
            fig.savefig(handle, format="png", dpi=120)
    except OSError as err:
        raise MultilevelError(f"cannot write {str(path)!r}: {err.strerror or err}") from None
    return path


def _new_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 5.0), layout="constrained")
    return fig, fig.add_subplot()


def write_plots(cbpp_fit, radon_fit, family_size: pd.DataFrame, folder: Path) -> tuple[Path, ...]:
    """Write the shrinkage plots of both fits into ``folder``; return their paths.

    The radon plot also marks the hypothetical new county of :func:`family_size_table` (its
    own average against its posterior mean for each number of houses).
    """
    fig, ax = _new_figure()
    cbpp_fit.plot_shrinkage(ax=ax, label_groups=len(cbpp_fit.spec.labels))
    ax.set_title("cbpp: incidence of 15 herds, beta-binomial (point size = trials)")
    paths = [_save(fig, folder / PLOT_NAMES["cbpp"])]

    fig, ax = _new_figure()
    radon_fit.plot_shrinkage(ax=ax)
    met = family_size.iloc[1:]
    ax.scatter(
        met["own_mean"],
        met["mean"],
        marker="*",
        s=160,
        color="C1",
        edgecolor="k",
        linewidth=0.5,
        zorder=3,
        label="new county (1, 10, 1000 houses)",
    )
    for n, x, y in zip(met["n"], met["own_mean"], met["mean"], strict=True):
        ax.annotate(f"{n}", (x, y), xytext=(6, -3), textcoords="offset points", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("radon: mean log radon of 85 counties (point size = houses)")
    paths.append(_save(fig, folder / PLOT_NAMES["radon"]))
    return tuple(paths)


# --------------------------------------------------------------------------- printing
def _interval(lo: float, hi: float, digits: int) -> str:
    from rich.markup import escape

    return escape(f"[{lo:.{digits}f}, {hi:.{digits}f}]")


def print_herds(console, fit, herds: pd.DataFrame) -> None:
    """Print the herd table, the hyperparameters and how they were computed."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title="cbpp: posterior of each herd's incidence p (beta-binomial, full Bayes)",
        box=box.SIMPLE_HEAD,
    )
    for name in ("herd", "cases", "trials", "own p", "posterior mean", "90% interval", "shrinkage"):
        table.add_column(
            name,
            justify="left" if name == "herd" else "right",
            no_wrap=name in ("herd", "90% interval"),
        )
    new = fit.new_group().loc["parameter"]
    last = herds.index[-1]
    for herd, row in herds.iterrows():
        table.add_row(
            str(herd),
            f"{int(row['cases'])}",
            f"{int(row['trials'])}",
            f"{row['estimate']:.3f}",
            f"{row['mean']:.3f}",
            _interval(row["q5"], row["q95"], 3),
            f"{row['shrinkage']:.2f}",
            end_section=herd == last,
        )
    table.add_row(
        "new herd", "-", "0", "-", f"{new['mean']:.3f}", _interval(new["q5"], new["q95"], 3), "1.00"
    )
    console.print(table)

    hyper = fit.hyper()
    table = Table(title="cbpp hyperparameters: p_herd ~ Beta(alpha, beta)", box=box.SIMPLE_HEAD)
    for name in ("", "posterior mean", "sd", "90% interval"):
        table.add_column(name, justify="left" if name == "" else "right", no_wrap=True)
    for name, row in hyper.iterrows():
        table.add_row(
            name, f"{row['mean']:.3f}", f"{row['sd']:.3f}", _interval(row["q5"], row["q95"], 3)
        )
    console.print(table)
    priors = ", ".join(f"{name} ~ {prior.to_stan()}" for name, prior in fit.priors.items())
    console.print(f"Hyperpriors: {escape(priors)}", highlight=False)
    console.print(f"Engine: {fit.reason} ({fit.seconds:.2f} s).", highlight=False)


def _posterior_means(fit) -> dict[str, float]:
    """Posterior means of the hyperparameters from the quadrature grid (cheap)."""
    grid = fit.hyper_grid()
    weights = grid["weight"].to_numpy()
    return {name: float(weights @ grid[name].to_numpy()) for name in fit.spec.hyper_names}


def print_family_size(console, fit, family: pd.DataFrame) -> None:
    """Print the seed-question table and the sentence explaining it."""
    from rich import box
    from rich.table import Table

    means = _posterior_means(fit)
    console.print(
        f"\nradon: log radon of 919 houses in 85 Minnesota counties, y ~ Normal(theta_county, "
        f"sigma), theta_county ~ Normal(mu, tau); posterior means mu = {means['mu']:.2f}, "
        f"tau = {means['tau']:.2f}, sigma = {means['sigma']:.2f}.\n"
        f"A new county whose houses average {NEW_COUNTY_MEAN:.1f} log pCi/L (above the state "
        f"mean), spread by the fitted within-county SD {means['sigma']:.2f}:",
        highlight=False,
    )
    table = Table(title="What do we know about a new county's mean log radon?", box=box.SIMPLE_HEAD)
    for name in ("new county", "own mean", "posterior mean", "sd", "90% interval", "shrinkage"):
        table.add_column(
            name,
            justify="left" if name == "new county" else "right",
            no_wrap=name in ("new county", "90% interval"),
        )
    for label, row in family.iterrows():
        own = "-" if np.isnan(row["own_mean"]) else f"{row['own_mean']:.2f}"
        table.add_row(
            label.removeprefix("new county, "),
            own,
            f"{row['mean']:.3f}",
            f"{row['sd']:.3f}",
            _interval(row["q5"], row["q95"], 2),
            f"{row['shrinkage']:.3f}",
        )
    console.print(table)
    console.print(family_size_sentence(family), highlight=False)


# --------------------------------------------------------------------------- the job
def run(out=None, *, seed=0, console=None) -> DemoResult:
    """Run the demo: fit, print, write the plots into ``out`` (default: current folder).

    Parameters
    ----------
    out : str or Path, optional
        Folder for the PNG files, created if needed.
    seed : int
        Seed of the synthetic houses of the new county (the posterior does not depend on it;
        see :func:`new_county_data`).
    console : rich.console.Console, optional
        Where to print (default: standard output).

    Raises
    ------
    MultilevelError
        ``out`` cannot be created or written to.
    """
    from rich.console import Console

    start = time.perf_counter()
    console = Console() if console is None else console
    folder = output_folder(out)  # fail before any work

    cbpp = fit_cbpp()
    herds = herd_table(cbpp)
    print_herds(console, cbpp, herds)

    radon = fit_radon()
    family = family_size_table(radon, seed=seed)
    print_family_size(console, radon, family)

    plots = write_plots(cbpp, radon, family, folder)
    console.print()
    for path in plots:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    seconds = time.perf_counter() - start
    console.print(f"done in {seconds:.1f} s", highlight=False)
    return DemoResult(herds, cbpp.hyper(), family, plots, seconds)
