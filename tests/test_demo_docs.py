"""The user guide's code runs and its pasted output is real.

Every ```python block of docs/conjugate.md runs, in order, in one namespace (like a session).
A ```text block right after a python block is that block's output: the printed text must
match it word for word, and every number must agree to the precision it is printed with
(plus 1%, so that refining the quadrature does not break the docs while a changed answer
does). After a deliberate change of the numbers, refresh the outputs with
``python tests/test_demo_docs.py`` and read the diff.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDE = DOCS / "conjugate.md"

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TOKEN = re.compile(rf"{NUMBER.pattern}|\S")
RTOL = 0.01


@dataclass
class Block:
    line: int
    code: str
    expected: str | None  # the text block after it, if any


def doc_blocks(text: str) -> list[Block]:
    """Python blocks of a markdown text, each with the text block that follows it."""
    fences = [
        (m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, m)
        for m in FENCE.finditer(text)
    ]
    blocks = []
    for k, (lang, body, line, match) in enumerate(fences):
        if lang != "python":
            continue
        expected = None
        if k + 1 < len(fences):
            next_lang, next_body, _, next_match = fences[k + 1]
            between = text[match.end() : next_match.start()]
            if next_lang == "text" and not between.strip():
                expected = next_body
        blocks.append(Block(line, body, expected))
    return blocks


def _tokens(text: str) -> list[str]:
    """Numbers and single non-space characters: words are compared letter by letter and
    whitespace (column alignment) is ignored."""
    return TOKEN.findall(text)


def _decimals(number: str) -> int:
    mantissa = re.split("[eE]", number)[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def output_mismatch(actual: str, expected: str) -> str | None:
    """Why ``actual`` does not match the documented ``expected`` output (None if it does)."""
    got, want = _tokens(actual), _tokens(expected)
    for k, (a, e) in enumerate(zip(got, want, strict=False)):
        a_num, e_num = NUMBER.fullmatch(a), NUMBER.fullmatch(e)
        if a_num and e_num:
            tol = RTOL * abs(float(e)) + 1.5 * 10.0 ** -_decimals(e)
            if abs(float(a) - float(e)) <= tol:
                continue
        elif a == e:
            continue
        context = " ".join(got[max(0, k - 8) : k + 3])
        return f"token {k}: got {a!r}, documented {e!r} (near: {context!r})"
    if len(got) != len(want):
        return f"got {len(got)} tokens, documented {len(want)}"
    return None


def run_blocks(blocks: list[Block], folder: Path):
    """Run the blocks in one namespace inside ``folder``; (stdout, error) for each."""
    namespace = {"__name__": "__docs__"}
    results = []
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for block in blocks:
            out = io.StringIO()
            error = None
            with contextlib.redirect_stdout(out):
                try:
                    exec(compile(block.code, f"{GUIDE.name}:{block.line}", "exec"), namespace)
                except Exception:  # reported by the test of this block
                    error = traceback.format_exc()
            results.append((out.getvalue(), error))
    finally:
        os.chdir(cwd)
    return results


BLOCKS = doc_blocks(GUIDE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_blocks(BLOCKS, tmp_path_factory.mktemp("docs"))


def test_guide_has_code():
    assert len(BLOCKS) >= 5
    assert all(b.expected is not None for b in BLOCKS), "every python block shows its output"


@pytest.mark.parametrize("k", range(len(BLOCKS)), ids=[f"line{b.line}" for b in BLOCKS])
def test_block_runs_and_prints_documented_output(results, k):
    printed, error = results[k]
    assert error is None, f"{GUIDE.name} block at line {BLOCKS[k].line} failed:\n{error}"
    if BLOCKS[k].expected is not None:
        why = output_mismatch(printed, BLOCKS[k].expected)
        assert why is None, (
            f"{GUIDE.name} block at line {BLOCKS[k].line}: {why}\nprinted:\n{printed}"
        )


def test_family_size_trend_in_guide(results):
    """The worked example's claims: shrinkage falls with n; 1000 houses give ~2.0."""
    k = next(i for i, b in enumerate(BLOCKS) if "update_new_group(houses(n))" in b.code)
    rows = {
        line.split()[0]: line.split() for line in results[k][0].splitlines()[1:] if line.strip()
    }
    shrink = [float(rows[key][-1]) for key in ("not", "1", "10", "1000")]
    assert shrink == sorted(shrink, reverse=True) and len(set(shrink)) == 4
    assert abs(float(rows["1000"][4]) - 2.0) < 0.05


def test_output_comparison_is_strict_enough():
    assert output_mismatch("mean 1.350  0.311", "mean   1.35 0.311") is None
    assert output_mismatch("mean 1.364", "mean 1.350") is None  # within 1% + 1.5 digits
    assert output_mismatch("mean 1.380", "mean 1.350") is not None
    assert output_mismatch("sd 1.350", "mean 1.350") is not None
    assert output_mismatch("mean 1.350 2", "mean 1.350") is not None


def update_outputs(path: Path = GUIDE) -> None:
    """Rewrite every text block that follows a python block with the block's real output."""
    import tempfile

    text = path.read_text(encoding="utf-8")
    blocks = doc_blocks(text)
    outputs = run_blocks(blocks, Path(tempfile.mkdtemp()))
    for block, (_, error) in zip(blocks, outputs, strict=True):
        if error:
            raise SystemExit(f"block at line {block.line} failed:\n{error}")
    fences = list(FENCE.finditer(text))
    pieces, last, k = [], 0, 0
    for i, match in enumerate(fences):
        if match.group(1) != "python":
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
    path.write_text("".join(pieces), encoding="utf-8")


if __name__ == "__main__":  # python tests/test_demo_docs.py: refresh the pasted outputs
    update_outputs()
