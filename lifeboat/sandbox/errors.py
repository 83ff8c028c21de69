"""The sandbox's own errors, kept beside its launchers rather than in ``lifeboat.errors``.

A service that fails to start is almost always explained by the last lines of its log
("Address already in use", a bad config line, a missing binary), so ``ServiceStartError``
carries them in its message: the person reading a failed test should not have to go and
find the log file.
"""

from __future__ import annotations

from pathlib import Path

from lifeboat.errors import LifeboatError


class SandboxError(LifeboatError):
    """A sandbox service could not be prepared, started, reached or stopped."""


class ServiceStartError(SandboxError):
    """A service did not become ready; the message ends with the tail of its log."""

    def __init__(self, service: str, reason: str, log_file: Path | None, log_text: str) -> None:
        self.service = service
        self.log_file = log_file
        where = f" (log: {log_file})" if log_file is not None else ""
        tail = log_text.rstrip() or "(log is empty)"
        super().__init__(
            f"{service} failed to start: {reason}{where}\n--- last log lines ---\n{tail}"
        )


def log_tail(path: Path, lines: int = 20, *, offset: int = 0) -> str:
    """The last ``lines`` lines of ``path`` from byte ``offset`` on ("" if unreadable).

    ``offset`` lets a launcher that appends to one log across restarts show only what the
    latest attempt wrote.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
