"""``dns.switch`` and ``dns.delete`` called as the engine calls them, against moto's Route 53."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from lifeboat import changes, dns
from lifeboat.actions.dns import DnsSwitchParams  # importing registers the actions
from lifeboat.changes import Change
from lifeboat.errors import StepError
from lifeboat.registry import StepOutput, Undo, registry
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.s3 import MotoServer
from lifeboat.testing import RunbookContext

WEB_A, WEB_B = "203.0.113.5", "198.51.100.7"


@pytest.fixture
def route53(s3: MotoServer) -> Iterator[Any]:
    """The moto server as the environment's endpoint; yields a set-up client for it."""
    dns.client.cache_clear()
    yield s3.client("route53")
    dns.client.cache_clear()


@pytest.fixture
def zone(route53: Any) -> str:
    """A fresh hosted zone's name (moto is shared by the whole session)."""
    name = f"z{uuid.uuid4().hex[:10]}.example.com"
    route53.create_hosted_zone(Name=name, CallerReference=uuid.uuid4().hex)
    return name


@pytest.fixture
def ctx() -> RunbookContext:
    runbook = Runbook.model_validate(
        {
            "id": "dns-test",
            "version": "1.0.0",
            "title": "DNS failover",
            "owner": "sre@example.com",
            "sites": {
                "par-1": {"provider": "ovh", "region": "eu-west-3"},
                "fra-1": {"provider": "aws", "region": "eu-central-1"},
            },
            "hosts": {
                "web-a": {"site": "par-1", "address": WEB_A},
                "web-b": {"site": "fra-1", "address": WEB_B},
                "web-c": {"site": "fra-1", "address": "standby.example.net"},
                "web-6": {"site": "fra-1", "address": "2001:db8::7"},
            },
            "steps": [{"id": "switch", "action": "dns.switch", "with": {"to": "web-b"}}],
        }
    )
    return RunbookContext(runbook=runbook, mode="live")


def run(name: str, with_: dict[str, Any], ctx: RunbookContext) -> StepOutput:
    """As the engine runs a step or a recorded undo: look up, validate ``with``, call."""
    spec = registry.get(name)
    assert spec is not None
    return spec.function(spec.params.model_validate(with_), ctx)


def put(route53: Any, zone: str, type: str, ttl: int, *values: str, name: str = "www") -> None:
    zone_id = dns.zone_id(zone)
    record = {
        "Name": f"{name}.{zone}",
        "Type": type,
        "TTL": ttl,
        "ResourceRecords": [{"Value": v} for v in values],
    }
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
    )


def current(zone: str, name: str = "www") -> list[tuple[str, int | None, tuple[str, ...]]]:
    found = dns.records(dns.zone_id(zone), dns.qualify(name, zone))
    return sorted((r.type, r.ttl, r.values) for r in found)


def test_registered_as_reversible_switch_and_irreversible_delete() -> None:
    switch, delete = registry.get("dns.switch"), registry.get("dns.delete")
    assert switch is not None and delete is not None
    assert (switch.kind, switch.reversible) == ("action", True)
    assert (delete.kind, delete.reversible) == ("action", False)
    assert list(switch.references()) == [("to", "hosts")]


def test_switch_from_web_a_to_web_b(route53: Any, zone: str, ctx: RunbookContext) -> None:
    put(route53, zone, "A", 300, WEB_A)
    output = run("dns.switch", {"zone": zone, "record": "www", "to": "web-b"}, ctx)
    assert current(zone) == [("A", 60, (WEB_B,))]
    evidence = output.evidence
    assert evidence["name"] == f"www.{zone}."
    assert (evidence["type"], evidence["ttl"], evidence["new"]) == ("A", 60, [WEB_B])
    assert evidence["previous"] == {
        "name": f"www.{zone}.",
        "type": "A",
        "ttl": 300,
        "values": [WEB_A],
    }
    assert evidence["change_id"]
    assert isinstance(evidence["insync_seconds"], float)
    assert output.undo == Undo(
        action="dns.switch",
        with_={"zone": zone, "record": "www", "value": WEB_A, "type": "A", "ttl": 300},
    )
    assert output.summary.startswith(f"www.{zone}. A -> {WEB_B} (was A {WEB_A}), INSYNC after ")
    # The previous value is logged before the change is submitted.
    assert ctx.lines[0] == f"www.{zone}.: was A ['{WEB_A}'] TTL 300 (kept for the undo)"
    assert ctx.lines[1].startswith(f"www.{zone}.: A ['{WEB_B}'] TTL 60 submitted as change ")


