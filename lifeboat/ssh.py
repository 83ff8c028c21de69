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

This module is the transport's public face: import SSH names from here. The pieces live in
``lifeboat.ssh_hosts`` (targets, SSH config resolution, the host-key policy),
``lifeboat.ssh_output`` (reading a command's output within a deadline) and
``lifeboat.ssh_errors`` (the error types and why a connection failed).
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
import weakref
from pathlib import Path

import paramiko

from lifeboat.errors import StepError
from lifeboat.settings import Settings
from lifeboat.ssh_errors import SshError, SshTimeout, plain_why
from lifeboat.ssh_hosts import (
    Endpoint,
    RejectUnknown,
    SshTarget,
    fingerprint,
    host_key_why,
    resolve_target,
)
from lifeboat.ssh_output import OUTPUT_LIMIT, CommandResult, Expired, OnLine, Stream, pump

__all__ = [
    "KEEPALIVE_S",
    "OUTPUT_LIMIT",
    "CommandResult",
    "Endpoint",
    "OnLine",
    "SshError",
    "SshPool",
    "SshTarget",
    "SshTimeout",
    "close_pool",
    "fingerprint",
    "pool_for",
]

KEEPALIVE_S = 15


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
        return resolve_target(target, self._lookup, _depth)

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
        client.set_missing_host_key_policy(RejectUnknown())
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
        said = host_key_why(ep, exc, self.known_hosts)
        return said if said is not None else plain_why(ep, exc)

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
        out, err = Stream("stdout", on_line), Stream("stderr", on_line)
        try:
            channel = self._session(ep, min(timeout, self.connect_timeout))
        except SshError as exc:  # say which command could not run, and keep the why
            raise SshError(f"cannot run `{command}`: {exc.reason}", target=exc.target) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SshError(f"cannot run `{command}`: {exc}", target=str(ep)) from exc
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            status = pump(channel, deadline, out, err)
        except Expired as exc:
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
