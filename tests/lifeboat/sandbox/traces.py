"""What a sandbox left running, seen from /proc as a suspicious user would look for it.

Independent of ``lifeboat.sandbox.owned`` on purpose: a test that asked the code under test
which processes are left would only check that it agrees with itself. Here any process
whose command line, environment or working directory mentions the folder counts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lifeboat.sandbox.process import ancestors, listeners, process_table


def _read(pid: int, name: str) -> bytes:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes()
    except OSError:
        return b""


def traces(folder: Path) -> dict[int, str]:
    """Every live process (but this one and its ancestors) that mentions ``folder`` in its
    command line, environment or working directory: pid -> why and what it runs."""
    mention = re.compile(re.escape(os.fsencode(folder)) + rb"(?![\w.-])")
    table = process_table()
    spared = {os.getpid(), *ancestors(os.getpid(), table)}
    found: dict[int, str] = {}
    for pid in table:
        if pid in spared:
            continue
        stat = _read(pid, "stat")
        if not stat or stat[stat.rfind(b")") + 2 :][:1] in (b"Z", b"X"):
            continue  # gone, or exited and not reaped yet: it holds nothing any more
        try:
            cwd = os.fsencode(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            cwd = b""
        places = {"cmdline": _read(pid, "cmdline"), "environ": _read(pid, "environ"), "cwd": cwd}
        why = [name for name, text in places.items() if mention.search(text)]
        if why:
            command = places["cmdline"].replace(b"\0", b" ").decode(errors="replace")
            found[pid] = f"{'+'.join(why)}: {command[:120]}"
    return found


def ports_held(ports: set[int], by: set[int]) -> dict[int, set[int]]:
    """Which of ``ports`` a process among ``by`` (pids) still listens on."""
    return {port: held for port in sorted(ports) if (held := listeners(port) & by)}
