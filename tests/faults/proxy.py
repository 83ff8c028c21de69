"""A TCP fault proxy on loopback: put it between Lifeboat and a real service, then break
the network on purpose.

``FaultProxy(host, port)`` listens on ``127.0.0.1`` (a free port) and forwards every
connection to the upstream ``host:port``. Its mode can be switched at any time, from any
thread; each chunk is handled under the mode current when it is read:

- ``Pass()``: forward as is.
- ``Latency(seconds)``: wait that long before forwarding each chunk, in each direction.
- ``Reset()``: a new connection is closed at once with a TCP RST (``SO_LINGER`` 0);
  switching to it also resets every connection already open, on both sides.
- ``Blackhole()``: a new connection is accepted and read from, but nothing is forwarded
  and nothing is answered; open connections stop forwarding too (their data is dropped).
- ``Throttle(bytes_per_second)``: forward each direction at that rate at most, all
  connections together (one thin link, as a saturated uplink would be).

Standard library only: threads, sockets, ``select``. Every socket is non-blocking and every
wait also watches a per-connection wake-up socket, so closing the proxy or resetting a
connection never waits on a peer. ``close()`` (or leaving the ``with`` block) joins every
thread and closes every socket.

Observation for tests: ``connections`` (accepted), ``forwarded`` (opened upstream),
``resets`` (connections closed with RST), ``bytes_up``/``bytes_down`` (forwarded each way)
and ``client_lines``: the first line of each chunk a client sent, which for HTTP/1.1
(one request at a time per connection) is the request line: ``GET /bucket?list-type=2 ...``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

_CHUNK = 64 * 1024
_LINGER_RST = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class _Named:
    """A mode without a parameter, shown as its name: ``pass``, ``reset``, ``blackhole``."""

    def __str__(self) -> str:
        return type(self).__name__.lower()


class Pass(_Named):
    """Forward as is."""


class Reset(_Named):
    """Close new connections with an RST; switching to it resets the open ones."""


class Blackhole(_Named):
    """Read, never forward, never answer."""


@dataclass(frozen=True)
class Latency:
    seconds: float

    def __str__(self) -> str:
        return f"latency {self.seconds * 1000:g} ms per chunk"


@dataclass(frozen=True)
class Throttle:
    bytes_per_second: float

    def __str__(self) -> str:
        return f"throttle {self.bytes_per_second / 1000:g} kB/s"


Mode = Pass | Latency | Reset | Blackhole | Throttle


class _Aborted(Exception):
    """The connection is being reset or the proxy is closing."""


class _Connection:
    """One client connection and, unless blackholed from the start, its upstream socket.

    Two pump threads (client to upstream, upstream to client); the one that finishes last
    closes both sockets, with an RST when the connection was reset.
    """

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self.aborted = threading.Event()
        self.rst = False
        self._lock = threading.Lock()
        self._running = 0
        self.threads: list[threading.Thread] = []

    def start(self, *, blackholed: bool) -> None:
        self.client.setblocking(False)
        if not blackholed:
            try:
                self.upstream = socket.create_connection(self.proxy.upstream, timeout=5)
            except OSError:
                self.abort(rst=True)
                self._running = 1
                self._done()
                return
            self.upstream.setblocking(False)
            self.proxy._count("forwarded")
        pumps = [(self.client, self.upstream, "up")]
        if self.upstream is not None:
            pumps.append((self.upstream, self.client, "down"))
        self._running = len(pumps)
        for source, sink, direction in pumps:
            thread = threading.Thread(
                target=self._pump,
                args=(source, sink, direction),
                name=f"fault-proxy-{self.proxy.port}-{direction}",
                daemon=True,
            )
            self.threads.append(thread)
        for thread in self.threads:
            thread.start()

    def abort(self, *, rst: bool) -> None:
        """Stop both pumps now; with ``rst`` the sockets are closed with a TCP reset."""
        with self._lock:
            if self.aborted.is_set():
                return
            self.rst = rst
            self.aborted.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # --- the pumps ----------------------------------------------------------------------

    def _pump(self, source: socket.socket, sink: socket.socket | None, direction: str) -> None:
        try:
            while True:
                data = self._recv(source)
                if not data:  # EOF: pass the half-close on, the other way keeps going
                    if sink is not None:
                        with contextlib.suppress(OSError):
                            sink.shutdown(socket.SHUT_WR)
                    return
                if direction == "up":
                    self.proxy._saw(data)
                mode = self.proxy.mode
                if sink is None or isinstance(mode, Blackhole):
                    continue  # read, never forwarded, never answered
                if isinstance(mode, Latency):
                    self._wait(time.monotonic() + mode.seconds)
                if isinstance(mode, Throttle):
                    self._send_paced(sink, data, mode.bytes_per_second, direction)
                else:
                    self._send(sink, data)
                self.proxy._count("bytes_up" if direction == "up" else "bytes_down", len(data))
        except _Aborted:
            return
        except OSError:  # a peer reset or vanished: reset the other side too
            self.abort(rst=True)
        finally:
            self._done()

    def _recv(self, sock: socket.socket) -> bytes:
        while True:
            self._ready(sock, write=False)
            try:
                return sock.recv(_CHUNK)
            except (BlockingIOError, InterruptedError):
                continue

    def _send(self, sock: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._ready(sock, write=True)
            try:
                sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                continue
            view = view[sent:]

    def _send_paced(self, sock: socket.socket, data: bytes, rate: float, direction: str) -> None:
        piece = max(1, int(rate / 50))  # 20 ms worth of bytes at a time
        for start in range(0, len(data), piece):
            part = data[start : start + piece]
            self._wait(self.proxy._slot(direction, len(part), rate))
            self._send(sock, part)

    def _ready(self, sock: socket.socket, *, write: bool) -> None:
        """Wait until ``sock`` can be read (or written), or raise ``_Aborted``."""
        while True:
            if self.aborted.is_set():
                raise _Aborted
            reads = [self._wake_r] if write else [sock, self._wake_r]
            writes = [sock] if write else []
            readable, writable, _ = select.select(reads, writes, [], 1.0)
            if self._wake_r in readable or self.aborted.is_set():
                raise _Aborted
            if readable or writable:
                return

    def _wait(self, until: float) -> None:
        """Sleep until ``until`` (monotonic), cut short by an abort."""
        remaining = until - time.monotonic()
        if remaining > 0 and self.aborted.wait(remaining):
            raise _Aborted

    def _done(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running <= 0
        if last:
            self._close()

    def _close(self) -> None:
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            if self.rst:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            sock.close()
        self._wake_r.close()
        self._wake_w.close()
        self.proxy._forget(self)


class _Count:
    """A read-only counter of the proxy's, named after the attribute it is."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type[FaultProxy], name: str) -> None:
        self.name = name

    def __get__(self, proxy: FaultProxy, owner: type[FaultProxy] | None = None) -> int:
        return proxy._counts[self.name]


