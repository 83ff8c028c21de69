"""Reading a remote command's output: both streams, bounded, against a deadline.

``pump`` reads a channel's stdout and stderr until EOF and the exit status, or raises
``Expired`` once the deadline passes. Each ``Stream`` keeps at most ``OUTPUT_LIMIT`` bytes
(half from the start, half from the end) and hands complete lines to an ``OnLine``
callback as they arrive, up to a logging budget, so a long restart shows progress.
"""

from __future__ import annotations

import codecs
import select
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

#: Bytes kept of each output stream (half from the start, half from the end).
OUTPUT_LIMIT = 64 * 1024
CHUNK = 32 * 1024
OnLine = Callable[[str, str], None]  # (stream name, line)


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    duration_ms: float


class Expired(Exception):
    """The command's deadline passed (internal: ``SshPool.run`` turns it into ``SshTimeout``)."""


def pump(channel: paramiko.Channel, deadline: float, out: Stream, err: Stream) -> int:
    """Read both streams until EOF and the exit status, or raise ``Expired``."""
    while True:
        busy = False
        while channel.recv_stderr_ready():
            err.feed(channel.recv_stderr(CHUNK))
            busy = True
        if channel.recv_ready():
            out.feed(channel.recv(CHUNK))
            busy = True
        if (channel.eof_received or channel.closed) and not (
            channel.recv_ready() or channel.recv_stderr_ready()
        ):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Expired
        if not busy:  # the channel's pipe wakes us on data (either stream), EOF or close
            select.select([channel], [], [], min(remaining, 0.5))
    out.finish()
    err.finish()
    if not channel.status_event.wait(max(deadline - time.monotonic(), 0)):
        raise Expired
    return channel.recv_exit_status()  # -1 when the server sent none (e.g. killed)


class Stream:
    """Keeps the first and last ``OUTPUT_LIMIT / 2`` bytes; logs lines up to a budget."""

    def __init__(self, name: str, on_line: OnLine | None) -> None:
        self.name = name
        self.on_line = on_line
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.logged = 0
        self.muted = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        half = OUTPUT_LIMIT // 2
        room = max(half - len(self.head), 0)
        self.head += data[:room]
        self.tail += data[room:]
        del self.tail[: max(len(self.tail) - half, 0)]
        if self.on_line:
            *lines, self._partial = (self._partial + self._decoder.decode(data)).split("\n")
            if len(self._partial) > OUTPUT_LIMIT:  # one endless line: log it in pieces
                lines.append(self._partial)
                self._partial = ""
            self._emit(lines)

    def finish(self) -> None:
        rest = self._partial + self._decoder.decode(b"", final=True)
        if self.on_line and rest:
            self._emit([rest])

    def _emit(self, lines: list[str]) -> None:
        assert self.on_line is not None
        for line in lines:
            if self.logged >= OUTPUT_LIMIT:
                if not self.muted:
                    self.on_line(self.name, f"[log limit reached: further {self.name} not logged]")
                    self.muted = True
                return
            self.on_line(self.name, line.rstrip("\r"))
            self.logged += len(line) + 1

    def text(self) -> str:
        dropped = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if dropped <= 0:
            return head + tail
        return f"{head}\n[... {dropped} bytes of {self.name} truncated ...]\n{tail}"
