"""SSH keys and the client-side files (known_hosts, ssh_config) for sandbox sshd sites.

Keys are made by the real ``ssh-keygen`` so they are exactly what an operator would have;
Lifeboat's SSH code must verify host keys against a known_hosts file and refuse unknown or
changed ones, and the sandbox gives it true files to check against. The only secrets these
files hold are the throwaway keys generated here, private ones with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lifeboat.sandbox.errors import SandboxError

KEY_TYPE = "ssh-ed25519"


@dataclass(frozen=True)
class PublicKey:
    """An OpenSSH public key: its type (``ssh-ed25519``) and base64 blob (``AAAA...``)."""

    key_type: str
    blob: str

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` as ``ssh-keygen -l`` and ``ssh`` print it."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    def line(self) -> str:
        return f"{self.key_type} {self.blob}"


def generate_key(path: Path, comment: str) -> PublicKey:
    """Create an ed25519 key pair at ``path`` (+ ``.pub``) unless one exists; return its public key.

    An existing key is kept so a restarted site keeps its identity (``rotate`` deletes it
    on purpose to simulate a rebuilt host).
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_name(path.name + ".pub").unlink(missing_ok=True)
        argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
        try:
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        except FileNotFoundError as exc:
            raise SandboxError(
                "ssh-keygen not found: install openssh-client (scripts/bootstrap-system.sh)"
            ) from exc
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or b"").decode("utf-8", errors="replace").strip()
            raise SandboxError(f"ssh-keygen failed for {path}: {output}") from exc
    os.chmod(path, 0o600)
    return read_public_key(path.with_name(path.name + ".pub"))


def read_public_key(path: Path) -> PublicKey:
    """Parse an OpenSSH ``.pub`` file (``type blob [comment]``)."""
    try:
        fields = path.read_text(encoding="ascii").split()
    except OSError as exc:
        raise SandboxError(f"cannot read public key {path}: {exc}") from exc
    if len(fields) < 2:
        raise SandboxError(f"{path} is not an OpenSSH public key")
    return PublicKey(fields[0], fields[1])


def known_hosts_line(host: str, port: int, key: PublicKey) -> str:
    """The known_hosts entry for ``host:port``; OpenSSH brackets any port other than 22."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.line()}"


def ssh_config_block(
    alias: str, *, host: str, port: int, user: str, identity_file: Path, known_hosts: Path
) -> str:
    """A ``Host`` block so ``ssh -F FILE site-a`` reaches a sandbox site with strict checks."""
    return (
        f"Host {alias}\n"
        f"    HostName {host}\n"
        f"    Port {port}\n"
        f"    User {user}\n"
        f"    IdentityFile {identity_file}\n"
        f"    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known_hosts}\n"
        f"    StrictHostKeyChecking yes\n"
        f"    BatchMode yes\n"
    )


def write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` atomically (temp file + rename) so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    tmp.replace(path)
