"""Route 53 for the DNS actions: the one place that talks to its API (through boto3).

Like ``lifeboat.storage``, every botocore error is converted here into a ``DnsError``
saying what (the operation), where (the zone or record) and why (the service's code and
message), with an ``access.*`` code: ``access.denied`` (credentials refused),
``access.unreachable`` (the endpoint is down), ``access.no_zone`` (no hosted zone of that
name, or the id is gone) and ``access.failed`` for the rest (a change Route 53 rejects).

boto3 honours ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_ROUTE_53`` for this service
alone), which is how the tests and the sandbox send these calls to a moto server.

Names are handled as Route 53 returns them: lower case, absolute (trailing dot), with
``\\052`` for ``*``. Names are *sent* without the trailing dot; Route 53 accepts both, and
moto matches a DELETE against the earlier UPSERT by the name as it was sent without one.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lifeboat import aws
from lifeboat.errors import AccessError, StepError, StepTimeout

_lock = threading.Lock()


class DnsError(AccessError):
    """A Route 53 call failed: the API could not be reached, refused us, or the zone is gone."""


_NO_ZONE = {
    code: ("access.no_zone", "the hosted zone does not exist at this endpoint")
    for code in ("NoSuchHostedZone", "HostedZoneNotFound")
}


@dataclass(frozen=True)
class Record:
    """One resource record set as Route 53 holds it (simple routing only)."""

    name: str  # absolute, lower case: "www.example.com."
    type: str  # "A", "AAAA", "CNAME", ...
    ttl: int | None  # None for an alias record
    values: tuple[str, ...]  # empty for an alias record
    alias: str | None = None  # the alias target's DNS name, for an alias record
    set_identifier: str | None = None  # weighted, latency, failover... records have one

    def as_dict(self) -> dict[str, Any]:
        """For evidence and the journal."""
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "ttl": self.ttl,
            "values": list(self.values),
        }
        if self.alias is not None:
            data["alias"] = self.alias
        if self.set_identifier is not None:
            data["set_identifier"] = self.set_identifier
        return data


@functools.cache
def client() -> Any:
    """A shared Route 53 client (thread-safe; ``cache_clear()`` to re-read the environment).

    A session of its own, not boto3's default one, which keeps the first credentials it
    resolved for the life of the process (see ``lifeboat.storage.client``). Route 53 is a
    global service: in the aws partition boto3 signs for us-east-1 whatever the region.
    """
    with _lock:  # sessions are not thread-safe while creating clients
        session = boto3.session.Session()
        return session.client(
            "route53",
            # Needed to sign when AWS_ENDPOINT_URL is set and no region is configured.
            region_name=session.region_name or "us-east-1",
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60
            ),
        )


def _failed(operation: str, where: str, exc: Exception) -> DnsError:
    """Our error for a botocore one: the operation, the service's words, and what to check."""
    failure = aws.explain(exc, _NO_ZONE)
    said = f"{failure.hint}; " if failure.hint else ""
    return DnsError(f"{said}{operation} failed: {failure.why}", target=where, code=failure.code)


def _call(operation: str, where: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _failed(operation, where, exc) from exc


# --- names ---


def absolute(name: str) -> str:
    """``name`` lower case with its trailing dot: how Route 53 answers."""
    return name.lower().rstrip(".") + "."


def qualify(record: str, zone_name: str) -> str:
    """The absolute name of ``record`` in ``zone_name``.

    ``www`` is relative to the zone; ``www.example.com`` (with or without the final dot)
    is already a name in it; ``@`` or ``""`` is the zone's apex. An absolute name (final
    dot) outside the zone is a ``ValueError``, as Route 53 would refuse it.
    """
    zone = absolute(zone_name)
    if record in ("", "@"):
        return zone
    name = absolute(record)
    if name == zone or name.endswith("." + zone):
        return name
    if record.endswith("."):
        raise ValueError(f"{record!r} is not a name in the zone {zone}")
    return f"{name}{zone}"


def _unescape(name: str) -> str:
    """Route 53 answers some characters as octal escapes (``\\052`` for ``*``)."""
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), name).lower()


