"""``tcp.open`` against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from checks.tcp import TcpOpenParams, tcp_open
from lifeboat.errors import CheckFailed
from lifeboat.registry import StepContext


def test_listening_port_passes(http_server: str, ctx: StepContext) -> None:
    port = int(http_server.rsplit(":", 1)[1])
    output = tcp_open(TcpOpenParams(host="127.0.0.1", port=port), ctx)
    assert output.summary.startswith(f"127.0.0.1:{port} accepted a connection in ")


def test_closed_port_fails_with_reason(ctx: StepContext) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CheckFailed) as info:
        tcp_open(TcpOpenParams(host="127.0.0.1", port=port, timeout=2), ctx)
    assert str(info.value) == f"127.0.0.1:{port}: connection failed: Connection refused"
