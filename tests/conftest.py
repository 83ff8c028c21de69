"""Shared fixtures. Real services (S3, sshd, SMTP, Prefect) are started here, once per session,
by the same launchers the sandbox uses; for now the runbook tests need only files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.errors import RunbookInvalid
from lifeboat.runbook import LoadedRunbook, load

REPO = Path(__file__).resolve().parent.parent

HEADER = """\
id: sample
version: 1.0.0
title: Sample runbook
owner: sre@example.com
parameters:
  port: {type: integer, default: 443}
  path: {type: string}
sites:
  par-1: {provider: ovh, region: eu-west-3, datacenter: sbg-2}
  fra-1: {provider: aws, region: eu-central-1, datacenter: fra-b}
hosts:
  web-a: {site: par-1, address: 203.0.113.5}
  web-b: {site: fra-1, address: 198.51.100.7, port: 2222}
stakeholders:
  oncall: {channels: ["json://127.0.0.1:9/hook"]}
steps:
"""


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str | bytes, str], Path]:
    """Write a runbook file (text is dedented) and return its path."""

    def _write(content: str | bytes, name: str = "runbook.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def with_steps(write: Callable[[str | bytes, str], Path]) -> Callable[[str], Path]:
    """A valid header (two sites, two hosts, parameters) followed by the given steps."""

    def _with_steps(steps: str) -> Path:
        return write(HEADER + steps)

    return _with_steps


@pytest.fixture
def errors_of() -> Callable[[Path], list[str]]:
    """Load a file that must be invalid; return its diagnostics as printed."""

    def _errors_of(path: Path) -> list[str]:
        with pytest.raises(RunbookInvalid) as info:
            load(path)
        return [str(d) for d in info.value.diagnostics]

    return _errors_of


@pytest.fixture
def loads() -> Callable[[Path], LoadedRunbook]:
    return lambda path: load(path)
