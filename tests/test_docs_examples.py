"""The getting-started page and the worked examples run, and their pasted output is real.

Each page of :data:`PAGES` runs top to bottom in one namespace, in a fresh folder (like a
session in a terminal):

- every ```python block is executed;
- in every ```bash block, each line that starts with ``multilevel `` is run through the
  command line in process (``multilevel.cli.main``) and must exit with status 0; other lines
  (``pip install``, ``open``) are not run;
- a ```text block right after a python or bash block is that block's output: words must match
  and numbers must agree to the precision printed plus a relative tolerance, 1% unless the page
  says otherwise in a comment ``<!-- docs-test: rtol=0.1 -->`` (pages whose numbers come from
  MCMC draws, which differ slightly between machines).

After a deliberate change, refresh the outputs with ``python tests/test_docs_examples.py
[page.md ...]`` and read the diff.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = [
    DOCS / "getting-started.md",
    DOCS / "examples" / "eight_schools.md",
    DOCS / "examples" / "radon.md",
    DOCS / "examples" / "sleepstudy.md",
]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TOKEN = re.compile(rf"{NUMBER.pattern}|\S")
RTOL = re.compile(r"<!--\s*docs-test:\s*rtol=([0-9.]+)\s*-->")


@dataclass
class Block:
    lang: str
    line: int
    code: str
    expected: str | None


def blocks(text: str) -> list[Block]:
    """The python and bash blocks of a page, each with the text block right after it."""
    fences = [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, m)
              for m in FENCE.finditer(text)]  # fmt: skip
    out = []
    for k, (lang, body, line, match) in enumerate(fences):
        if lang not in ("python", "bash"):
            continue
        expected = None
        if k + 1 < len(fences):
            next_lang, next_body, _, next_match = fences[k + 1]
            if next_lang == "text" and not text[match.end() : next_match.start()].strip():
                expected = next_body
        out.append(Block(lang, line, body, expected))
    return out


def _decimals(number: str) -> int:
    mantissa = re.split("[eE]", number)[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def mismatch(actual: str, expected: str, rtol: float) -> str | None:
    """Why ``actual`` differs from the documented output (None if it does not)."""
    got, want = TOKEN.findall(actual), TOKEN.findall(expected)
    for k, (a, e) in enumerate(zip(got, want, strict=False)):
        if NUMBER.fullmatch(a) and NUMBER.fullmatch(e):
            if abs(float(a) - float(e)) <= rtol * abs(float(e)) + 1.5 * 10.0 ** -_decimals(e):
                continue
        elif a == e:
            continue
        near = " ".join(got[max(0, k - 8) : k + 3])
        return f"token {k}: got {a!r}, documented {e!r} (near {near!r})"
    if len(got) != len(want):
        return f"got {len(got)} tokens, documented {len(want)}"
    return None


def _run_bash(code: str) -> None:
    from multilevel.cli import main

    for line in code.splitlines():
        line = line.split(" #")[0].strip()
        if not line.startswith("multilevel "):
            continue
        argv = shlex.split(line)[1:]
        status = main(argv)
        if status != 0:
            raise AssertionError(f"{line!r} exited with status {status}")


def run_page(page: Path, folder: Path) -> list[tuple[str, str | None]]:
    """Run a page's blocks in ``folder``; (printed text, traceback or None) per block."""
    namespace = {"__name__": "__docs__"}
    results = []
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for block in blocks(page.read_text(encoding="utf-8")):
            out, err = io.StringIO(), io.StringIO()
            error = None
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                    warnings.catch_warnings():  # fmt: skip
                warnings.simplefilter("ignore")
                try:
                    if block.lang == "python":
                        code = compile(block.code, f"{page.name}:{block.line}", "exec")
                        exec(code, namespace)
                    else:
                        _run_bash(block.code)
                except Exception:  # reported by the test of this block
                    error = traceback.format_exc() + err.getvalue()[-3000:]
            results.append((out.getvalue(), error))
    finally:
        os.chdir(cwd)
    return results


def page_rtol(page: Path) -> float:
    found = RTOL.search(page.read_text(encoding="utf-8"))
    return float(found.group(1)) if found else 0.01


