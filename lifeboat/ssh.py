"""The SSH transport: run one command as an argv list on a runbook host, safely.

Failover steps restart services and promote databases over SSH, so two promises matter
more than convenience. First, we only talk to hosts we already trust: host keys come from
a known_hosts file and an unknown or changed key is refused (``RejectPolicy``, never
auto-add), because a rebuilt or impersonated host must not receive production commands.
Second, runbook parameters reach the remote as argv items: the command line is
``shlex.join(argv)``, so ``a b; rm -rf /`` arrives as one harmless argument.

One connection per host per run (``SshPool``), reused by every step and closed at the end;
``pool_for(ctx)`` gives a run's pool without the engine having to know about SSH.
Paramiko and socket errors become ``SshError`` here, naming what, where and why.
"""

from __future__ import annotations

import codecs
import contextlib
import getpass
import hashlib
import select
import shlex
import threading
import time
import weakref
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import paramiko

from lifeboat.errors import AccessError, StepError, StepTimeout
from lifeboat.runbook.model import Host
from lifeboat.settings import Settings

#: Bytes kept of each output stream (half from the start, half from the end).
OUTPUT_LIMIT = 64 * 1024
KEEPALIVE_S = 15
_CHUNK = 32 * 1024
_MAX_JUMPS = 8
OnLine = Callable[[str, str], None]  # (stream name, line)


class SshError(AccessError):
    """An SSH connection or command failed; ``target`` is ``user@host:port``.

    An access problem (``access.ssh``): the host could not be reached, refused us, or
    showed an unknown key; a command that ran and exited non-zero is not an SshError.
    """

    code = "access.ssh"

    def __init__(self, message: str, *, target: str = "", evidence: object = None) -> None:
        self.reason = message
        super().__init__(message, target=target, evidence=evidence)


class SshTimeout(SshError, StepTimeout):
    """A remote command outlived its timeout (its channel was closed)."""

    code = StepTimeout.code


@dataclass(frozen=True)
class SshTarget:
    """Where to connect; ``None`` fields fall back to the SSH config, then to defaults."""

    address: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    proxy_jump: str | None = None

    @classmethod
    def from_host(cls, host: Host) -> SshTarget:
        # A port left at its default of 22 counts as unset, so ~/.ssh/config may set it.
        port = host.port if "port" in host.model_fields_set else None
        return cls(host.address, port, host.user, host.identity_file)


@dataclass(frozen=True)
class Endpoint:
    """A target resolved against the SSH config: what we actually connect to."""

    hostname: str
    port: int
    user: str
    identity_file: str | None
    jump: Endpoint | None

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    duration_ms: float


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:...`` as OpenSSH prints it, so operators can compare with ``ssh-keygen -l``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + b64encode(digest).decode("ascii").rstrip("=")


class _UnknownHost(paramiko.SSHException):
    def __init__(self, name: str, key: paramiko.PKey) -> None:
        super().__init__(f"Server {name!r} not found in known_hosts")
        self.key = key


