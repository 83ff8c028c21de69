"""The web app each sandbox site serves, and the ``systemctl`` shim that runs it.

Failover runbooks stop the app on one site, restore a database dump onto another and start
it there, then check health through the public entry point (``entry.py``). The app is the
smallest thing whose health depends on that data: ``GET /health`` answers 200 with the
newest ``*.sql.gz`` in ``app/data`` (under the site root) and its number of ``INSERT``
lines when that dump is a valid gzip, 503 otherwise; ``GET /`` names the site.

Sandbox sites have no systemd: ``<site>/bin/systemctl`` (POSIX sh, first in the PATH of
every SSH session, see ``sshd.py``) gives runbooks the commands they would use on a real
host (``start|stop|restart|is-active|status webapp``, same exit codes) and runs the app
as a plain daemon with a pidfile in the site root. ``start`` returns once the app listens
(the app writes its pidfile after binding), so a health check right after it is meaningful.

This file runs as a script (``python -I webapp.py ...``, stdlib only, ~50 ms to start) so
starting the app does not import the sandbox package; ``WebApp`` is the Python side that
writes the shim and stops the daemon when the sandbox stops. The app also exits on its own
when its site's sshd has been gone for a few seconds: a killed test run leaves nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shlex
import signal
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

UNIT = "webapp"
DATA_DIR = "app/data"
PIDFILE = "webapp.pid"
#: Seconds the app outlives its site's sshd (a host-key rotation restarts sshd quickly).
ORPHAN_GRACE_S = 3.0


# --- the app -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, site: str, root: Path) -> None:
        self.site = site
        self.data = root / DATA_DIR
        self._cache: dict[tuple[str, int, int], tuple[int | None, str]] = {}
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def health(self) -> tuple[int, dict[str, Any]]:
        """200 and the dump's name and rows when the newest dump is valid gzip, else 503."""
        try:
            dumps = [p for p in self.data.glob("*.sql.gz") if p.is_file()]
            newest = max(dumps, key=lambda p: (p.stat().st_mtime_ns, p.name), default=None)
            if newest is None:
                return 503, {"site": self.site, "data": None, "error": f"no dump in {DATA_DIR}"}
            stat = newest.stat()
        except OSError as exc:  # the folder or the file went away meanwhile
            return 503, {"site": self.site, "data": None, "error": str(exc)}
        rows, error = self._rows(newest, stat.st_size, stat.st_mtime_ns)
        if rows is None:
            return 503, {"site": self.site, "data": newest.name, "error": error}
        return 200, {"site": self.site, "data": newest.name, "rows": rows}

    def _rows(self, path: Path, size: int, mtime_ns: int) -> tuple[int | None, str]:
        """INSERT lines of a dump, cached by name, size and mtime (probes come every 50 ms)."""
        key = (path.name, size, mtime_ns)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            with gzip.open(path, "rb") as dump:
                found: tuple[int | None, str] = (
                    sum(1 for line in dump if line.startswith(b"INSERT")),
                    "",
                )
        except (OSError, EOFError, zlib.error) as exc:
            found = (None, f"{path.name} is not a valid gzip dump: {exc}")
        with self._lock:
            self._cache = {key: found}
        return found


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            code, payload = self.server.health()
            self._answer(code, json.dumps(payload).encode(), "application/json")
        elif path == "/":
            page = f"<p>Lifeboat sandbox web app on {self.server.site}</p>\n"
            self._answer(200, page.encode(), "text/html; charset=utf-8")
        else:
            self._answer(404, b'{"error": "not found"}', "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _answer(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: probes every 50 ms would flood the log; start and stop are logged."""


def _sshd_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().strip())
        return (Path("/proc") / str(pid) / "stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


def _watch(server: _Server, sshd_pidfile: Path, stop: threading.Event) -> None:
    gone_since: float | None = None
    while not stop.wait(0.5):
        if _sshd_alive(sshd_pidfile):
            gone_since = None
            continue
        now = time.monotonic()
        if gone_since is None:
            gone_since = now
        elif now - gone_since >= ORPHAN_GRACE_S:
            print(f"sshd of {server.site} is gone: exiting", file=sys.stderr, flush=True)
            server.shutdown()
            return


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM; write the pidfile once listening, remove it on the way out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    parser.add_argument("--sshd-pidfile", type=Path)
    args = parser.parse_args(argv)
    with contextlib.suppress(OSError):
        os.setsid()  # a daemon: no terminal, not in the SSH session's process group
    server = _Server(args.port, args.site, args.root)
    stop = threading.Event()

    def terminate(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    if args.sshd_pidfile is not None:
        threading.Thread(target=_watch, args=(server, args.sshd_pidfile, stop), daemon=True).start()
    tmp = args.pidfile.with_name(f".{args.pidfile.name}.tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(args.pidfile)  # ready: systemctl start waits for this file
    print(f"webapp {args.site} listening on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        stop.set()
        server.server_close()
        with contextlib.suppress(OSError, ValueError):
            if int(args.pidfile.read_text().strip()) == os.getpid():
                args.pidfile.unlink()
        print(f"webapp {args.site} stopped", file=sys.stderr, flush=True)
    return 0


# --- the service manager ---------------------------------------------------------------------


@dataclass(frozen=True)
class WebApp:
    """One site's app unit: where it runs, where its files go, and the shim that runs it."""

    site: str
    site_dir: Path
    root: Path
    port: int
    python: str = sys.executable

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pidfile(self) -> Path:
        return pidfile_of(self.root)

    @property
    def log_file(self) -> Path:
        return self.site_dir / "webapp.log"

    @property
    def shim(self) -> Path:
        return self.site_dir / "bin" / "systemctl"

    def install(self, sshd_pidfile: Path) -> None:
        """Write ``bin/systemctl`` (0755) for this site; the app's files stay where they are."""
        (self.root / DATA_DIR).mkdir(parents=True, exist_ok=True)
        self.shim.parent.mkdir(parents=True, exist_ok=True)
        text = _SHIM
        for name, value in {
            "SITE": self.site,
            "ROOT": str(self.root),
            "PIDFILE": str(self.pidfile),
            "LOG": str(self.log_file),
            "PYTHON": self.python,
            "APP": str(Path(__file__).resolve()),
            "PORT": str(self.port),
            "SSHD_PIDFILE": str(sshd_pidfile),
        }.items():
            text = text.replace(f"@{name}@", shlex.quote(value))
        tmp = self.shim.with_name(".systemctl.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o755)
        tmp.replace(self.shim)


def pidfile_of(root: Path) -> Path:
    return root / PIDFILE


def running_pid(pidfile: Path) -> int | None:
    """The app's pid from its pidfile, if that process runs and is this very app."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if os.fsencode(str(pidfile)) in cmdline else None


def stop_app(pidfile: Path, timeout: float = 5.0) -> bool:
    """Stop the app that ``pidfile`` names (TERM, wait, KILL); True if one was running."""
    from lifeboat.sandbox.process import terminate_pid

    pid = running_pid(pidfile)
    stopped = pid is not None and terminate_pid(pid, expect=str(pidfile), timeout=timeout)
    pidfile.unlink(missing_ok=True)
    return stopped


_SHIM = r"""#!/bin/sh
# systemctl for one Lifeboat sandbox site (written by lifeboat/sandbox/webapp.py at start).
# The site has no systemd: units run as plain daemons with a pidfile in the site root.
# Exit codes as systemctl: is-active/status 3 when inactive, 5 (4 for status) unknown unit.
SITE=@SITE@
ROOT=@ROOT@
PIDFILE=@PIDFILE@
LOG=@LOG@
PYTHON=@PYTHON@
APP=@APP@
PORT=@PORT@
SSHD_PIDFILE=@SSHD_PIDFILE@
START_TIMEOUT=100   # x 0.1 s
STOP_TIMEOUT=100    # x 0.1 s, then SIGKILL

quiet=
verb=
unit=
for arg in "$@"; do
    case $arg in
        -q|--quiet) quiet=1 ;;
        --no-pager|--no-block|--no-ask-password) ;;
        -*) echo "systemctl (lifeboat sandbox): unsupported option $arg" >&2; exit 1 ;;
        *) if [ -z "$verb" ]; then verb=$arg; elif [ -z "$unit" ]; then unit=$arg; else
               echo "systemctl (lifeboat sandbox): one unit at a time" >&2; exit 1; fi ;;
    esac
done
[ -n "$verb" ] || { echo "usage: systemctl start|stop|restart|is-active|status UNIT" >&2; exit 1; }
case $verb in start|stop|restart|is-active|status) ;;
    *) echo "Unknown command verb '$verb'." >&2; exit 1 ;;