_RESULTS: dict[Path, tuple[list, float]] = {}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    def get(page: Path):
        if page not in _RESULTS:
            start = time.perf_counter()
            results = run_page(page, tmp_path_factory.mktemp(page.stem))
            _RESULTS[page] = (results, time.perf_counter() - start)
        return _RESULTS[page][0]

    return get


CASES = [
    (page, k)
    for page in PAGES
    if page.exists()
    for k in range(len(blocks(page.read_text("utf-8"))))
]


@pytest.mark.parametrize("page, k", CASES, ids=[f"{p.name}:{blocks(p.read_text('utf-8'))[k].line}"
                                                for p, k in CASES])  # fmt: skip
def test_block_runs_and_prints_documented_output(ran, page, k):
    block = blocks(page.read_text(encoding="utf-8"))[k]
    printed, error = ran(page)[k]
    assert error is None, f"{page.name} block at line {block.line} failed:\n{error}"
    if block.expected is not None:
        why = mismatch(printed, block.expected, page_rtol(page))
        assert why is None, f"{page.name} block at line {block.line}: {why}\nprinted:\n{printed}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_shows_code_and_output(page):
    found = blocks(page.read_text(encoding="utf-8"))
    assert len(found) >= 4
    assert sum(b.expected is not None for b in found) >= 2


def test_examples_are_linked_from_getting_started():
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"examples/{page.name}" in text


def test_readme_csv_to_report_commands(tmp_path, monkeypatch):
    """The README's two commands: its CSV line writes the file, its fit command parses, and
    its data and formula build a model (``check``: the same work short of fitting)."""
    from multilevel.cli import build_parser, main

    text = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("## From a CSV to a report in two commands", 1)[1].split("\n## ")[0]
    lines = [ln.strip() for m in FENCE.finditer(section) if m.group(1) == "bash"
             for ln in m.group(2).splitlines() if ln.strip()]  # fmt: skip
    fit_line = next(ln for ln in lines if ln.startswith("multilevel fit "))
    open_line = next(ln for ln in lines if ln.startswith("open "))
    csv_line = next(ln for ln in lines if ln.startswith("python3 -c "))
    monkeypatch.chdir(tmp_path)
    exec(shlex.split(csv_line)[2], {})
    argv = shlex.split(fit_line)[1:]
    args = build_parser().parse_args(argv)
    assert open_line.split()[1] == f"{args.out}/report.html"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["check", str(args.data), args.formula]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [args.data.name]


def test_comparison_is_strict_enough():
    assert mismatch("mean 1.350  0.311", "mean   1.35 0.311", 0.01) is None
    assert mismatch("mean 1.380", "mean 1.350", 0.01) is not None
    assert mismatch("mean 1.380", "mean 1.350", 0.05) is None
    assert mismatch("sd 1.350", "mean 1.350", 0.05) is not None
    assert mismatch("mean 1.350 2", "mean 1.350", 0.05) is not None


def update_outputs(page: Path) -> None:
    """Rewrite each text block that follows a python or bash block with the real output."""
    text = page.read_text(encoding="utf-8")
    outputs = run_page(page, Path(tempfile.mkdtemp()))
    for block, (_, error) in zip(blocks(text), outputs, strict=True):
        if error:
            raise SystemExit(f"{page.name} block at line {block.line} failed:\n{error}")
    fences = list(FENCE.finditer(text))
    pieces, last, k = [], 0, 0
    for i, match in enumerate(fences):
        if match.group(1) not in ("python", "bash"):
            continue
        printed = outputs[k][0]
        k += 1
        following = fences[i + 1] if i + 1 < len(fences) else None
        if following and following.group(1) == "text":
            if not text[match.end() : following.start()].strip():
                body = "\n".join(line.rstrip() for line in printed.rstrip("\n").splitlines())
                pieces += [text[last : following.start()], f"```text\n{body}\n```"]
                last = following.end()
    pieces.append(text[last:])
    page.write_text("".join(pieces), encoding="utf-8")
    print(f"updated {page}")


if __name__ == "__main__":  # python tests/test_docs_examples.py [page ...]
    for name in sys.argv[1:] or [str(p) for p in PAGES]:
        update_outputs(Path(name).resolve())
