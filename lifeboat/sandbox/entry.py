"""The public entry point: "www.example.com" on loopback, routed by the Route 53 record.

A failover ends with DNS: the runbook switches ``www.example.com.`` in Route 53 from the
primary's address to the standby's, and the public health check must follow. This reverse
proxy makes that real in the sandbox: for each request it reads the record from the moto
server (A, AAAA or CNAME; at most 1 s old), maps the address to a sandbox site through the
``routes.json`` that ``lifeboat sandbox seed`` wrote beside the SSH aliases, and forwards
the GET (or HEAD) to that site's web app. A missing or unmapped record, or a site whose app
is down, answers 502 with a JSON body saying which.

It is a ``ThreadingHTTPServer`` in a thread of the sandbox's process, like the receiver,
rather than a process of its own: it needs the moto URL and every site's app port, which
that process has, and it stops with the sandbox (the keeper of ``lifeboat sandbox up``
owns it, recorded as an ``in-process`` service). The Route 53 client is made once; its
answer is cached for ``cache_seconds`` under a lock, so a probe every 50 ms costs at most
one lookup per second and the switch shows within about a second.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from lifeboat.sandbox.lifecycle import ThreadedHttp
from lifeboat.sandbox.ports import LOOPBACK

ROUTES_FILE = "routes.json"
ZONE = "example.com."
RECORD = "www.example.com."
CACHE_SECONDS = 1.0
UPSTREAM_TIMEOUT_S = 5.0
_TYPES = ("A", "AAAA", "CNAME")


class NoRoute(Exception):
    """Why a request cannot be routed (the 502 body says it)."""


@dataclass(frozen=True)
class Route:
    """Where the record points now: its value, the sandbox site and that site's app URL."""

    address: str
    site: str
    upstream: str


def fqdn(name: str) -> str:
    """``Example.com`` -> ``example.com.``: Route 53 names are absolute and lower case."""
    return name.lower().rstrip(".") + "."


def routes_file(ssh_config: Path) -> Path:
    """``routes.json`` lives beside the SSH config whose aliases it repeats, so the two are
    always written together and a caller that knows one (the CLI's seed) finds the other."""
    return ssh_config.with_name(ROUTES_FILE)


def read_routes(path: Path) -> dict[str, str]:
    """``routes.json`` (host address -> sandbox site); empty when not seeded yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NoRoute(f"unreadable routes file {path}: {exc}") from exc
    return {str(k).lower().rstrip("."): str(v) for k, v in data.items()}


class Entry(ThreadedHttp):
    """HTTP on ``127.0.0.1:port`` forwarding to the site the Route 53 record points at."""

    service = "entry"

    def __init__(
        self,
        routes: Path,
        *,
        moto_url: Callable[[], str],
        upstreams: Callable[[], Mapping[str, str]],
        zone: str = ZONE,
        record: str = RECORD,
        port: int | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        """``moto_url`` and ``upstreams`` (site -> app URL) are read when needed: the
        services they describe get their ports when the sandbox starts."""
        super().__init__(port=port)
        self.routes = routes
        self.zone = fqdn(zone)
        self.record = fqdn(record)
        self.cache_seconds = cache_seconds
        self._moto_url = moto_url
        self._upstreams = upstreams
        self._api: Any = None
        self._lock = threading.Lock()
        self._cached: tuple[float, str | NoRoute] | None = None

    def _server_for(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    def start(self) -> Self:
        """Bind and serve in a thread; the Route 53 client is made first (boto3 loads)."""
        from lifeboat.sandbox.s3 import aws_client

        self._api = aws_client("route53", endpoint_url=self._moto_url(), region="us-east-1")
        return super().start()

    def stop(self) -> None:
        super().stop()
        self._cached = None

    def route(self) -> Route:
        """Where a request goes now; ``NoRoute`` says why it cannot go anywhere."""
        address = self._address()
        site = read_routes(self.routes).get(address)
        if site is None:
            raise NoRoute(
                f"{self.record} points at {address}, which is no sandbox host "
                f"(not in {self.routes}: run `lifeboat sandbox seed`)"
            )
        upstream = self._upstreams().get(site)
        if upstream is None:
            raise NoRoute(f"{self.record} points at {address} on {site}, which has no app")
        return Route(address, site, upstream)

    def _address(self) -> str:
        """The record's value, from Route 53 at most ``cache_seconds`` ago."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                try:
                    value: str | NoRoute = self._lookup()
                except NoRoute as exc:
                    value = exc
                self._cached = (now, value)
            found = self._cached[1]
        if isinstance(found, NoRoute):
            raise found
        return found

    def _lookup(self) -> str:
        try:
            zones = self._api.list_hosted_zones_by_name(DNSName=self.zone)["HostedZones"]
            zone = next((z for z in zones if fqdn(z["Name"]) == self.zone), None)
            if zone is None:
                raise NoRoute(f"Route 53 has no zone {self.zone}")
            pages = self._api.get_paginator("list_resource_record_sets")
            for page in pages.paginate(HostedZoneId=zone["Id"]):
                for record in page["ResourceRecordSets"]:
                    values = record.get("ResourceRecords") or []
                    if fqdn(record["Name"]) == self.record and record["Type"] in _TYPES and values:
                        return str(values[0]["Value"]).lower().rstrip(".")
        except NoRoute:
            raise
        except Exception as exc:  # botocore and socket errors: the lookup itself failed
            raise NoRoute(f"cannot read {self.record} from Route 53: {exc}") from exc
        raise NoRoute(f"zone {self.zone} has no A, AAAA or CNAME record {self.record}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], entry: Entry) -> None:
        self.entry = entry
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        entry = self.server.entry
        try:
            route = entry.route()
        except NoRoute as exc:
            self._fail(str(exc))
            return
        where = urlsplit(route.upstream)
        upstream = http.client.HTTPConnection(
            where.hostname or LOOPBACK, where.port, timeout=UPSTREAM_TIMEOUT_S
        )
        try:
            upstream.request(self.command, self.path, headers={"Accept": "*/*"})
            answer = upstream.getresponse()
            body = answer.read()
        except OSError as exc:
            self._fail(f"{route.site} ({route.address}) is down: {route.upstream}: {exc}", route)
            return
        finally:
            upstream.close()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(body)))
        self._route_headers(route)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _fail(self, why: str, route: Route | None = None) -> None:
        entry = self.server.entry
        body = json.dumps({"error": why, "record": entry.record}).encode()
        self.send_response(502)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if route is not None:
            self._route_headers(route)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route_headers(self, route: Route) -> None:
        """Which site answered: what a drill report and a debugging operator want to see."""
        self.send_header("X-Lifeboat-Site", route.site)
        self.send_header("X-Lifeboat-Address", route.address)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: health probes come every 50 ms."""
