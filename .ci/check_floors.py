"""Check that every direct dependency of pyproject.toml (and its test extra) resolved to its
lower bound in a pinned requirements file: ``python check_floors.py pyproject.toml pins.txt``."""

from __future__ import annotations

import re
import sys
import tomllib


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def main(pyproject: str, pins: str) -> int:
    with open(pyproject, "rb") as handle:
        project = tomllib.load(handle)["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    floors = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9.]+)", requirement)
        if not match:
            print(f"{requirement!r}: give every dependency a lower bound, as name>=version")
            return 1
        floors[_name(match[1])] = match[2]
    pinned = {}
    with open(pins, encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
            if match:
                pinned[_name(match[1])] = match[2]
    wrong = [
        f"{name}: bound {floor}, lowest installable {pinned.get(name, 'none')}"
        for name, floor in floors.items()
        if name not in pinned or _version(pinned[name]) != _version(floor)
    ]
    for line in wrong:
        print(line)
    if wrong:
        print("raise these bounds in pyproject.toml to the versions that resolve")
        return 1
    print(f"{len(floors)} lower bounds resolve as declared")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
