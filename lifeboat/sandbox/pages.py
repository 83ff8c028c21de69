"""The public status pages: what customers open when www is down, served from S3 on loopback.

A runbook's ``comms.status_page`` may live in a bucket (``s3://status-example/``); in
production a CDN or the bucket's website endpoint serves it, on infrastructure apart from
the one that failed. Here a read-only gateway plays that part: ``GET /BUCKET/KEY`` answers
with the object (``/BUCKET/`` with ``index.html``) for the buckets that ``lifeboat sandbox
seed`` listed in ``pages.json`` (the runbooks' status-page buckets) and 404 for anything
else, so the backups in the same S3 are never public. The object is read with the
sandbox's credentials (the buckets block public access, as they should).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from lifeboat.sandbox.lifecycle import ThreadedHttp

PAGES_FILE = "pages.json"
INDEX = "index.html"


def pages_file(ssh_config: Path) -> Path:
    """``pages.json`` lives beside ``routes.json`` and the SSH config: the seeded world."""
    return ssh_config.with_name(PAGES_FILE)


def read_pages(path: Path) -> set[str]:
    """The buckets that hold status pages; empty when not seeded yet or unreadable."""
    try:
        return {str(bucket) for bucket in json.loads(path.read_text(encoding="utf-8"))}
    except (OSError, ValueError, TypeError):
        return set()


class StatusPages(ThreadedHttp):
    """HTTP on ``127.0.0.1:port`` serving the seeded status-page buckets, read-only."""

    service = "status"

    def __init__(
        self, pages: Path, *, moto_url: Callable[[], str], port: int | None = None
    ) -> None:
        super().__init__(port=port)
        self.pages = pages
        self._moto_url = moto_url
        self.api: Any = None

    def _server_for(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    def start(self) -> Self:
        from lifeboat.sandbox.s3 import aws_client

        self.api = aws_client("s3", endpoint_url=self._moto_url(), region="us-east-1")
        return super().start()

    def page(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request path."""
        bucket, _, key = unquote(urlsplit(path).path).lstrip("/").partition("/")
        if bucket not in read_pages(self.pages):
            return 404, "text/plain; charset=utf-8", b"no status page here\n"
        key = key if key and not key.endswith("/") else key + INDEX
        try:
            found = self.api.get_object(Bucket=bucket, Key=key)
        except self.api.exceptions.NoSuchKey:
            return 404, "text/plain; charset=utf-8", b"no such page (yet)\n"
        return 200, str(found.get("ContentType", "application/octet-stream")), found["Body"].read()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gateway: StatusPages) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        try:
            status, kind, body = self.server.gateway.page(self.path)
        except Exception as exc:  # S3 down or refusing: a 502 that says so, not a hang
            status, kind, body = 502, "text/plain; charset=utf-8", f"S3: {exc}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=60")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox's keeper log is for failures."""
