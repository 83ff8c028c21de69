"""``lifeboat.dns``, the Route 53 boundary, against a moto server over real HTTP."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lifeboat import dns
from lifeboat.errors import AccessError, StepTimeout
from lifeboat.sandbox.s3 import MotoServer
from tests.conftest import AuthS3


@pytest.fixture
def route53(s3: MotoServer) -> Iterator[Any]:
    """The moto server as the environment's endpoint; yields a set-up client for it."""
    dns.client.cache_clear()
    yield s3.client("route53")
    dns.client.cache_clear()


@pytest.fixture
def zone(route53: Any) -> tuple[str, str]:
    """A fresh hosted zone (moto is shared by the session): (name, id)."""
    name = f"z{uuid.uuid4().hex[:10]}.example.com"
    created = route53.create_hosted_zone(Name=name, CallerReference=uuid.uuid4().hex)
    return name, created["HostedZone"]["Id"].rsplit("/", 1)[-1]


def _put(route53: Any, zone_id: str, name: str, type: str, ttl: int, *values: str) -> None:
    # Without the final dot, as lifeboat.dns sends names: moto matches a later DELETE by it.
    record = {
        "Name": name,
        "Type": type,
        "TTL": ttl,
        "ResourceRecords": [{"Value": v} for v in values],
    }
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
    )


def test_zone_id_finds_the_zone_by_exact_name(zone: tuple[str, str]) -> None:
    name, zone_id = zone
    assert dns.zone_id(name) == zone_id
    assert dns.zone_id(name.upper() + ".") == zone_id


def test_a_missing_zone_is_access_no_zone(route53: Any) -> None:
    with pytest.raises(dns.DnsError) as info:
        dns.zone_id("no-such-zone.example.org")
    assert info.value.code == "access.no_zone"
    assert str(info.value).startswith("no-such-zone.example.org.: no hosted zone of that name")


def test_a_deleted_zone_id_is_access_no_zone(route53: Any, zone: tuple[str, str]) -> None:
    route53.delete_hosted_zone(Id=zone[1])
    with pytest.raises(dns.DnsError) as info:
        dns.records(zone[1], f"www.{zone[0]}")
    assert info.value.code == "access.no_zone"
    assert "ListResourceRecordSets failed: NoSuchHostedZone" in str(info.value)


def test_read_upsert_and_wait_insync(zone: tuple[str, str]) -> None:
    name, zone_id = zone
    www = f"www.{name}."
    assert dns.read(zone_id, www, "A") is None
    change = dns.upsert(zone_id, www, "A", 60, ["198.51.100.7"])
    assert change
    # moto answers INSYNC to the first GetChange: no polling, no sleep.
    assert 0 <= dns.wait_insync(change, timeout=5, poll=0.1) < 2
    assert dns.read(zone_id, www, "A") == dns.Record(www, "A", 60, ("198.51.100.7",))
    assert dns.read(zone_id, www, "AAAA") is None
    dns.upsert(zone_id, www, "A", 300, ["203.0.113.5", "203.0.113.6"])
    assert dns.read(zone_id, www, "A") == dns.Record(www, "A", 300, ("203.0.113.5", "203.0.113.6"))


def test_records_lists_one_name_only(route53: Any, zone: tuple[str, str]) -> None:
    name, zone_id = zone
    _put(route53, zone_id, f"www.{name}", "A", 60, "203.0.113.5")
    _put(route53, zone_id, f"www.{name}", "AAAA", 60, "2001:db8::5")
    _put(route53, zone_id, f"wwx.{name}", "A", 60, "203.0.113.9")  # sorts right after
    found = dns.records(zone_id, f"www.{name}")
    assert sorted((r.type, r.values) for r in found) == [
        ("A", ("203.0.113.5",)),
        ("AAAA", ("2001:db8::5",)),
    ]


def test_upsert_replacing_another_type_and_delete(route53: Any, zone: tuple[str, str]) -> None:
    name, zone_id = zone
    www = f"www.{name}."
    _put(route53, zone_id, f"www.{name}", "CNAME", 300, "web-a.example.net")
    cname = dns.read(zone_id, www, "CNAME")
    assert cname is not None
    dns.upsert(zone_id, www, "A", 60, ["198.51.100.7"], replacing=cname)
    assert [(r.type, r.values) for r in dns.records(zone_id, www)] == [("A", ("198.51.100.7",))]
    a = dns.read(zone_id, www, "A")
    assert a is not None
    dns.delete(zone_id, a)
    assert dns.records(zone_id, www) == []


def test_qualify_names_relative_to_the_zone() -> None:
    assert dns.qualify("www", "example.com") == "www.example.com."
    assert dns.qualify("WWW.Example.com", "example.com.") == "www.example.com."
    assert dns.qualify("www.example.com.", "example.com") == "www.example.com."
    assert dns.qualify("@", "example.com") == "example.com."
    assert dns.qualify("www.other.org", "example.com") == "www.other.org.example.com."
    with pytest.raises(ValueError, match=r"not a name in the zone example\.com\."):
        dns.qualify("www.other.org.", "example.com")


def test_record_type_from_the_value() -> None:
    assert dns.record_type("198.51.100.7") == "A"
    assert dns.record_type("2001:db8::7") == "AAAA"
    assert dns.record_type("standby.example.net") == "CNAME"
    assert dns.same_values(
        ["2001:DB8:0::7", "web.Example.net."], ("web.example.net", "2001:db8::7")
    )
    assert not dns.same_values(["198.51.100.7"], ["198.51.100.8"])


def test_a_stopped_endpoint_is_access_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    dns.client.cache_clear()
    try:
        with pytest.raises(dns.DnsError) as info:
            dns.zone_id("example.com")
    finally:
        dns.client.cache_clear()
    assert isinstance(info.value, AccessError)
    assert info.value.code == "access.unreachable"
    assert "the endpoint is down or unreachable; ListHostedZonesByName failed" in str(info.value)


def test_refused_credentials_are_access_denied(
    s3_auth: AuthS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_auth.env("AKIANOTAKEY00000000", "wrong").items():
        monkeypatch.setenv(key, value)
    dns.client.cache_clear()
    try:
        with pytest.raises(dns.DnsError) as info:
            dns.zone_id("example.com")
    finally:
        dns.client.cache_clear()
    assert info.value.code == "access.denied", str(info.value)
    assert "credentials refused" in str(info.value)


class _Pending(BaseHTTPRequestHandler):
    """Answers every request as Route 53 answers GetChange for a change not yet applied."""

    def do_GET(self) -> None:
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<GetChangeResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
            b"<ChangeInfo><Id>/change/C1PENDING</Id><Status>PENDING</Status>"
            b"<SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_wait_insync_gives_up_on_a_change_that_stays_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto never answers PENDING, so this one stand-in (real HTTP, Route 53's XML) does.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pending)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    dns.client.cache_clear()
    try:
        with pytest.raises(StepTimeout, match=r"^C1PENDING: change still PENDING after \d+ s"):
            dns.wait_insync("C1PENDING", timeout=0.3, poll=0.05)
    finally:
        dns.client.cache_clear()
        server.shutdown()
        server.server_close()
        thread.join(5)
