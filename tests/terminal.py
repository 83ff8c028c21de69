"""Run a command on a real terminal (a pseudo-terminal), as a person at a shell does.

Rich decides by ``isatty`` whether to colour, wrap and redraw: a pipe never shows what an
operator sees. The child gets a pty of known width on stdin, stdout and stderr (so both
streams arrive merged, in the order written); the text comes back with its colour codes
and carriage returns removed, to be compared with what a pipe gets.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading
from collections.abc import Sequence
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
HANG_GUARD_S = 300.0  # a whole flow run on a busy machine takes seconds; this ends a hang


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "")


def on_terminal(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    *,
    columns: int = 80,
    cwd: Path | None = None,
) -> tuple[int, str, str]:
    """Run ``args`` on a ``columns``-wide terminal; (exit code, raw text, plain text)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        list(args), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
    )
    os.close(slave)  # the child holds it: reading the master ends once the child exits
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = process.wait(HANG_GUARD_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(30)
        os.close(master)
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    return code, raw, strip_ansi(raw)
