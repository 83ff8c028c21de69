"""SSH errors, and plain words for why a connection failed.

``SshError`` is what every SSH or socket failure becomes at the transport's boundary
(``lifeboat.ssh``), naming what, where and why; ``SshTimeout`` is a command that outlived
its timeout. ``plain_why`` turns a connect failure other than a host-key refusal (those
are explained by ``lifeboat.ssh_hosts.host_key_why``) into a sentence an operator can act
on, because paramiko's own wording is often misleading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import paramiko

from lifeboat.errors import AccessError, StepTimeout

if TYPE_CHECKING:
    from lifeboat.ssh_hosts import Endpoint


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


def plain_why(ep: Endpoint, exc: Exception) -> str:
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
