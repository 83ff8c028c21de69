"""Small, safe building blocks for steps that change files on a runbook host over SSH.

Every command is an argv list (quoted by the transport, never pasted into a shell line);
paths given by a runbook are checked before use; a file is written next to its target and
renamed into place only once the host itself has hashed it, so a reader never sees half a
file and a failed copy never replaces a good one.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from lifeboat import sftp
from lifeboat.errors import StepError
from lifeboat.registry import StepContext, runbook_of
from lifeboat.ssh import SshPool, SshTarget, pool_for

#: Seconds for housekeeping commands (mktemp, hashing a file, mv, rm).
HOUSEKEEPING_S = 600.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Remote:
    """One runbook host, as a step sees it: a name, where to connect, the run's pool."""

    name: str
    target: SshTarget
    pool: SshPool

    @classmethod
    def of(cls, ctx: StepContext, host: str) -> Remote:
        runbook = runbook_of(ctx)
        if host not in runbook.hosts:
            raise StepError(f"host {host!r} is not declared in the runbook", target=host)
        return cls(host, SshTarget.from_host(runbook.hosts[host]), pool_for(ctx))

    def output(self, argv: list[str], timeout: float = HOUSEKEEPING_S) -> str:
        """Run ``argv``; its stdout, or a StepError naming the command and its stderr."""
        result = self.pool.run(self.target, argv, timeout)
        if result.exit_status != 0:
            why = f"`{' '.join(argv)}` exited {result.exit_status}: {result.stderr.strip()}"
            raise StepError(why, target=self.name)
        return result.stdout

    def succeeds(self, argv: list[str], timeout: float = HOUSEKEEPING_S) -> bool:
        return self.pool.run(self.target, argv, timeout).exit_status == 0

    def sha256(self, path: str) -> str:
        """The SHA-256 the host computes of its own file."""
        return self.output(["sha256sum", "--", path]).split(" ", 1)[0].strip()

    def exists(self, path: str) -> bool:
        return self.succeeds(["test", "-e", path])

    def put(self, path: str, chunks: Iterable[bytes], mode: int = 0o600) -> sftp.Upload:
        """Write ``path`` atomically: upload beside it, verify on the host, rename.

        Raises when the host's hash differs from what was sent (``data.corrupted``).
        """
        partial = posixpath.join(
            posixpath.dirname(path) or ".", f".{posixpath.basename(path)}.lifeboat-partial"
        )
        self.succeeds(["rm", "-f", "--", partial])  # a leftover of a killed run
        sent = sftp.upload(self.pool, self.target, partial, chunks, mode)
        landed = self.sha256(partial)
        if landed != sent.sha256:
            self.succeeds(["rm", "-f", "--", partial])
            raise StepError(
                f"{path}: the host hashed {landed}, we sent {sent.sha256}",
                target=self.name,
                code="data.corrupted",
            )
        self.output(["mv", "-f", "--", partial, path])
        return sftp.Upload(path, sent.size, sent.sha256)


def safe_name(name: str, fallback: str = "file") -> str:
    """A file name made of safe characters only (an object key is never a path)."""
    return _SAFE_NAME.sub("_", posixpath.basename(name))[:120].lstrip(".") or fallback


def _checked_path(path: str) -> str:
    if not path or "\0" in path or ".." in path.split("/") or path.startswith("-"):
        raise ValueError(f"unsafe path {path!r}: no '..' component, no leading '-', not empty")
    return posixpath.normpath(path)


#: A path on a host, from a runbook: relative paths start in the login folder. Refused at
#: validation: ``..`` components (a restore must not climb out of its destination) and a
#: leading ``-`` (it would read as an option of the command it is given to).
RemotePath = Annotated[str, AfterValidator(_checked_path)]


def _checked_folder(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{path!r} is not an absolute path")
    return _checked_path(path)


#: An absolute folder (on a host or on this machine) in which a step makes a fresh folder
#: of its own: refused at validation like ``RemotePath``, and relative paths too.
AbsoluteFolder = Annotated[str, Field(pattern=r"^/"), AfterValidator(_checked_folder)]
