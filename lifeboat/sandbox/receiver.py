"""An HTTP receiver on loopback that files every POSTed body as a JSON file.

Webhook and chat notifications (Slack, Teams, Apprise ``json://`` and friends) are HTTP
POSTs. Pointing them here records exactly what was sent, so tests and the demo can show
the message a channel would have received. A path starting ``/status/NNN/`` answers NNN
instead of 200 (the request is still filed), so retries and error reporting can be tested
against a real socket.

The server is a stdlib ``ThreadingHTTPServer`` in a thread of the process that started it
(no pid of its own); it stops when that process ends.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from lifeboat.sandbox.errors import SandboxError, ServiceStartError
from lifeboat.sandbox.lifecycle import ThreadedHttp
from lifeboat.sandbox.ports import wait_until

_MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Delivery:
    """One filed request: where it went, what it said, and its JSON body if it had one."""

    method: str
    path: str
    content_type: str
    headers: dict[str, str]
    body: str
    json: Any
    received_at: float
    file: Path

    @classmethod
    def load(cls, file: Path) -> Delivery:
        data = json.loads(file.read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in _FIELDS}, file=file)


_FIELDS = ("method", "path", "content_type", "headers", "body", "json", "received_at")


class _Server(ThreadingHTTPServer):
    """Carries the inbox and a counter to the handlers; handler threads never block exit."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], inbox: Path) -> None:
        self.inbox = inbox
        self.seq = itertools.count(1)
        self.seq_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        code = 200 if self.path.split("?", 1)[0] == "/health" else 404
        self._answer(code, {"ok": code == 200})

    def do_POST(self) -> None:
        self._file_request()

    def do_PUT(self) -> None:
        self._file_request()

    def _file_request(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        elif 0 <= length <= _MAX_BODY:
            raw = self.rfile.read(length)
        else:
            self._answer(413, {"ok": False, "error": "body too large"})
            return
        body = raw.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        record = {
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type", ""),
            "headers": dict(self.headers.items()),
            "body": body,
            "json": parsed,
            "received_at": time.time(),
        }
        with self.server.seq_lock:
            seq = next(self.server.seq)
        name = f"{time.time_ns()}-{seq:06d}.json"
        tmp = self.server.inbox / f".{name}.tmp"
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.server.inbox / name)
        self._answer(_status_for(self.path), {"ok": True, "file": name})

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _answer(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: every request is already filed, and stderr belongs to the test runner."""


def _status_for(path: str) -> int:
    """``/status/503/...`` answers 503; anything else answers 200."""
    parts = path.split("?", 1)[0].split("/")
    if len(parts) > 2 and parts[1] == "status" and parts[2].isdigit():
        code = int(parts[2])
        if 200 <= code <= 599:
            return code
    return 200


class Receiver(ThreadedHttp):
    """HTTP on ``127.0.0.1:port``: POST/PUT anything is filed in ``inbox``; GET /health."""

    service = "receiver"

    def __init__(self, inbox: Path, *, port: int | None = None) -> None:
        super().__init__(port=port)
        self.inbox = inbox

    def _server_for(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self.inbox)

    def start(self) -> Self:
        """Bind, serve in a thread, and check health before returning."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        super().start()
        try:
            wait_until(self.healthy, 5.0, f"receiver GET {self.url}/health")
        except SandboxError as exc:
            self.stop()
            raise ServiceStartError("receiver", str(exc), None, "") from exc
        return self

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 now."""
        if self._server is None:
            return False
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            # Always http://127.0.0.1:PORT built here, never user input.
            with opener.open(f"{self.url}/health", timeout=1.0) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def files(self) -> list[Path]:
        """Every filed request, oldest first."""
        return sorted(self.inbox.glob("*.json"))

    def deliveries(self) -> list[Delivery]:
        return read_inbox(self.inbox)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until at least ``count`` requests are filed; senders may be asynchronous."""
        wait_until(lambda: len(self.files()) >= count, timeout, f"{count} request(s) filed")
        return self.deliveries()

    def clear(self) -> None:
        for path in self.files():
            path.unlink(missing_ok=True)


def read_inbox(inbox: Path) -> list[Delivery]:
    """Every request filed in ``inbox`` (by a receiver in any process), oldest first."""
    return [Delivery.load(path) for path in sorted(inbox.glob("*.json"))]
