"""``http.status`` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from checks.http import HttpStatusParams, http_status
from lifeboat.errors import CheckFailed
from lifeboat.registry import StepContext


def test_expected_status_passes(http_server: str, ctx: StepContext) -> None:
    output = http_status(HttpStatusParams(url=f"{http_server}/health"), ctx)
    assert output.evidence["status"] == 200
    assert output.summary.startswith(f"{http_server}/health answered 200 in ")


def test_other_expected_codes(http_server: str, ctx: StepContext) -> None:
    params = HttpStatusParams(url=f"{http_server}/status/403", expect=[200, 403])
    assert http_status(params, ctx).evidence["status"] == 403


def test_unexpected_status_fails_with_evidence(http_server: str, ctx: StepContext) -> None:
    with pytest.raises(CheckFailed) as info:
        http_status(HttpStatusParams(url=f"{http_server}/status/503"), ctx)
    assert str(info.value) == f"{http_server}/status/503: status 503, expected 200"
    assert info.value.evidence["status"] == 503


def test_timeout_fails_clearly(http_server: str, ctx: StepContext) -> None:
    with pytest.raises(CheckFailed, match=r"/slow: request failed: ReadTimeout"):
        http_status(HttpStatusParams(url=f"{http_server}/slow", timeout=0.2), ctx)


def test_connection_refused_names_the_url(ctx: StepContext) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CheckFailed, match=rf"http://127.0.0.1:{port}/: request failed: Connect"):
        http_status(HttpStatusParams(url=f"http://127.0.0.1:{port}/"), ctx)