def record_type(value: str) -> str:
    """The record type a value needs: A for an IPv4 address, AAAA for IPv6, else CNAME."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "CNAME"
    return "A" if address.version == 4 else "AAAA"


def same_values(a: tuple[str, ...] | list[str], b: tuple[str, ...] | list[str]) -> bool:
    """Whether two value lists say the same thing (order, case, final dot, IPv6 spelling)."""

    def canonical(value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value.lower().rstrip(".")

    return sorted(map(canonical, a)) == sorted(map(canonical, b))


# --- the API ---


def zone_id(zone_name: str) -> str:
    """The id (``Z...``) of the hosted zone named exactly ``zone_name`` (ListHostedZonesByName).

    No such zone is ``access.no_zone``; two of that name (a public and a private one,
    split-horizon) is ``access.failed``: which one to change is not ours to guess.
    """
    zone = absolute(zone_name)
    answer = _call(
        "ListHostedZonesByName",
        zone,
        client().list_hosted_zones_by_name,
        DNSName=zone,
        MaxItems="10",
    )
    found = [z for z in answer.get("HostedZones", []) if absolute(_unescape(z["Name"])) == zone]
    if not found:
        raise DnsError(
            "no hosted zone of that name (ListHostedZonesByName)",
            target=zone,
            code="access.no_zone",
        )
    if len(found) > 1:
        raise DnsError(
            f"{len(found)} hosted zones have that name (public and private?): ambiguous",
            target=zone,
            code="access.failed",
        )
    return str(found[0]["Id"]).rsplit("/", 1)[-1]


def records(zone: str, name: str) -> list[Record]:
    """Every record set named ``name`` in the hosted zone whose id is ``zone``."""
    wanted = absolute(name)
    answer = _call(
        "ListResourceRecordSets",
        wanted,
        client().list_resource_record_sets,
        HostedZoneId=zone,
        StartRecordName=wanted,
        MaxItems="100",
    )
    found = []
    for item in answer.get("ResourceRecordSets", []):
        if absolute(_unescape(item["Name"])) != wanted:
            continue  # the listing starts at the name and goes on with the next ones
        alias = item.get("AliasTarget")
        found.append(
            Record(
                name=wanted,
                type=str(item["Type"]),
                ttl=int(item["TTL"]) if "TTL" in item else None,
                values=tuple(str(r["Value"]) for r in item.get("ResourceRecords", [])),
                alias=str(alias["DNSName"]) if alias else None,
                set_identifier=item.get("SetIdentifier"),
            )
        )
    return found


def read(zone: str, name: str, type: str) -> Record | None:
    """The record set of ``type`` named ``name`` in zone ``zone`` (an id); None when absent."""
    return next((r for r in records(zone, name) if r.type == type.upper()), None)


def _record_set(name: str, type: str, ttl: int, values: tuple[str, ...] | list[str]) -> Any:
    return {
        "Name": name.rstrip("."),
        "Type": type,
        "TTL": ttl,
        "ResourceRecords": [{"Value": value} for value in values],
    }


def _change(zone: str, name: str, changes: list[dict[str, Any]], comment: str) -> str:
    answer = _call(
        "ChangeResourceRecordSets",
        name,
        client().change_resource_record_sets,
        HostedZoneId=zone,
        ChangeBatch={"Comment": comment, "Changes": changes},
    )
    return str(answer["ChangeInfo"]["Id"]).rsplit("/", 1)[-1]


def upsert(
    zone: str,
    name: str,
    type: str,
    ttl: int,
    values: tuple[str, ...] | list[str],
    *,
    replacing: Record | None = None,
) -> str:
    """Create or replace the record set ``name``/``type``; returns the change id.

    ``replacing`` is a record of another type to delete in the same change batch, which
    Route 53 applies atomically: a CNAME cannot live beside an A record of the same name,
    so switching between the two is a DELETE and an UPSERT at once.
    """
    changes = []
    if replacing is not None:
        changes.append({"Action": "DELETE", "ResourceRecordSet": _existing(replacing)})
    changes.append({"Action": "UPSERT", "ResourceRecordSet": _record_set(name, type, ttl, values)})
    return _change(zone, absolute(name), changes, "lifeboat dns.switch")


def delete(zone: str, record: Record) -> str:
    """Delete ``record`` exactly as read (Route 53 requires its TTL and values); the change id."""
    changes = [{"Action": "DELETE", "ResourceRecordSet": _existing(record)}]
    return _change(zone, record.name, changes, "lifeboat dns.delete")


def _existing(record: Record) -> Any:
    if record.alias is not None or record.ttl is None or record.set_identifier is not None:
        raise StepError(
            f"the {record.type} record is an alias or has a routing policy: lifeboat changes "
            "simple records only",
            target=record.name,
        )
    return _record_set(record.name, record.type, record.ttl, record.values)


def wait_insync(change_id: str, timeout: float = 300.0, poll: float = 5.0) -> float:
    """Poll GetChange until the change is INSYNC (on every Route 53 name server); the
    seconds waited. Raises ``StepTimeout`` when it is still PENDING after ``timeout``.

    Real Route 53 answers PENDING for the first tens of seconds. moto (5.2) answers INSYNC
    at once, to every GetChange, even for an id it never issued, and gives every change
    the same id (C2682N5HXP0BZ4): against moto this returns after one call.
    """
    started = time.monotonic()
    while True:
        answer = _call("GetChange", change_id, client().get_change, Id=change_id)
        status = str(answer["ChangeInfo"]["Status"])
        waited = time.monotonic() - started
        if status == "INSYNC":
            return round(waited, 3)
        if waited >= timeout:
            raise StepTimeout(
                f"change still {status} after {waited:.0f} s (the record is changed; "
                "its propagation to every Route 53 name server is not confirmed)",
                target=change_id,
            )
        time.sleep(min(poll, max(timeout - waited, 0.0)))
