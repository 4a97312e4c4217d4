"""Messages that reach the command line speak its words (options, commands), and other
packages' notices are not printed as ours."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import multilevel
from _cli_runs import data_csv, run_cli
from multilevel.cli import COMMANDS, Command, main


def test_a_short_exact_fit_advises_in_options_and_commands(tmp_path):
    out = tmp_path / "run"
    result = run_cli("fit", data_csv(), "y ~ x + (1 | g)", "--method", "exact", "--chains", "2",
                     "--draws", "30", "--seed", "1", "--out", out)  # fmt: skip
    assert result.status == 0, result.err
    assert "Run more draws (--draws)." in result.err
    assert f"see 'multilevel summary {out}'" in result.out
    assert "fit.diagnostics()" not in result.out + result.err
    summary = run_cli("summary", out)
    assert "Run more draws (--draws)." in summary.out


def test_new_level_error_names_the_option(exact, tmp_path):
    new = tmp_path / "new.csv"
    new.write_text("g\ng1\nAtlantis\n")
    result = run_cli("predict", exact[1], new)
    assert result.status == 2
    assert "--new-groups population" in result.err and "--new-groups sample" in result.err
    assert "new_groups=" not in result.err


def test_other_packages_warnings_are_not_printed_as_ours(monkeypatch, capsys):
    from multilevel.errors import DataWarning

    def run(args):
        warnings.warn_explicit(
            "ArviZ is undergoing a major refactor", FutureWarning, "/site/arviz/__init__.py", 50
        )
        ours = os.path.join(os.path.dirname(multilevel.__file__), "fit.py")
        warnings.warn_explicit("method='reml' ignores `priors`", UserWarning, ours, 95)
        warnings.warn("only 2 groups", DataWarning, stacklevel=1)
        return 0

    monkeypatch.setitem(COMMANDS, "noisy", Command("test", "test", lambda parser: None, run))
    assert main(["noisy"]) == 0
    err = capsys.readouterr().err
    assert "/site/arviz/__init__.py:50: FutureWarning: ArviZ is undergoing" in err
    assert "warning: ArviZ" not in err
    assert "warning: --method reml ignores --prior\n" in err  # ours, from the package
    assert "warning: only 2 groups\n" in err


def test_arviz_notice_is_not_shown_through_the_command_line(exact, tmp_path):
    """ArviZ 0.2x's daily notice of its refactor (a fresh cache: not yet shown today)."""
    source = os.path.dirname(os.path.dirname(multilevel.__file__))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": source}
    done = subprocess.run(
        [sys.executable, "-m", "multilevel.cli", "report", str(exact[1]), "--out",
         str(tmp_path / "r.html")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "refactor" not in done.stderr and "warning" not in done.stderr.lower()