class _Reject(paramiko.RejectPolicy):
    """Reject like ``RejectPolicy``, keeping the offered key so the error can show it."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise _UnknownHost(hostname, key)


class SshPool:
    """Thread-safe pool: one authenticated connection per (host, port, user) for a run."""

    def __init__(self, settings: Settings | None = None, *, connect_timeout: float = 10.0) -> None:
        settings = settings or Settings()
        self.known_hosts = settings.known_hosts or Path.home() / ".ssh" / "known_hosts"
        default_config = Path.home() / ".ssh" / "config"
        self.ssh_config = settings.ssh_config or (
            default_config if default_config.is_file() else None
        )
        self.connect_timeout = connect_timeout
        self._config: paramiko.SSHConfig | None = None
        self._clients: dict[tuple[str, int, str], paramiko.SSHClient] = {}
        self._locks: dict[tuple[str, int, str], threading.Lock] = {}
        self._lock = threading.Lock()

    # --- resolving and connecting -------------------------------------------------------

    def resolve(self, target: SshTarget, _depth: int = 0) -> Endpoint:
        """Apply ``~/.ssh/config`` (HostName, Port, User, IdentityFile, ProxyJump)."""
        cfg = self._lookup(target.address)
        if "proxycommand" in cfg and "proxyjump" not in cfg:
            raise SshError("ProxyCommand is not supported; use ProxyJump", target=target.address)
        files: object = cfg.get("identityfile")
        identity = target.identity_file or (files[0] if isinstance(files, list) else None)
        spec = target.proxy_jump or cfg.get("proxyjump")
        jump = None
        if spec and spec.lower() != "none":
            if _depth >= _MAX_JUMPS:
                raise SshError(f"ProxyJump chain longer than {_MAX_JUMPS}", target=target.address)
            *rest, last = [hop.strip() for hop in spec.split(",")]
            try:
                hop = _parse_hop(last, ",".join(rest) or None)
            except ValueError as exc:
                raise SshError(f"bad ProxyJump {spec!r}: {exc}", target=target.address) from exc
            jump = self.resolve(hop, _depth + 1)
        return Endpoint(
            hostname=cfg.get("hostname", target.address),
            port=target.port or int(cfg.get("port", 22)),
            user=target.user or cfg.get("user") or getpass.getuser(),
            identity_file=str(Path(identity).expanduser()) if identity else None,
            jump=jump,
        )

    def _lookup(self, address: str) -> dict[str, str]:
        if self.ssh_config is None:
            return {}
        with self._lock:
            if self._config is None:
                try:
                    self._config = paramiko.SSHConfig.from_path(str(self.ssh_config))
                except (OSError, paramiko.SSHException) as exc:
                    raise SshError(f"cannot read SSH config {self.ssh_config}: {exc}") from exc
        return dict(self._config.lookup(address))

    def client(self, target: SshTarget, *, timeout: float | None = None) -> paramiko.SSHClient:
        """The run's connection to ``target``, opened (and host-key checked) on first use."""
        return self._client(self.resolve(target), timeout or self.connect_timeout)

    def _client(self, ep: Endpoint, timeout: float) -> paramiko.SSHClient:
        key = (ep.hostname, ep.port, ep.user)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one connect per host at a time; other hosts proceed in parallel
            client = self._clients.get(key)
            transport = client.get_transport() if client else None
            if client and transport and transport.is_active():
                return client
            if client:  # the connection died (host rebooted, network cut): start afresh
                client.close()
            sock = None
            if ep.jump is not None:
                via = self._client(ep.jump, timeout).get_transport()
                assert via is not None
                try:
                    sock = via.open_channel(
                        "direct-tcpip", (ep.hostname, ep.port), ("127.0.0.1", 0), timeout=timeout
                    )
                except (paramiko.SSHException, OSError) as exc:
                    raise SshError(
                        f"cannot open a tunnel via {ep.jump}: {exc}", target=str(ep)
                    ) from exc
            client = self._connect(ep, timeout, sock)
            self._clients[key] = client
            return client

    def _connect(
        self, ep: Endpoint, timeout: float, sock: paramiko.Channel | None
    ) -> paramiko.SSHClient:
        if ep.identity_file and not Path(ep.identity_file).is_file():
            raise SshError(f"identity file {ep.identity_file} not found", target=str(ep))
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_Reject())
        if self.known_hosts.is_file():
            client.load_system_host_keys(str(self.known_hosts))  # read-only: never saved
        try:
            client.connect(
                ep.hostname,
                ep.port,
                username=ep.user,
                key_filename=ep.identity_file,
                allow_agent=True,
                look_for_keys=ep.identity_file is None,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                sock=sock,
            )
        except Exception as exc:  # the boundary: every vendor error becomes ours
            client.close()
            raise SshError(self._why(ep, exc), target=str(ep)) from exc
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(KEEPALIVE_S)
        return client

    def _why(self, ep: Endpoint, exc: Exception) -> str:
        """Why we refused or failed; host-key refusals also say how to fix them safely."""
        name = f"{ep.hostname}:{ep.port}"
        if isinstance(exc, paramiko.BadHostKeyException):
            return (
                f"HOST KEY CHANGED for {name}: {self.known_hosts} expects "
                f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}, the server "
                f"presented {exc.key.get_name()} {fingerprint(exc.key)}; refusing to connect "
                "(the host was rebuilt or is being impersonated). If the change is expected, "
                "verify the new fingerprint out of band, then replace the entry: "
                f"ssh-keygen -R '{_known_name(ep)}' -f {self.known_hosts}"
            )
        if isinstance(exc, _UnknownHost):
            where = "" if self.known_hosts.is_file() else " (the file does not exist)"
            return (
                f"host {name} is not in known_hosts {self.known_hosts}{where}; refusing to "
                f"connect to an unknown host. It offered {exc.key.get_name()} "
                f"{fingerprint(exc.key)}: verify that fingerprint out of band, then add it: "
                f"ssh-keyscan -p {ep.port} {ep.hostname} >> {self.known_hosts}"
            )
        return _plain_why(ep, exc)

    # --- running commands --------------------------------------------------------------

    def run(
        self,
        target: SshTarget,
        argv: list[str],
        timeout: float,
        sudo: bool = False,
        on_line: OnLine | None = None,
    ) -> CommandResult:
        """Run ``argv`` (never a shell string); ``timeout`` covers connecting too.

        ``on_line(stream, line)`` sees output as it arrives, so a long restart shows
        progress in the step log; the result keeps at most ``OUTPUT_LIMIT`` per stream.
        """
        if not argv:
            raise ValueError("argv must not be empty")
        for index, item in enumerate(argv):
            if "\0" in item:  # sshd drops the whole connection on an exec request with one
                raise StepError(
                    f"argv item {index} ({item!r}) contains a NUL character, which no remote "
                    "command can receive; nothing was run",
                    target=target.address,
                )
        command = shlex.join(["sudo", "-n", "--", *argv] if sudo else argv)
        started = time.monotonic()
        deadline = started + timeout
        ep = self.resolve(target)
        out, err = _Stream("stdout", on_line), _Stream("stderr", on_line)
        try:
            channel = self._session(ep, min(timeout, self.connect_timeout))
        except SshError as exc:  # say which command could not run, and keep the why
            raise SshError(f"cannot run `{command}`: {exc.reason}", target=exc.target) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshError(f"cannot run `{command}`: {exc}", target=str(ep)) from exc
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            status = _pump(channel, deadline, out, err)
        except _Expired as exc:
            raise SshTimeout(
                f"`{command}` did not finish within {timeout:g} s; its channel was closed "
                "and the remote process may still be running",
                target=str(ep),
                evidence={"stdout_tail": out.text()[-2048:], "stderr_tail": err.text()[-2048:]},
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshError(f"error while running `{command}`: {exc}", target=str(ep)) from exc
        finally:
            channel.close()
        transport = channel.get_transport()
        if status == -1 and not (transport and transport.is_active()):
            raise SshError(f"lost the connection running `{command}`", target=str(ep))
        elapsed = round((time.monotonic() - started) * 1000, 1)
        return CommandResult(status, out.text(), err.text(), elapsed)

    def _session(self, ep: Endpoint, timeout: float) -> paramiko.Channel:
        """A new channel; a pooled connection that died since (host rebooted) is replaced once."""
        for attempt in (1, 2):
            transport = self._client(ep, timeout).get_transport()
            assert transport is not None
            try:
                return transport.open_session(timeout=timeout)
            except (paramiko.SSHException, OSError, EOFError):
                if attempt == 2:
                    raise
                self._drop(ep)
        raise AssertionError("unreachable")

    def _drop(self, ep: Endpoint) -> None:
        with self._lock:
            client = self._clients.pop((ep.hostname, ep.port, ep.user), None)
        if client is not None:
            client.close()

    def close(self) -> None:
        """Close every connection (jump hosts last, as they were opened first)."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in reversed(clients):
            client.close()


def _plain_why(ep: Endpoint, exc: Exception) -> str:
    """Why a connection failed, for everything but host keys."""
    if "No authentication methods available" in str(exc):
        return (
            "no key to log in with: set the host's identity_file, an IdentityFile "
            "in the SSH config, or load a key into the SSH agent"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        key = ep.identity_file or "agent and default keys"
        return f"authentication failed as {ep.user} ({key}): {exc}"
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    if said := _no_handshake(exc):
        return said
    if isinstance(exc, OSError):
        return f"connection failed: {exc.strerror or exc}"
    return f"SSH handshake failed: {type(exc).__name__}: {exc}"


def _no_handshake(exc: Exception) -> str | None:
    """Why the host took the TCP connection yet never completed the SSH handshake.

    paramiko words these badly. A connection closed or reset while it writes is a bare
    ``EOFError``; one closed or reset before the server's banner is "Error reading SSH
    protocol banner" and whatever the socket said. No banner before the timeout is that
    message again, from a socket timeout that prints as nothing; and when ``connect()``'s
    own negotiation timeout comes first, it stops waiting without saying so and fails
    asking for the host key: "No existing session". Those two mean a blackholed port or a
    hung sshd.
    """
    banner = isinstance(exc, paramiko.SSHException) and "protocol banner" in str(exc)
    if isinstance(exc, EOFError) or (
        banner and isinstance(exc.__context__, EOFError | ConnectionError)
    ):
        return "the connection was closed or reset during the SSH handshake"
    if (banner and isinstance(exc.__context__, TimeoutError)) or (
        isinstance(exc, paramiko.SSHException) and str(exc) == "No existing session"
    ):
        return (
            "SSH handshake timed out: the host accepted the connection but did not complete "
            "the handshake (no SSH server answering, or the network drops its replies)"
        )
    return None


class _Expired(Exception):
    """The command's deadline passed (internal: ``run`` turns it into ``SshTimeout``)."""


def _pump(channel: paramiko.Channel, deadline: float, out: _Stream, err: _Stream) -> int:
    """Read both streams until EOF and the exit status, or raise ``_Expired``."""
    while True:
        busy = False
        while channel.recv_stderr_ready():
            err.feed(channel.recv_stderr(_CHUNK))
            busy = True
        if channel.recv_ready():
            out.feed(channel.recv(_CHUNK))
            busy = True
        if (channel.eof_received or channel.closed) and not (
            channel.recv_ready() or channel.recv_stderr_ready()
        ):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Expired
        if not busy:  # the channel's pipe wakes us on data (either stream), EOF or close
            select.select([channel], [], [], min(remaining, 0.5))
    out.finish()
    err.finish()
    if not channel.status_event.wait(max(deadline - time.monotonic(), 0)):
        raise _Expired
    return channel.recv_exit_status()  # -1 when the server sent none (e.g. killed)


class _Stream:
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


def _parse_hop(hop: str, rest: str | None) -> SshTarget:
    """``[user@]host[:port]`` (or ``ssh://...``, ``[v6]:port``) of a ProxyJump list."""
    hop = hop.removeprefix("ssh://")
    user, _, hostport = hop.rpartition("@")
    host, port = hostport, None
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port = int(after[1:]) if after.startswith(":") else None
    elif hostport.count(":") == 1:
        host, number = hostport.split(":")
        port = int(number)
    return SshTarget(host, port, user or None, proxy_jump=rest)


def _known_name(ep: Endpoint) -> str:
    """How known_hosts names a host: OpenSSH brackets any port but 22."""
    return ep.hostname if ep.port == 22 else f"[{ep.hostname}]:{ep.port}"


_pools: dict[int, SshPool] = {}
# Reentrant: a weakref finalizer (``_release``) can run during a garbage collection that
# an allocation triggers while this thread already holds the lock; a plain Lock deadlocked.
_pools_lock = threading.RLock()


def pool_for(ctx: object) -> SshPool:
    """The SSH pool of a run context, created on first use and closed when ctx goes away.

    ``StepContext`` is a protocol the engine owns; keeping pools here (keyed by the
    context's identity, released by a weakref finalizer) adds SSH without changing it.
    """
    with _pools_lock:
        pool = _pools.get(id(ctx))
        created = pool is None
        if pool is None:
            pool = _pools[id(ctx)] = SshPool(getattr(ctx, "settings", None) or Settings())
    if created:
        with contextlib.suppress(TypeError):  # not weak-referenceable: close_pool only
            weakref.finalize(ctx, _release, id(ctx), pool)
    return pool


def close_pool(ctx: object) -> None:
    """Close a run's SSH connections now (the engine calls this when a run ends)."""
    with _pools_lock:
        pool = _pools.pop(id(ctx), None)
    if pool is not None:
        pool.close()


def _release(key: int, pool: SshPool) -> None:
    """Finalizer of a context: close its pool, and forget it unless the id was reused."""
    with _pools_lock:
        if _pools.get(key) is pool:
            del _pools[key]
    pool.close()
