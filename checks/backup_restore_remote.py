"""The remote side of ``backup.restore_test``: a scratch folder on a runbook host over SSH.

The orchestrator streams each object from the store into an SFTP file on the host (the
host needs no cloud credentials), then has the *host* hash what landed on its disk:
that, not what we sent, is what a restore there would use. Every command is an argv
list; the folder comes from ``mktemp -d`` and only that folder is removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lifeboat import sftp
from lifeboat.errors import StepError
from lifeboat.registry import StepContext, runbook_of
from lifeboat.ssh import SshTarget, pool_for

#: Seconds for the small housekeeping commands (mktemp, hashing a file, rm).
_HOUSEKEEPING_S = 600.0


class RemoteScratch:
    """``mktemp -d`` on ``host`` (inside ``parent``, default /tmp), removed on exit."""

    def __init__(self, ctx: StepContext, host: str, parent: str | None) -> None:
        self.ctx = ctx
        self.host = host
        self.target = SshTarget.from_host(runbook_of(ctx).hosts[host])
        self.pool = pool_for(ctx)
        self.parent = parent or "/tmp"  # noqa: S108 - mktemp makes a private folder in it
        self.path = ""
        self.cleaned = False

    @property
    def where(self) -> str:
        return self.host

    def __enter__(self) -> RemoteScratch:
        template = f"{self.parent.rstrip('/')}/lifeboat-restore.XXXXXXXX"
        self.path = self._output(["mktemp", "-d", template]).strip()
        if not self.path.startswith(self.parent.rstrip("/") + "/lifeboat-restore."):
            raise StepError(f"mktemp answered {self.path!r}", target=self.host)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.path:
            return
        try:
            result = self.pool.run(self.target, ["rm", "-rf", "--", self.path], _HOUSEKEEPING_S)
            self.cleaned = result.exit_status == 0
        except StepError as error:  # reported in the evidence and summary, not raised
            self.ctx.log(f"{self.host}: cannot remove {self.path}: {error}")

    def write(self, name: str, chunks: Iterator[bytes]) -> tuple[str, int, str]:
        """Upload, then the SHA-256 the host computes of the file on its disk."""
        path = f"{self.path}/{name}"
        sent = sftp.upload(self.pool, self.target, path, chunks)
        return path, sent.size, self._digest("sha256sum", path)

    def md5(self, path: str) -> str:
        return self._digest("md5sum", path)

    def run(self, argv: list[str], timeout: float) -> tuple[int, str]:
        result = self.pool.run(self.target, argv, timeout)
        return result.exit_status, (result.stderr or result.stdout)[-500:]

    def _digest(self, tool: str, path: str) -> str:
        return self._output([tool, "--", path]).split(" ", 1)[0].strip()

    def _output(self, argv: list[str]) -> str:
        result: Any = self.pool.run(self.target, argv, _HOUSEKEEPING_S)
        if result.exit_status != 0:
            why = f"`{' '.join(argv)}` exited {result.exit_status}: {result.stderr.strip()}"
            raise StepError(why, target=self.host)
        return str(result.stdout)
