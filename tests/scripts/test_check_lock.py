"""The lock is the install: every machine gets the same tree, and the lock fits pyproject.toml."""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"


def _check_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check-lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_lock = _check_lock()


def locked() -> dict[str, str]:
    pins: dict[str, str] = check_lock.pins(LOCK.read_text().splitlines())
    return pins


def test_every_locked_distribution_carries_hashes() -> None:
    # pip's --require-hashes refuses a lock with one unhashed pin; say which one here.
    lines = LOCK.read_text().splitlines()
    pinned = [line for line in lines if "==" in line and not line.lstrip().startswith("#")]
    unhashed = [line for line in pinned if not line.rstrip().endswith("\\")]
    assert len(pinned) == len(locked()) > 100
    assert unhashed == []


def test_the_lock_satisfies_every_range_of_pyproject() -> None:
    # Editing a range without `make lock` would leave a lock that pyproject.toml refuses.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    pins = locked()
    problems = []
    for text in wanted:
        requirement = Requirement(text)
        version = pins.get(check_lock.canonical(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    assert problems == [], "run `make lock`: " + "; ".join(problems)


@pytest.mark.skipif(
    os.environ.get("LIFEBOAT_UNLOCKED_ENV") == "1",
    reason="make test-latest runs the newest releases on purpose, not the lock",
)
def test_this_environment_is_exactly_the_lock() -> None:
    assert Path(sys.prefix).resolve() == (ROOT / ".venv").resolve(), "run through make test"
    assert check_lock.differences(locked(), check_lock.installed()) == []


def test_differences_name_what_is_missing_extra_and_other() -> None:
    diff = check_lock.differences(
        {"pyyaml": "6.0.3", "boto3": "1.0", "rich": "13.0"},
        {"pyyaml": "6.0.4", "rich": "13.0", "left-pad": "1.0"},
    )
    assert diff == [
        "missing: boto3==1.0",
        "not in the lock: left-pad==1.0",
        "pyyaml: lock says 6.0.3, installed 6.0.4",
    ]


def test_pins_read_freeze_and_lock_lines_alike() -> None:
    assert check_lock.pins(["PyYAML==6.0.4", "ruamel.yaml==0.18 \\", "# via x", "-e ."]) == {
        "pyyaml": "6.0.4",
        "ruamel-yaml": "0.18",
    }
