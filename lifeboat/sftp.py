"""Files onto runbook hosts over SFTP, through the run's verified SSH connections.

The same connection as ``lifeboat.ssh`` (host key checked against known_hosts, one per
host per run); only the channel differs. Paramiko and socket errors become ``SshError``
naming the host and the remote path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import paramiko

from lifeboat.ssh import SshError, SshPool, SshTarget


@dataclass(frozen=True)
class Upload:
    """What was written: size and the SHA-256 of the bytes as they were sent."""

    path: str
    size: int
    sha256: str


def upload(
    pool: SshPool, target: SshTarget, path: str, chunks: Iterable[bytes], mode: int = 0o600
) -> Upload:
    """Stream ``chunks`` into a new remote file ``path`` (refuses to overwrite one).

    The file is created 0600 before the first byte is written: a restored backup holds
    customer data, and no other account on the host should read it meanwhile.
    """
    where = f"{target.address}:{path}"
    digest, size = hashlib.sha256(), 0
    try:
        sftp = pool.client(target).open_sftp()
    except (paramiko.SSHException, OSError) as exc:
        raise SshError(f"cannot open an SFTP session: {exc}", target=where) from exc
    try:
        with sftp.open(path, "wbx") as remote:
            remote.chmod(mode)
            remote.set_pipelined(True)  # do not wait for each write's answer
            for chunk in chunks:
                remote.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except (paramiko.SSHException, OSError) as exc:
        raise SshError(f"cannot write the file: {exc}", target=where) from exc
    finally:
        sftp.close()
    return Upload(path, size, digest.hexdigest())


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    mtime: float


def listdir(pool: SshPool, target: SshTarget, path: str) -> list[RemoteFile]:
    """Regular files in a remote folder (not recursive), newest first."""
    import stat

    where = f"{target.address}:{path}"
    try:
        sftp = pool.client(target).open_sftp()
        try:
            entries = sftp.listdir_attr(path)
        finally:
            sftp.close()
    except (paramiko.SSHException, OSError) as exc:
        raise SshError(f"cannot list the folder: {exc}", target=where) from exc
    files = [
        RemoteFile(e.filename, e.st_size or 0, float(e.st_mtime or 0))
        for e in entries
        if e.st_mode is not None and stat.S_ISREG(e.st_mode)
    ]
    return sorted(files, key=lambda f: (f.mtime, f.name), reverse=True)


def download(pool: SshPool, target: SshTarget, path: str, size: int = 1 << 20) -> Iterator[bytes]:
    """A remote file's content, ``size`` bytes at a time."""
    where = f"{target.address}:{path}"
    try:
        sftp = pool.client(target).open_sftp()
        try:
            with sftp.open(path, "rb") as remote:
                remote.prefetch()
                while chunk := remote.read(size):
                    yield chunk
        finally:
            sftp.close()
    except (paramiko.SSHException, OSError) as exc:
        raise SshError(f"cannot read the file: {exc}", target=where) from exc