def test_running_the_undo_restores_the_old_value(
    route53: Any, zone: str, ctx: RunbookContext
) -> None:
    put(route53, zone, "A", 300, WEB_A, "203.0.113.6")
    output = run("dns.switch", {"zone": zone, "record": f"www.{zone}", "to": "web-b"}, ctx)
    assert output.undo is not None
    assert output.undo.with_["value"] == [WEB_A, "203.0.113.6"]
    # As the journal keeps it and a rollback reads it back.
    undo = Undo.model_validate(output.undo.model_dump(by_alias=True))
    back = run(undo.action, undo.with_, ctx)
    assert current(zone) == [("A", 300, (WEB_A, "203.0.113.6"))]
    assert back.evidence["previous"]["values"] == [WEB_B]


def test_second_switch_changes_nothing(route53: Any, zone: str, ctx: RunbookContext) -> None:
    put(route53, zone, "A", 300, WEB_A)
    with_ = {"zone": zone, "record": "www", "to": "web-b"}
    assert run("dns.switch", with_, ctx).undo is not None
    again = run("dns.switch", with_, ctx)
    assert again.undo is None
    assert again.summary == f"www.{zone}. already pointing at {WEB_B} (A): nothing changed"
    assert again.evidence["change_id"] is None
    assert current(zone) == [("A", 60, (WEB_B,))]


def test_same_value_with_another_ttl_is_a_change(
    route53: Any, zone: str, ctx: RunbookContext
) -> None:
    put(route53, zone, "A", 300, WEB_B)
    output = run("dns.switch", {"zone": zone, "record": "www", "value": WEB_B}, ctx)
    assert current(zone) == [("A", 60, (WEB_B,))]
    assert output.undo is not None and output.undo.with_["ttl"] == 300


def test_a_new_record_is_undone_by_dns_delete(route53: Any, zone: str, ctx: RunbookContext) -> None:
    output = run("dns.switch", {"zone": zone, "record": "www", "to": "web-b"}, ctx)
    assert current(zone) == [("A", 60, (WEB_B,))]
    assert output.evidence["previous"] is None
    assert output.summary.startswith(f"www.{zone}. A -> {WEB_B} (new record), INSYNC")
    assert output.undo == Undo(
        action="dns.delete", with_={"zone": zone, "record": "www", "value": WEB_B, "type": "A"}
    )
    deleted = run(output.undo.action, output.undo.with_, ctx)
    assert current(zone) == []
    assert deleted.evidence["deleted"]["values"] == [WEB_B]
    assert deleted.undo is None
    again = run(output.undo.action, output.undo.with_, ctx)
    assert again.summary == f"www.{zone}. has no A record: nothing to delete"


def test_dns_delete_leaves_a_record_changed_since(
    route53: Any, zone: str, ctx: RunbookContext
) -> None:
    output = run("dns.switch", {"zone": zone, "record": "www", "to": "web-b"}, ctx)
    assert output.undo is not None
    put(route53, zone, "A", 60, "192.0.2.1")  # someone else pointed it elsewhere meanwhile
    with pytest.raises(StepError, match=r"changed since, not deleted"):
        run(output.undo.action, output.undo.with_, ctx)
    assert current(zone) == [("A", 60, ("192.0.2.1",))]


def test_switch_between_cname_and_a_and_back(route53: Any, zone: str, ctx: RunbookContext) -> None:
    put(route53, zone, "CNAME", 300, "primary.example.net")
    output = run("dns.switch", {"zone": zone, "record": "www", "to": "web-b"}, ctx)
    assert current(zone) == [("A", 60, (WEB_B,))]
    assert output.undo is not None
    assert output.undo.with_ == {
        "zone": zone,
        "record": "www",
        "value": "primary.example.net",
        "type": "CNAME",
        "ttl": 300,
    }
    run(output.undo.action, output.undo.with_, ctx)
    assert current(zone) == [("CNAME", 300, ("primary.example.net",))]


