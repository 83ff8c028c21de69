"""Many small S3 reads without botocore's per-call machinery: signed GETs on a socket.

A full-content verification reads every object of every copy; a completeness check lists
every key. botocore does work on each call before and after the network (event hooks,
parameter validation, endpoint rules, a User-Agent built twice, the response parser): over
100,000 objects it adds up, and against a store on the same machine it is what made
``bench/verify.py`` slower than rclone (1.05x listing, 1.03x full read; with this module
0.92x and 0.88x in the run the README quotes).

What stays botocore's: the URL (``generate_presigned_url`` runs botocore's own endpoint
resolution once per bucket, so ``AWS_ENDPOINT_URL``, profiles, addressing style and region
mean the same), the signature (botocore's SigV4 signer, the client's credentials, refreshed
as botocore refreshes them), the CA bundle, and every error. This module only speeds up the
success case: a GET answered 200 with a body of its full Content-Length. Anything else
returns ``None`` and the caller makes the same call through boto3, which retries, raises
and is converted into our error in one place (``s3client.failed``): an error status, a
redirect this module could not follow, a chunked or truncated body, a timeout, a refused
connection. After a transport failure a bucket's direct path is switched off for a
minute: the store is then left to botocore's retry policy alone.

Not used at all (``bucket`` returns ``None``) with ``LIFEBOAT_S3_DIRECT=false``, a proxy,
a client certificate, unsigned or non-SigV4 clients, or a URL botocore would not sign for
``s3`` (S3 Express, access points, Outposts).
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote_plus, urlsplit
from xml.etree import ElementTree

from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError
from botocore.utils import get_environ_proxies

from lifeboat import s3client
from lifeboat.settings import Settings

_PROBE = "lifeboat-probe"  # the key presigned to learn a bucket's URL; never requested
_HEADERS_MAX = 64 * 1024  # a response head larger than this is not S3's
_IDLE_MAX = 32  # kept-alive connections per bucket, as the boto3 client's pool
_CHUNK = 1 << 20
_COOL_OFF = 60.0  # seconds the direct path stays off after a transport failure
_QUERY_NAMES = {
    "Prefix": "prefix",
    "Delimiter": "delimiter",
    "ContinuationToken": "continuation-token",
}


class _Failed(Exception):
    """The exchange went wrong on the wire: fall back, and stop using this path."""


class _Stale(_Failed):
    """A kept-alive connection was closed by the store before answering: retry once."""


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    complete: bool  # a 200 whose whole Content-Length reached the sink


_buckets: weakref.WeakKeyDictionary[Any, dict[str, DirectBucket | None]]
_buckets = weakref.WeakKeyDictionary()
_buckets_lock = threading.Lock()


def bucket(client: Any, name: str) -> DirectBucket | None:
    """The direct path to ``name`` through ``client``'s endpoint and credentials, or None
    when it does not apply (see the module's docstring). One per client and bucket, kept
    as long as the client is: a new client (``s3client.client.cache_clear()``, rotated
    credentials) gets new ones."""
    with _buckets_lock:
        known = _buckets.setdefault(client, {})
        if name not in known:
            try:
                known[name] = DirectBucket(client, name)
            except _CANNOT:
                known[name] = None
        return known[name]


class _Unsupported(Exception):
    """This client or bucket is not one the direct path handles."""


# What building a DirectBucket can raise when the direct path cannot serve a bucket.
_CANNOT = (_Unsupported, BotoCoreError, ValueError, KeyError)


class DirectBucket:
    """Signed GETs to one bucket, over a small pool of kept-alive connections."""

    def __init__(self, client: Any, name: str) -> None:
        settings = Settings()
        config = client.meta.config
        if not settings.s3_direct:
            raise _Unsupported("switched off (LIFEBOAT_S3_DIRECT=false)")
        if config.proxies or getattr(config, "client_cert", None):
            raise _Unsupported("proxy or client certificate")
        url = client.generate_presigned_url("get_object", Params={"Bucket": name, "Key": _PROBE})
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        scope = query.get("X-Amz-Credential", [""])[0].split("/")
        if query.get("X-Amz-Algorithm") != ["AWS4-HMAC-SHA256"] or scope[3:4] != ["s3"]:
            raise _Unsupported("not signed with SigV4 for s3")
        if not parts.path.endswith("/" + _PROBE) or get_environ_proxies(url).get(parts.scheme):
            raise _Unsupported("unexpected URL, or a proxy for it")
        self.name, self.region = name, scope[2]
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.host, self.port = parts.hostname or "", parts.port
        # As botocore writes it: no default port, IPv6 in brackets.
        default = {"http": 80, "https": 443}.get(parts.scheme)
        self.host_header = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None and parts.port != default:
            self.host_header += f":{parts.port}"
        self.root = parts.path[: -len(_PROBE)]  # "/bucket/" (path style) or "/" (virtual host)
        self._signer = client._request_signer  # the client's own signer and credentials
        self._tls = _tls_context(client) if parts.scheme == "https" else None
        self._timeouts = (settings.s3_connect_timeout, settings.s3_read_timeout)
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._off_until = 0.0  # monotonic time before which the direct path is not tried

    # --- operations ---

    def sha256(self, key: str) -> str | None:
        """The SHA-256 of object ``key`` (full key), or None: ask boto3 instead."""
        digest = hashlib.sha256()
        answer = self._get(quote(key, safe="/~"), "", digest.update)
        return digest.hexdigest() if answer is not None and answer.complete else None

    def list_page(self, params: dict[str, str]) -> dict[str, Any] | None:
        """One ListObjectsV2 page as botocore returns it (the fields ``storage`` reads), or
        None. ``params`` uses botocore's names: Prefix, Delimiter, ContinuationToken."""
        pairs = [("list-type", "2"), ("encoding-type", "url")]
        pairs += [(_QUERY_NAMES[name], value) for name, value in params.items()]
        # Encoded as SigV4 wants it, in the order it signs: the signer takes the query as is.
        query = "&".join(f"{k}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))
        body = bytearray()
        answer = self._get(None, query, body.extend)
        if answer is None or not answer.complete:
            return None
        try:
            return _page(bytes(body))
        except (ElementTree.ParseError, ValueError, KeyError):
            return None  # boto3 will parse it, or say why it cannot

    def _moved(self, answer: _Answer | None) -> bool:
        """Follow a wrong-region answer once, as botocore does: re-sign for the bucket's own
        region (its ``x-amz-bucket-region`` header). True when the call should be retried."""
        if answer is None or answer.status not in (301, 307, 400):
            return False
        region = answer.headers.get("x-amz-bucket-region")
        if not region or region == self.region:
            return False
        try:
            moved = DirectBucket(s3client.client(region), self.name)
        except _CANNOT:
            return False
        self.close()
        self.__dict__.update(moved.__dict__)
        return True

    # --- one exchange ---

    def _get(
        self, key: str | None, query: str, sink: Callable[[bytes], object]
    ) -> _Answer | None:
        """A signed GET of the (quoted) ``key``, or of the bucket itself when None, following
        a wrong-region answer once; None when it could not be made or answered on the wire.
        Only a 200's body reaches ``sink``: the retry after a redirect starts clean."""
        answer = self._request(key, query, sink)
        if self._moved(answer):
            answer = self._request(key, query, sink)
        return answer

    def _request(
        self, key: str | None, query: str, sink: Callable[[bytes], object]
    ) -> _Answer | None:
        if time.monotonic() < self._off_until:
            return None
        # The bucket itself: "/bucket" (path style) or "/" (virtual host), as botocore.
        path = self.root + key if key is not None else self.root[:-1] or "/"
        target = path + (f"?{query}" if query else "")
        request = AWSRequest("GET", f"{self.scheme}://{self.netloc}{target}")
        request.headers["Host"] = self.host_header  # signed and sent: the same by construction
        try:
            self._signer.get_auth_instance("s3", self.region, "s3v4").add_auth(request)
        except BotoCoreError:  # no credentials: boto3 will say so
            return None
        head = f"GET {target} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        wire = (head + "Accept-Encoding: identity\r\nUser-Agent: lifeboat\r\n\r\n").encode()
        try:
            return self._send(wire, sink)
        except (_Failed, OSError, ValueError):  # refused, reset, timeout, TLS, garbled
            self._switch_off()
            return None

    def _send(self, wire: bytes, sink: Callable[[bytes], object]) -> _Answer:
        """Send on a kept-alive connection, or a new one if that one turns out closed."""
        while True:
            connection, reused = self._checkout()
            try:
                answer, keep = _exchange(connection, wire, sink)
            except _Stale:
                connection.close()
                if reused:  # closed while idle: nothing was read, a new connection is safe
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            if keep:
                self._checkin(connection)
            else:
                connection.close()
            return answer

    def _switch_off(self) -> None:
        """A transport failure: leave the store to botocore's retries for a while."""
        self._off_until = time.monotonic() + _COOL_OFF
        self.close()

    def _checkout(self) -> tuple[socket.socket, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        connect, read = self._timeouts
        port = self.port or (443 if self.scheme == "https" else 80)
        raw = socket.create_connection((self.host, port), timeout=connect)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = raw
        if self._tls is not None:
            try:
                connection = self._tls.wrap_socket(raw, server_hostname=self.host)
            except OSError:
                raw.close()
                raise
        connection.settimeout(read)
        return connection, False

    def _checkin(self, connection: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_MAX:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the kept-alive connections (the bucket stays usable: it opens new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def __del__(self) -> None:  # a cleared cache drops buckets: their sockets go with them
        with contextlib.suppress(AttributeError):
            self.close()


def _tls_context(client: Any) -> ssl.SSLContext:
    """Verification as the client's: its CA bundle (AWS_CA_BUNDLE, profile), or none when
    the client was built with verify=False."""
    from botocore.httpsession import get_cert_path

    verify = getattr(client._endpoint.http_session, "_verify", True)
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=get_cert_path(verify))


def _exchange(
    connection: socket.socket, wire: bytes, sink: Callable[[bytes], object]
) -> tuple[_Answer, bool]:
    """Send one request and read its answer; a 200's body goes to ``sink`` as it arrives.

    Returns the answer and whether the connection can be reused. A non-200 body is not
    read (the connection is dropped instead): boto3 will make the call again and read it.
    """
    try:
        connection.sendall(wire)
        received = connection.recv(_CHUNK)
    except OSError as exc:
        raise _Stale(str(exc)) from exc
    if not received:
        raise _Stale("closed before answering")
    buffer = received
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > _HEADERS_MAX:
            raise _Failed("response head too large")
        more = connection.recv(_CHUNK)
        if not more:
            raise _Failed("closed in the response head")
        buffer += more
    head, _, body = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status = status_line.split(" ", 2)[:2]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    code = int(status)
    length = headers.get("content-length")
    if code != 200 or length is None or "transfer-encoding" in headers:
        return _Answer(code, headers, complete=False), False
    remaining = int(length) - len(body)
    if remaining < 0:
        raise _Failed("more bytes than Content-Length")
    sink(body)
    while remaining:
        chunk = connection.recv(min(_CHUNK, remaining))
        if not chunk:
            raise _Failed("body shorter than Content-Length")
        sink(chunk)
        remaining -= len(chunk)
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return _Answer(code, headers, complete=True), keep


def _page(body: bytes) -> dict[str, Any]:
    """A ListObjectsV2 result as botocore parses it, url-encoded names decoded."""
    root = ElementTree.fromstring(body)  # noqa: S314 - the store's own answer, no DTDs
    page: dict[str, Any] = {"Contents": [], "CommonPrefixes": [], "IsTruncated": False}
    encoded = False
    for child in root:
        tag = child.tag.rpartition("}")[2]
        if tag == "Contents":
            page["Contents"].append(_object(child))
        elif tag == "CommonPrefixes":
            page["CommonPrefixes"].append({"Prefix": _text(child, "Prefix")})
        elif tag == "IsTruncated":
            page["IsTruncated"] = (child.text or "").strip() == "true"
        elif tag == "NextContinuationToken":
            page["NextContinuationToken"] = child.text or ""
        elif tag == "EncodingType":
            encoded = (child.text or "") == "url"
    if encoded:  # as botocore's decode_list_object_v2
        for item in page["Contents"]:
            item["Key"] = unquote_plus(item["Key"])
        for item in page["CommonPrefixes"]:
            item["Prefix"] = unquote_plus(item["Prefix"])
    return page


def _object(element: ElementTree.Element) -> dict[str, Any]:
    item: dict[str, Any] = {"ChecksumAlgorithm": []}
    for field in element:
        tag, text = field.tag.rpartition("}")[2], field.text or ""
        if tag == "Key":
            item["Key"] = text
        elif tag == "Size":
            item["Size"] = int(text)
        elif tag == "ETag":
            item["ETag"] = text
        elif tag == "LastModified":
            item["LastModified"] = s3client.timestamp(text)
        elif tag == "ChecksumAlgorithm":
            item["ChecksumAlgorithm"].append(text)
    if "Key" not in item or "Size" not in item or "LastModified" not in item:
        raise KeyError("a listed object without Key, Size or LastModified")
    return item


def _text(element: ElementTree.Element, tag: str) -> str:
    for child in element:
        if child.tag.rpartition("}")[2] == tag:
            return child.text or ""
    raise KeyError(tag)
