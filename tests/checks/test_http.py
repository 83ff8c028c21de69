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


# --- http.wait_healthy ---

import threading  # noqa: E402 - this section is appended
from collections.abc import Iterator  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import ClassVar  # noqa: E402

from checks.http import HttpWaitHealthyParams, http_wait_healthy  # noqa: E402


class _Warming(BaseHTTPRequestHandler):
    """``/<n>/<name>`` answers 503 "starting" to its first n requests, then 200 "ready".

    Each distinct path counts its own requests, so tests sharing the server do not mix."""

    counts: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            seen = self.counts[self.path] = self.counts.get(self.path, 0) + 1
        failures = int(self.path.split("/")[1])
        code, body = (503, b"starting") if seen <= failures else (200, b"ready")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def warming() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Warming)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_wait_healthy_passes_once_the_server_comes_up(warming: str, ctx: StepContext) -> None:
    output = http_wait_healthy(
        HttpWaitHealthyParams(url=f"{warming}/2/up", interval=0.05, timeout=5), ctx
    )
    assert output.evidence["attempts"] == 3
    assert output.evidence["status"] == 200
    assert output.summary.startswith(f"{warming}/2/up healthy (status 200) after 3 attempts in ")


def test_wait_healthy_needs_consecutive_healthy_answers(warming: str, ctx: StepContext) -> None:
    params = HttpWaitHealthyParams(url=f"{warming}/1/row", interval=0.05, timeout=5, consecutive=3)
    assert http_wait_healthy(params, ctx).evidence["attempts"] == 4


def test_wait_healthy_times_out_with_the_count(warming: str, ctx: StepContext) -> None:
    params = HttpWaitHealthyParams(url=f"{warming}/1000/never", interval=0.1, timeout=0.55)
    with pytest.raises(CheckFailed) as info:
        http_wait_healthy(params, ctx)
    attempts = info.value.evidence["attempts"]
    assert 2 <= attempts <= 6  # one every 0.1 s for 0.55 s, on a machine that may be slow
    assert info.value.code == "check.failed"
    assert str(info.value).startswith(
        f"{warming}/1000/never: not healthy after {attempts} attempts in "
    )
    assert str(info.value).endswith("; last: status 503")


def test_wait_healthy_keeps_waiting_for_the_body_text(warming: str, ctx: StepContext) -> None:
    # Every answer is 200 here (expect includes 503): only the body says "ready" or not.
    params = HttpWaitHealthyParams(
        url=f"{warming}/2/text", expect=[200, 503], contains="ready", interval=0.05, timeout=5
    )
    output = http_wait_healthy(params, ctx)
    assert output.evidence["attempts"] == 3


def test_wait_healthy_body_text_never_there_fails(warming: str, ctx: StepContext) -> None:
    params = HttpWaitHealthyParams(url=f"{warming}/0/body", contains="green", timeout=0.3)
    with pytest.raises(CheckFailed, match=r"last: status 200 without 'green' in the body$"):
        http_wait_healthy(params, ctx)


def test_wait_healthy_counts_a_refused_connection_as_unhealthy(ctx: StepContext) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    params = HttpWaitHealthyParams(url=f"http://127.0.0.1:{port}/", interval=0.05, timeout=0.3)
    with pytest.raises(CheckFailed) as info:
        http_wait_healthy(params, ctx)
    assert type(info.value) is CheckFailed
    assert info.value.evidence["attempts"] > 1
    assert info.value.evidence["status"] is None
    assert "last: ConnectError" in str(info.value)