def test_host_name_gives_cname_and_ipv6_gives_aaaa(
    route53: Any, zone: str, ctx: RunbookContext
) -> None:
    run("dns.switch", {"zone": zone, "record": "www", "to": "web-c"}, ctx)
    assert current(zone) == [("CNAME", 60, ("standby.example.net",))]
    output = run("dns.switch", {"zone": zone, "record": "v6", "to": "web-6", "ttl": 30}, ctx)
    assert current(zone, "v6") == [("AAAA", 30, ("2001:db8::7",))]
    assert output.undo is not None and output.undo.action == "dns.delete"


def test_the_other_address_family_is_left_alone(
    route53: Any, zone: str, ctx: RunbookContext
) -> None:
    put(route53, zone, "AAAA", 300, "2001:db8::5")
    put(route53, zone, "A", 300, WEB_A)
    output = run("dns.switch", {"zone": zone, "record": "www", "to": "web-b"}, ctx)
    assert current(zone) == [("A", 60, (WEB_B,)), ("AAAA", 300, ("2001:db8::5",))]
    assert [r["type"] for r in output.evidence["untouched"]] == ["AAAA"]
    assert "the AAAA record ['2001:db8::5'] is left as it is" in ctx.lines[1]


def test_host_address_must_fit_the_type(route53: Any, zone: str, ctx: RunbookContext) -> None:
    with pytest.raises(StepError, match=r"^web-c: host web-c: type A cannot hold"):
        run("dns.switch", {"zone": zone, "record": "www", "to": "web-c", "type": "A"}, ctx)
    assert current(zone) == []


def test_a_missing_zone_changes_nothing(route53: Any, ctx: RunbookContext) -> None:
    with pytest.raises(dns.DnsError) as info:
        run("dns.switch", {"zone": "absent.example.org", "record": "www", "to": "web-b"}, ctx)
    assert info.value.code == "access.no_zone"


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ({"to": "web-b", "value": WEB_B}, "give exactly one of 'to' (a runbook host) or 'value'"),
        ({}, "give exactly one of 'to' (a runbook host) or 'value'"),
        ({"value": "standby.example.net", "type": "A"}, "type A cannot hold"),
        ({"value": [WEB_A, "2001:db8::7"]}, "values mix A and AAAA records"),
        ({"value": ["a.example.net", "b.example.net"]}, "a CNAME has one value, not 2"),
        ({"value": WEB_B, "record": "www.other.org."}, "is not a name in the zone"),
        ({"value": WEB_B, "type": "MX"}, "Input should be 'A', 'AAAA' or 'CNAME'"),
    ],
)
def test_invalid_parameters(with_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        DnsSwitchParams.model_validate({"zone": "example.com", "record": "www", **with_})


def test_switch_and_delete_record_the_record_before_and_after(
    route53: Any, zone: str, ctx: RunbookContext
) -> None:
    put(route53, zone, "A", 300, WEB_A)
    switched = run("dns.switch", {"zone": zone, "record": "www", "to": "web-b"}, ctx)
    assert changes.read(switched.evidence) == [
        Change(what=f"www.{zone}. A", before=f"A {WEB_A} TTL 300", after=f"A {WEB_B} TTL 60")
    ]
    again = run("dns.switch", {"zone": zone, "record": "www", "to": "web-b"}, ctx)
    (same,) = changes.read(again.evidence) or []
    assert same.before == same.after == f"A {WEB_B} TTL 60"  # nothing changed, and it says so
    with_ = {"zone": zone, "record": "www", "value": WEB_B, "type": "A"}
    deleted = run("dns.delete", with_, ctx)
    assert changes.read(deleted.evidence) == [
        Change(what=f"www.{zone}. A", before=f"A {WEB_B} TTL 60", after="deleted")
    ]
    assert changes.read(run("dns.delete", with_, ctx).evidence) == []  # nothing left to delete