class FaultProxy:
    """A switchable TCP proxy on 127.0.0.1 in front of ``upstream_host:upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int, mode: Mode | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self._mode: Mode = mode or Pass()
        self._lock = threading.Lock()
        self._open: set[_Connection] = set()
        self._threads: list[threading.Thread] = []
        counters = ("connections", "forwarded", "resets", "bytes_up", "bytes_down")
        self._counts = dict.fromkeys(counters, 0)
        self._paced = {"up": 0.0, "down": 0.0}  # throttle: when each direction is free next
        self.client_lines: list[str] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._acceptor.start()

    # --- public ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        self.set_mode(mode)

    def set_mode(self, mode: Mode) -> None:
        """Switch now; ``Reset()`` also resets every connection open at this moment."""
        with self._lock:
            self._mode = mode
            victims = list(self._open) if isinstance(mode, Reset) else []
        for connection in victims:
            self._count("resets")
            connection.abort(rst=True)

    def passthrough(self) -> None:
        self.set_mode(Pass())

    def latency(self, seconds: float) -> None:
        self.set_mode(Latency(seconds))

    def reset(self) -> None:
        self.set_mode(Reset())

    def blackhole(self) -> None:
        self.set_mode(Blackhole())

    def throttle(self, bytes_per_second: float) -> None:
        self.set_mode(Throttle(bytes_per_second))

    connections = _Count("Connections accepted so far (whatever became of them).")
    forwarded = _Count("Connections opened to the upstream so far.")
    resets = _Count("Connections closed with an RST because of ``Reset`` (new or already open).")
    bytes_up = _Count("Bytes forwarded from clients to the upstream.")
    bytes_down = _Count("Bytes forwarded from the upstream to clients.")

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Poll ``predicate()`` every 10 ms until true or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            self._closing.wait(0.01)
        return True

    def close(self) -> None:
        """Stop accepting, close every connection (RST), join every thread."""
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._acceptor.join(10)
        with self._lock:
            victims = list(self._open)
        for connection in victims:
            connection.abort(rst=True)
        for thread in self._threads:
            thread.join(10)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        up = f"{self.upstream[0]}:{self.upstream[1]}"
        return f"FaultProxy({self.host}:{self.port} -> {up}, {self._mode})"

    # --- internals ---------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            readable, _, _ = select.select([self._listener, self._wake_r], [], [], 1.0)
            if self._wake_r in readable or self._closing.is_set():
                return
            if not readable:
                continue
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            self._count("connections")
            mode = self._mode
            if isinstance(mode, Reset):
                self._count("resets")
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                client.close()
                continue
            connection = _Connection(self, client)
            with self._lock:
                self._open.add(connection)
            connection.start(blackholed=isinstance(mode, Blackhole))
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.extend(connection.threads)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def _slot(self, direction: str, size: int, rate: float) -> float:
        """When ``size`` bytes may go ``direction``: one link shared by every connection."""
        with self._lock:
            start = max(time.monotonic(), self._paced[direction])
            self._paced[direction] = start + size / rate
        return start

    def _saw(self, data: bytes) -> None:
        line = data.split(b"\r\n", 1)[0][:300].decode("latin-1")
        with self._lock:
            self.client_lines.append(line)

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._open.discard(connection)
