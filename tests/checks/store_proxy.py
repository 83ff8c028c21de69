"""A loopback HTTP proxy in front of moto that answers some calls as other S3 stores do.

moto answers as AWS: GetBucketLocation names the bucket's region and HeadBucket sends an
``x-amz-bucket-region`` header. s3rver and other S3-compatible stores answer an empty
LocationConstraint for every bucket and send no such header; some do not implement the
call; some answer names of their own; a broken one may page a listing forever. moto cannot
be made to answer so, and the check under test must still talk HTTP to a real store:
``StoreProxy`` forwards every request to moto unchanged, except that

- ``answer(request)`` may replace moto's answer, when moto succeeded (a ``Reply``), or
  return None to keep it; moto's errors (NoSuchBucket, ...) pass as they are;
- with ``strip_region_header``, no response carries ``x-amz-bucket-region``;
- given ``buckets``, both apply to those buckets only: the others are moto's, untouched.

The answers of the stores we stand in for are below (``empty_location``, ``location``,
``error``, ``looping_listing``). Standard library only; a thread per connection, HTTP/1.1.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlparse

_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
#: Headers about one hop (RFC 9110 7.6.1), the body's length (re-counted here), and
#: those BaseHTTPRequestHandler writes itself.
_NOT_FORWARDED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-length",
    "server",
    "date",
}


@dataclass(frozen=True)
class Request:
    """A request as the proxy saw it (path-style: ``/bucket/key?query``)."""

    method: str
    bucket: str
    key: str
    query: dict[str, list[str]]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


Answer = Callable[[Request], Reply | None]


def _xml(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'.encode()


def _is_location(request: Request) -> bool:
    return request.method == "GET" and not request.key and "location" in request.query


def empty_location(request: Request) -> Reply | None:
    """GetBucketLocation as s3rver answers it, for every bucket: an empty constraint."""
    if not _is_location(request):
        return None
    return Reply(200, _xml(f'<LocationConstraint xmlns="{_XMLNS}"/>'))


def location(name: str) -> Answer:
    """GetBucketLocation answered with a name of the store's own choosing."""

    def answer(request: Request) -> Reply | None:
        if not _is_location(request):
            return None
        return Reply(200, _xml(f'<LocationConstraint xmlns="{_XMLNS}">{name}</LocationConstraint>'))

    return answer


def error(status: int, code: str, message: str) -> Answer:
    """GetBucketLocation refused with an S3 error document (e.g. 501 NotImplemented)."""

    def answer(request: Request) -> Reply | None:
        if not _is_location(request):
            return None
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return Reply(status, _xml(body))

    return answer


def looping_listing(request: Request) -> Reply | None:
    """ListObjectsV2 that always says "more, with token T": a store paging forever."""
    if request.method != "GET" or request.key or request.query.get("list-type") != ["2"]:
        return None
    body = (
        f'<ListBucketResult xmlns="{_XMLNS}"><Name>{request.bucket}</Name><Prefix></Prefix>'
        "<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>T</NextContinuationToken></ListBucketResult>"
    )
    return Reply(200, _xml(body))


class StoreProxy:
    """An HTTP proxy on 127.0.0.1 (a free port) in front of the S3 endpoint ``upstream``."""

    def __init__(
        self,
        upstream: str,
        answer: Answer | None = None,
        *,
        strip_region_header: bool = False,
        buckets: set[str] | None = None,
    ) -> None:
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.answer = answer or (lambda request: None)
        self.strip_region_header = strip_region_header
        self.buckets = buckets  # the buckets answered and stripped; None: every bucket
        self.requests: list[Request] = []  # what clients asked, in order
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """``host:port``, as a runbook site declares it (``endpoint:``)."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _changes(self, bucket: str) -> bool:
        return self.buckets is None or bucket in self.buckets


def _handler(proxy: StoreProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3's pool expects

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            bucket, _, key = path.lstrip("/").partition("/")
            request = Request(self.command, bucket, key, parse_qs(query, keep_blank_values=True))
            proxy.requests.append(request)
            strip = proxy.strip_region_header and proxy._changes(bucket)
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                kept = [
                    (name, value)
                    for name, value in response.getheaders()
                    if name.lower() not in _NOT_FORWARDED
                    and not (name.lower() == "x-amz-bucket-region" and strip)
                ]
                length_header = response.getheader("Content-Length")
            finally:
                upstream.close()
            # moto's error (NoSuchBucket, ...) stands: other stores give it too.
            reply = proxy.answer(request) if proxy._changes(bucket) else None
            if reply is not None and response.status < 300:
                self._send(reply.status, [("Content-Type", "application/xml")], reply.body)
            elif self.command == "HEAD":  # no body, but the length a GET would have
                kept.append(("Content-Length", length_header or "0"))
                self._send(response.status, kept, b"", count=False)
            else:
                self._send(response.status, kept, data)

        def _send(
            self, status: int, headers: list[tuple[str, str]], body: bytes, *, count: bool = True
        ) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if count:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
