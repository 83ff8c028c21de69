"""Where an SSH connection goes, and which hosts we trust.

``SshTarget`` is what a runbook host asks for; ``resolve_target`` applies the SSH config
(HostName, Port, User, IdentityFile, ProxyJump) to it, giving the ``Endpoint`` we actually
connect to, jump hosts included.

Host keys come from a known_hosts file only: ``RejectUnknown`` refuses an unknown key
(never auto-add), keeping the offered key so that ``host_key_why`` can show its
fingerprint and say how to trust it safely, or how to replace a changed one.
"""

from __future__ import annotations

import getpass
import hashlib
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import paramiko

from lifeboat.runbook.model import Host
from lifeboat.ssh_errors import SshError

MAX_JUMPS = 8


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


# --- resolving targets ------------------------------------------------------------------


def resolve_target(
    target: SshTarget, lookup: Callable[[str], dict[str, str]], depth: int = 0
) -> Endpoint:
    """Apply the SSH config, as ``lookup(address)`` gives it, to ``target`` and its jumps."""
    cfg = lookup(target.address)
    if "proxycommand" in cfg and "proxyjump" not in cfg:
        raise SshError("ProxyCommand is not supported; use ProxyJump", target=target.address)
    files: object = cfg.get("identityfile")
    identity = target.identity_file or (files[0] if isinstance(files, list) else None)
    spec = target.proxy_jump or cfg.get("proxyjump")
    jump = None
    if spec and spec.lower() != "none":
        if depth >= MAX_JUMPS:
            raise SshError(f"ProxyJump chain longer than {MAX_JUMPS}", target=target.address)
        *rest, last = [hop.strip() for hop in spec.split(",")]
        try:
            hop = parse_hop(last, ",".join(rest) or None)
        except ValueError as exc:
            raise SshError(f"bad ProxyJump {spec!r}: {exc}", target=target.address) from exc
        jump = resolve_target(hop, lookup, depth + 1)
    return Endpoint(
        hostname=cfg.get("hostname", target.address),
        port=target.port or int(cfg.get("port", 22)),
        user=target.user or cfg.get("user") or getpass.getuser(),
        identity_file=str(Path(identity).expanduser()) if identity else None,
        jump=jump,
    )


def parse_hop(hop: str, rest: str | None) -> SshTarget:
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


# --- host keys --------------------------------------------------------------------------


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:...`` as OpenSSH prints it, so operators can compare with ``ssh-keygen -l``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + b64encode(digest).decode("ascii").rstrip("=")


class UnknownHost(paramiko.SSHException):
    """A host whose key is not in known_hosts; ``key`` is the key it offered."""

    def __init__(self, name: str, key: paramiko.PKey) -> None:
        super().__init__(f"Server {name!r} not found in known_hosts")
        self.key = key


class RejectUnknown(paramiko.RejectPolicy):
    """Reject like ``RejectPolicy``, keeping the offered key so the error can show it."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise UnknownHost(hostname, key)


def host_key_why(ep: Endpoint, exc: Exception, known_hosts: Path) -> str | None:
    """Why a host key was refused and how to fix it safely; None for other failures."""
    name = f"{ep.hostname}:{ep.port}"
    if isinstance(exc, paramiko.BadHostKeyException):
        return (
            f"HOST KEY CHANGED for {name}: {known_hosts} expects "
            f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}, the server "
            f"presented {exc.key.get_name()} {fingerprint(exc.key)}; refusing to connect "
            "(the host was rebuilt or is being impersonated). If the change is expected, "
            "verify the new fingerprint out of band, then replace the entry: "
            f"ssh-keygen -R '{known_name(ep)}' -f {known_hosts}"
        )
    if isinstance(exc, UnknownHost):
        where = "" if known_hosts.is_file() else " (the file does not exist)"
        return (
            f"host {name} is not in known_hosts {known_hosts}{where}; refusing to "
            f"connect to an unknown host. It offered {exc.key.get_name()} "
            f"{fingerprint(exc.key)}: verify that fingerprint out of band, then add it: "
            f"ssh-keyscan -p {ep.port} {ep.hostname} >> {known_hosts}"
        )
    return None


def known_name(ep: Endpoint) -> str:
    """How known_hosts names a host: OpenSSH brackets any port but 22."""
    return ep.hostname if ep.port == 22 else f"[{ep.hostname}]:{ep.port}"
