"""An SMTP server on loopback that files every message it accepts as an ``.eml`` file.

Stakeholder mail goes out through Apprise and ``smtplib`` exactly as in production; only
the relay is local. Filing messages as files (not keeping them in memory) lets a test, the
demo, or a person with a text editor read what stakeholders would have received.

The server is aiosmtpd's threaded ``Controller``: it lives *inside* the process that
started it (no pid of its own) and stops when that process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import itertools
import socket
import threading
import time
import weakref
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlencode

from lifeboat.sandbox.errors import SandboxError, ServiceStartError
from lifeboat.sandbox.lifecycle import StartStop
from lifeboat.sandbox.ports import LOOPBACK, free_port, wait_until

DEFAULT_SENDER = "lifeboat@example.com"


class _MaildirHandler:
    """aiosmtpd handler: write each message atomically to ``<maildir>/<ns>-<n>.eml``.

    The envelope (MAIL FROM, RCPT TO) is kept as two ``X-Sandbox-Envelope-*`` headers on
    top: Bcc recipients appear nowhere else, and tests need to see who really got mail.
    """

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            seq = next(self._seq)
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode("utf-8")
        head = (
            f"X-Sandbox-Envelope-From: {envelope.mail_from}\n"
            f"X-Sandbox-Envelope-To: {', '.join(envelope.rcpt_tos)}\n"
        ).encode()
        # SMTP lines end in CRLF; files on this system end lines in LF, as mbox/Maildir do.
        data = data.replace(b"\r\n", b"\n")
        name = f"{time.time_ns()}-{seq:06d}.eml"
        tmp = self.maildir / f".{name}.tmp"
        tmp.write_bytes(head + data)
        tmp.replace(self.maildir / name)
        return "250 Message accepted for delivery"


def _bindable(host: str, port: int) -> bool:
    """Whether a listening socket could bind ``host:port`` now (as asyncio would bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _tracking_factory(factory: Callable[[], Any], sessions: weakref.WeakSet[Any]) -> Any:
    """Wrap ``Controller.factory`` to remember each SMTP session (one per connection)."""

    def tracked() -> Any:
        session = factory()
        sessions.add(session)
        return session

    return tracked


async def _close(sessions: weakref.WeakSet[Any]) -> None:
    """Close every open connection's transport, then let the loop run their callbacks."""
    for session in list(sessions):
        if session.transport is not None:
            session.transport.close()
    for _ in range(3):
        await asyncio.sleep(0)


def _discard(controller: Any) -> None:
    """Release a controller whose start failed, closing its loop (no ResourceWarning)."""
    with contextlib.suppress(Exception):  # best effort: the start error is what matters
        controller.stop(no_assert=True)
    if not controller.loop.is_running() and not controller.loop.is_closed():
        controller.loop.close()


class SmtpServer(StartStop):
    """SMTP on ``127.0.0.1:port`` (no TLS, no AUTH), filing mail in ``maildir``."""

    service = "smtp"

    def __init__(self, maildir: Path, *, port: int | None = None, timeout: float = 10.0) -> None:
        self.maildir = maildir
        self.host = LOOPBACK
        self.timeout = timeout
        self.startup_seconds: float | None = None
        self._fixed_port = port
        self._port = port
        self._controller: Any = None
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def port(self) -> int:
        if self._port is None:
            raise SandboxError("smtp has no port yet: call start() first")
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:PORT``, for humans and for ``smtplib``."""
        return f"smtp://{self.host}:{self.port}"

    def apprise_url(self, to: str | None = None, sender: str = DEFAULT_SENDER) -> str:
        """The Apprise ``mailto://`` URL for this server: plain SMTP, no login.

        Without ``to`` Apprise mails the sender, which suits a default channel URL.
        """
        query = {"from": sender, **({"to": to} if to else {})}
        return f"mailto://{self.host}:{self.port}?{urlencode(query, safe='@,')}"

    def start(self) -> Self:
        """Bind, start the server thread, and wait until it answers a connection."""
        if self.running:
            raise SandboxError(f"smtp is already running on port {self.port}")
        from aiosmtpd.controller import Controller  # imported here: the CLI starts fast

        self.maildir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(1, attempts + 1):
            if self._fixed_port is None:
                self._port = free_port(self.host)
            if not _bindable(self.host, self.port):
                # aiosmtpd would only notice after its whole ready_timeout: check first.
                if attempt < attempts:
                    continue
                reason = f"port {self.port} is already in use"
                raise ServiceStartError("smtp", reason, None, f"bind {self.host}:{self.port}")
            controller = Controller(
                _MaildirHandler(self.maildir),
                hostname=self.host,
                port=self.port,
                ready_timeout=self.timeout,
                server_hostname="lifeboat-sandbox",
                enable_SMTPUTF8=True,
            )
            # An instance attribute wins over the method: aiosmtpd calls self.factory().
            controller.factory = _tracking_factory(controller.factory, self._sessions)  # type: ignore[method-assign]
            try:
                controller.start()
            except (OSError, TimeoutError, RuntimeError) as exc:
                _discard(controller)
                if attempt < attempts and "in use" in str(exc).lower():
                    continue
                raise ServiceStartError("smtp", str(exc), None, repr(exc)) from exc
            self._controller = controller
            break
        self.startup_seconds = time.monotonic() - started
        return self

    def healthy(self) -> bool:
        """Whether the server greets a new connection with ``220`` now."""
        if not self.running:
            return False
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                return sock.recv(64).startswith(b"220")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server thread and release the port; harmless when stopped."""
        if self._controller is not None:
            controller, self._controller = self._controller, None
            # aiosmtpd stops its loop without closing connections still open (a health
            # probe a moment ago, a client mid-message): close them so no socket leaks.
            closing = asyncio.run_coroutine_threadsafe(_close(self._sessions), controller.loop)
            with contextlib.suppress(Exception):
                closing.result(timeout=5.0)
            controller.stop()

    def files(self) -> list[Path]:
        """Every filed message, oldest first."""
        return sorted(self.maildir.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """Every filed message parsed with the modern ``email`` policy, oldest first."""
        return read_maildir(self.maildir)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages are filed; senders may be asynchronous."""
        wait_until(lambda: len(self.files()) >= count, timeout, f"{count} message(s) in smtp")
        return self.messages()

    def clear(self) -> None:
        """Delete every filed message (between tests that count messages)."""
        for path in self.files():
            path.unlink(missing_ok=True)


def read_maildir(maildir: Path) -> list[EmailMessage]:
    """Every message filed in ``maildir`` (by this server, in any process), oldest first,
    parsed with the modern ``email`` policy."""
    parser = BytesParser(_class=EmailMessage, policy=email.policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(maildir.glob("*.eml"))]
