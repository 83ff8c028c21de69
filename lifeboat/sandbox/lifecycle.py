"""The start/stop/with shape every sandbox service shares, written once."""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Self

from lifeboat.sandbox.errors import SandboxError, ServiceStartError
from lifeboat.sandbox.ports import LOOPBACK


class StartStop:
    """``with service:`` starts it and always stops it, also when the block raised."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ThreadedHttp(StartStop):
    """A stdlib ``ThreadingHTTPServer`` on loopback, served by a thread of this process.

    Subclasses name their ``service`` and build their server in ``_server_for(address)``;
    ``start`` binds (port 0: the kernel chooses, no race) and serves, ``stop`` shuts down,
    closes the socket and joins the thread, and is harmless when stopped.
    """

    service = "http"

    def __init__(self, *, port: int | None = None) -> None:
        self.host = LOOPBACK
        self.startup_seconds: float | None = None
        self._requested_port = port or 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _server_for(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        raise NotImplementedError

    @property
    def port(self) -> int:
        if self._server is None:
            raise SandboxError(f"{self.service} has no port yet: call start() first")
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        if self._server is not None:
            raise SandboxError(f"{self.service} is already running on port {self.port}")
        started = time.monotonic()
        try:
            self._server = self._server_for((self.host, self._requested_port))
        except OSError as exc:
            where = f"{self.host}:{self._requested_port}"
            raise ServiceStartError(self.service, f"cannot bind {where}", None, str(exc)) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
            name=f"lifeboat-{self.service}",
            daemon=True,
        )
        self._thread.start()
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(5.0)
