"""Shapes of the runbook model that have a message of their own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.runbook import LoadedRunbook

Write = Callable[..., Path]
Errors = Callable[[Path], list[str]]

RUNBOOK = """\
id: x
version: 1.0.0
title: t
owner: o
sites:
  gra-1: {{provider: ovh, region: GRA, endpoint: {endpoint}}}
steps:
  - {{id: a, check: wait, with: {{duration: 1s}}}}
"""


@pytest.mark.parametrize(
    "endpoint",
    ["https://s3.gra.io.cloud.ovh.net", "s3.gra.io.cloud.ovh.net/bucket", "-s3.example.net"],
)
def test_a_site_endpoint_is_a_host_and_port_only(
    write: Write, errors_of: Errors, endpoint: str
) -> None:
    path = write(RUNBOOK.format(endpoint=f'"{endpoint}"'))
    assert errors_of(path) == [
        f"{path}:6:49: error: sites.gra-1.endpoint: {endpoint!r} is not an endpoint: give its "
        "host and optional port, e.g. s3.gra.io.cloud.ovh.net or 127.0.0.1:9000 "
        "(no scheme, no path)"
    ]


@pytest.mark.parametrize(
    ("endpoint", "kept"),
    [
        ("S3.GRA.io.cloud.ovh.net", "s3.gra.io.cloud.ovh.net"),  # as hosts compare
        ('"127.0.0.1:9000"', "127.0.0.1:9000"),
        ('"[::1]:9000"', "[::1]:9000"),
    ],
)
def test_a_site_endpoint_is_kept_in_lower_case(
    write: Write, loads: Callable[[Path], LoadedRunbook], endpoint: str, kept: str
) -> None:
    loaded = loads(write(RUNBOOK.format(endpoint=endpoint)))
    assert loaded.runbook.sites["gra-1"].endpoint == kept