esac
[ -n "$unit" ] || { echo "systemctl $verb: give a unit (webapp)" >&2; exit 1; }
name=${unit%.service}

alive() {  # a live process: its /proc state is not Z (zombie) or X (dead)
    state=$(sed -n 's/^.*) \([A-Za-z]\).*$/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

app_pid() {  # prints the pid when the pidfile names this very app, running
    [ -s "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null)
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    tr '\000' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$PIDFILE" || return 1
    echo "$pid"
}

start() {
    app_pid >/dev/null && return 0
    rm -f "$PIDFILE"
    echo "$(date -u +%FT%TZ) systemctl start $name" >> "$LOG"
    "$PYTHON" -I "$APP" --site "$SITE" --root "$ROOT" --port "$PORT" \
        --pidfile "$PIDFILE" --sshd-pidfile "$SSHD_PIDFILE" < /dev/null >> "$LOG" 2>&1 &
    child=$!
    n=0
    while ! app_pid >/dev/null; do
        if ! alive "$child" || [ "$n" -ge "$START_TIMEOUT" ]; then
            kill -KILL "$child" 2>/dev/null
            echo "Job for $name.service failed. See $LOG:" >&2
            tail -n 5 "$LOG" >&2
            return 1
        fi
        sleep 0.1
        n=$((n + 1))
    done
}

stop() {
    if pid=$(app_pid); then
        echo "$(date -u +%FT%TZ) systemctl stop $name" >> "$LOG"
        kill -TERM "$pid" 2>/dev/null
        n=0
        while alive "$pid" && [ "$n" -lt "$STOP_TIMEOUT" ]; do sleep 0.1; n=$((n + 1)); done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$PIDFILE"
}

if [ "$name" != webapp ]; then
    case $verb in
        is-active) [ -n "$quiet" ] || echo inactive; exit 3 ;;
        status) echo "Unit $name.service could not be found." >&2; exit 4 ;;
        *) echo "Failed to $verb $name.service: Unit $name.service not found." >&2; exit 5 ;;
    esac
fi

case $verb in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    is-active)
        if app_pid >/dev/null; then [ -n "$quiet" ] || echo active; exit 0; fi
        [ -n "$quiet" ] || echo inactive
        exit 3 ;;
    status)
        echo "* $name.service - Lifeboat sandbox web app on $SITE"
        echo "     Listen: http://127.0.0.1:$PORT (data: $ROOT/app/data)"
        if pid=$(app_pid); then
            echo "     Active: active (running)"
            echo "   Main PID: $pid"
            code=0
        else
            echo "     Active: inactive (dead)"
            code=3
        fi
        [ -f "$LOG" ] && { echo; tail -n 5 "$LOG"; }
        exit $code ;;
esac
"""


if __name__ == "__main__":
    sys.exit(main())
