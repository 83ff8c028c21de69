"""The remote side of ``backup.restore_test``: a scratch folder on a runbook host over SSH.

The orchestrator streams each object from the store into an SFTP file on the host (the
host needs no cloud credentials), then has the *host* hash what landed on its disk:
that, not what we sent, is what a restore there would use. Every command is an argv
list; the folder comes from ``mktemp -d`` and only that folder is removed.
"""

from __future__ import annotations

from collections.abc import Iterator

from lifeboat import sftp
from lifeboat.errors import StepError
from lifeboat.registry import StepContext
from lifeboat.remote import Remote


class RemoteScratch:
    """``mktemp -d`` on ``host`` (inside ``parent``, default /tmp), removed on exit."""

    def __init__(self, ctx: StepContext, host: str, parent: str | None) -> None:
        self.ctx = ctx
        self.host = host
        self.remote = Remote.of(ctx, host)
        self.parent = parent or "/tmp"  # noqa: S108 - mktemp makes a private folder in it
        self.path = ""
        self.cleaned = False

    @property
    def where(self) -> str:
        return self.host

    def __enter__(self) -> RemoteScratch:
        template = f"{self.parent.rstrip('/')}/lifeboat-restore.XXXXXXXX"
        self.path = self.remote.output(["mktemp", "-d", template]).strip()
        if not self.path.startswith(self.parent.rstrip("/") + "/lifeboat-restore."):
            raise StepError(f"mktemp answered {self.path!r}", target=self.host)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.path:
            return
        try:
            self.cleaned = self.remote.succeeds(["rm", "-rf", "--", self.path])
        except StepError as error:  # reported in the evidence and summary, not raised
            self.ctx.log(f"{self.host}: cannot remove {self.path}: {error}")

    def write(self, name: str, chunks: Iterator[bytes]) -> tuple[str, int, str]:
        """Upload, then the SHA-256 the host computes of the file on its disk."""
        path = f"{self.path}/{name}"
        sent = sftp.upload(self.remote.pool, self.remote.target, path, chunks)
        return path, sent.size, self.remote.sha256(path)

    def md5(self, path: str) -> str:
        return self.remote.output(["md5sum", "--", path]).split(" ", 1)[0].strip()

    def run(self, argv: list[str], timeout: float) -> tuple[int, str]:
        result = self.remote.pool.run(self.remote.target, argv, timeout)
        return result.exit_status, (result.stderr or result.stdout)[-500:]
