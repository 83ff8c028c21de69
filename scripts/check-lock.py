#!/usr/bin/env python3
"""Fail unless the running environment holds exactly the distributions the lock pins.

``make setup`` runs it after installing: ``pip freeze --all`` (the project itself, installed
editable, aside) must name the same distributions at the same versions as the lock, no more
and no fewer. A difference means the install did not come from the lock, and the suite would
test something other than what every other machine runs.

Usage: ``.venv/bin/python scripts/check-lock.py requirements/lock.txt``; exit 0 when equal,
1 with the differences otherwise.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def canonical(name: str) -> str:
    """PEP 503 normalised name: `PyYAML` and `pyyaml`, `ruamel.yaml` and `ruamel-yaml` agree."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def installed() -> dict[str, str]:
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        check=True, capture_output=True, text=True,
    ).stdout
    return pins(freeze.splitlines())


def differences(locked: dict[str, str], present: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(locked.keys() | present.keys()):
        want, have = locked.get(name), present.get(name)
        if want == have:
            continue
        if have is None:
            lines.append(f"missing: {name}=={want}")
        elif want is None:
            lines.append(f"not in the lock: {name}=={have}")
        else:
            lines.append(f"{name}: lock says {want}, installed {have}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check-lock.py LOCKFILE", file=sys.stderr)
        return 2
    lock = Path(argv[0])
    diff = differences(pins(lock.read_text().splitlines()), installed())
    if diff:
        print(f"check-lock: the environment differs from {lock}:", file=sys.stderr)
        for line in diff:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
