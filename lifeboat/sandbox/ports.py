"""Loopback ports and readiness polling, shared by every sandbox launcher.

Every sandbox service listens on 127.0.0.1 only: nothing a test or the demo starts may be
reachable from another machine, and no traffic may leave this one. Ports are picked by the
kernel (bind to port 0) rather than hard-coded, so parallel sessions and a developer's own
services never collide with ours.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from lifeboat.sandbox.errors import SandboxError

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago on ``host``.

    The socket is closed before the port is handed out, so another program could take it
    in between: launchers that get "address already in use" pick a new one and retry.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
) -> float:
    """Call ``predicate`` until it returns true; return the seconds it took.

    Services become ready at their own pace (moto imports a lot, sshd is instant), so we
    poll instead of sleeping a fixed time: fast machines don't wait, slow ones don't fail.
    Exceptions from ``predicate`` propagate, which lets a launcher stop waiting at once
    when its process has already died. On timeout raises ``SandboxError`` naming ``what``.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise SandboxError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)
