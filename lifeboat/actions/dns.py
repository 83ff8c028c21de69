"""DNS actions on Route 53: point a record at the standby (``dns.switch``), and remove a
record a switch created (``dns.delete``, the undo of a switch that found no record).

``dns.switch`` reads the record it is about to change and logs it before changing
anything; the ``Undo`` it returns restores exactly that (type, TTL, values), so a rollback
or a later ``lifeboat rollback`` puts the old address back. Only simple records are
handled: an alias or a weighted/latency/failover record at the name is refused, unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from lifeboat import dns
from lifeboat.changes import Change, recorded
from lifeboat.errors import StepError, StepTimeout
from lifeboat.registry import Params, Ref, StepContext, StepOutput, Undo, registry, runbook_of

RecordType = Literal["A", "AAAA", "CNAME"]
_ADDRESS_TYPES = ("A", "AAAA", "CNAME")


class DnsSwitchParams(Params):
    zone: str = Field(min_length=1, description="The hosted zone's name, e.g. example.com")
    record: str = Field(
        description="The record: relative to the zone (www; @ for the apex) or a name in it"
    )
    type: RecordType | None = Field(
        None, description="Record type; by default A, AAAA or CNAME from the value"
    )
    to: Annotated[str | None, Ref("hosts")] = Field(
        None, description="A runbook host whose address becomes the record's value"
    )
    value: str | list[str] | None = Field(
        None, description="A literal value (or several, for A/AAAA) instead of a host"
    )
    ttl: int = Field(60, ge=0, le=2_147_483_647, description="TTL of the new record, seconds")
    wait: bool = Field(True, description="Wait until Route 53 reports the change INSYNC")
    timeout: float = Field(300.0, gt=0, le=3600, description="Seconds to wait for INSYNC")

    @field_validator("record")
    @classmethod
    def _in_zone(cls, record: str, info: ValidationInfo) -> str:
        return _check_in_zone(record, info)

    @field_validator("value")
    @classmethod
    def _fits_type(cls, value: str | list[str] | None, info: ValidationInfo) -> Any:
        # A field validator (not the model's) so that the error sits on `value`, which the
        # runbook check skips while `value` is an unresolved parameter; `type` comes first.
        if value is not None:
            _type_of(_as_list(value), info.data.get("type"))
        return value

    @model_validator(mode="after")
    def _one_target(self) -> DnsSwitchParams:
        if (self.to is None) == (self.value is None):
            raise ValueError("give exactly one of 'to' (a runbook host) or 'value'")
        return self


class DnsDeleteParams(Params):
    zone: str = Field(min_length=1, description="The hosted zone's name, e.g. example.com")
    record: str = Field(
        description="The record: relative to the zone (www; @ for the apex) or a name in it"
    )
    type: RecordType | None = Field(
        None, description="Record type; by default A, AAAA or CNAME from the value"
    )
    value: str | list[str] = Field(
        description="The value(s) the record must still have to be deleted"
    )
    wait: bool = Field(True, description="Wait until Route 53 reports the change INSYNC")
    timeout: float = Field(300.0, gt=0, le=3600, description="Seconds to wait for INSYNC")

    @field_validator("record")
    @classmethod
    def _in_zone(cls, record: str, info: ValidationInfo) -> str:
        return _check_in_zone(record, info)

    @field_validator("value")
    @classmethod
    def _fits_type(cls, value: str | list[str], info: ValidationInfo) -> Any:
        _type_of(_as_list(value), info.data.get("type"))
        return value


def _check_in_zone(record: str, info: ValidationInfo) -> str:
    if "zone" in info.data:  # else the zone is invalid, and reported on its own
        dns.qualify(record, info.data["zone"])
    return record


def _as_list(value: str | list[str]) -> list[str]:
    values = [value] if isinstance(value, str) else list(value)
    if not values or not all(v.strip() for v in values):
        raise ValueError("a record needs at least one non-empty value")
    return values


def _type_of(values: list[str], override: str | None) -> str:
    """The record type the values need (checked against ``override`` when given)."""
    kinds = {dns.record_type(v) for v in values}
    if len(kinds) > 1:
        raise ValueError(f"values mix {' and '.join(sorted(kinds))} records: {values}")
    kind = kinds.pop()
    if kind == "CNAME" and len(values) > 1:
        raise ValueError(f"a CNAME has one value, not {len(values)}: {values}")
    if override is not None and override != kind:
        raise ValueError(f"type {override} cannot hold {values} (that is a {kind} value)")
    return kind


def _shown(values: list[str] | tuple[str, ...]) -> str | list[str]:
    """One value as a string, several as a list (how a runbook would write them)."""
    return values[0] if len(values) == 1 else list(values)


def _wait(params: DnsSwitchParams | DnsDeleteParams, change_id: str) -> float | None:
    return dns.wait_insync(change_id, params.timeout) if params.wait else None


def _insync(seconds: float | None) -> str:
    return "not waited for INSYNC" if seconds is None else f"INSYNC after {seconds:.1f} s"


def _target(params: DnsSwitchParams, ctx: StepContext) -> tuple[list[str], str]:
    """The new record's values and type: the host's address, or the literal value."""
    if params.to is None:
        assert params.value is not None  # the validator wants exactly one of them
        values = _as_list(params.value)
        return values, _type_of(values, params.type)
    runbook = runbook_of(ctx)
    if params.to not in runbook.hosts:
        raise StepError(f"host {params.to!r} is not declared in the runbook", target=params.to)
    values = [runbook.hosts[params.to].address]
    try:
        return values, _type_of(values, params.type)
    except ValueError as exc:
        raise StepError(f"host {params.to}: {exc}", target=params.to) from exc


def _replaced(zone: str, name: str, record_type: str) -> tuple[dns.Record | None, list[dns.Record]]:
    """The record the switch replaces (None: there is none), and the ones it leaves alone.

    A CNAME cannot share its name with other records: switching between CNAME and A/AAAA
    replaces the record of the other type (in one atomic change batch). An A record is
    left alone by a switch of the AAAA one, and the other way round.
    """
    present = [r for r in dns.records(zone, name) if r.type in _ADDRESS_TYPES]
    for record in present:
        if record.alias is not None or record.set_identifier is not None:
            raise StepError(
                f"the {record.type} record is an alias or has a routing policy: lifeboat "
                "switches simple records only; nothing changed",
                target=name,
            )
    same = [r for r in present if r.type == record_type]
    conflicting = [r for r in present if r.type != record_type and "CNAME" in (r.type, record_type)]
    if not same and len(conflicting) > 1:
        raise StepError(
            f"has {' and '.join(r.type for r in conflicting)} records: a CNAME would replace "
            "both, and one undo cannot restore both; nothing changed",
            target=name,
        )
    # Route 53 never holds a CNAME beside another record: `same` and `conflicting` are
    # never both non-empty.
    replaced = next(iter(same or conflicting), None)
    return replaced, [r for r in present if r is not replaced]


def _undo(
    params: DnsSwitchParams, replaced: dns.Record | None, values: list[str], record_type: str
) -> Undo:
    """Put back what was there; or, when nothing was, delete what the switch created."""
    where = {"zone": params.zone, "record": params.record}
    if replaced is None:
        return Undo(
            action="dns.delete", with_={**where, "value": _shown(values), "type": record_type}
        )
    return Undo(
        action="dns.switch",
        with_={
            **where,
            "value": _shown(replaced.values),
            "type": replaced.type,
            "ttl": replaced.ttl,
        },
    )


def _words(record: dns.Record | None) -> str:
    """A record as the review shows it: ``CNAME web-a.example.net TTL 60``."""
    if record is None:
        return "no A, AAAA or CNAME record"
    return f"{record.type} {', '.join(record.values)} TTL {record.ttl}"


@registry.action("dns.switch", reversible=True)
def dns_switch(params: DnsSwitchParams, ctx: StepContext) -> StepOutput:
    """Point a Route 53 record at a host (UPSERT, wait INSYNC); the undo restores the old value."""
    values, record_type = _target(params, ctx)
    name = dns.qualify(params.record, params.zone)
    zone = dns.zone_id(params.zone)

    # What is there now, read and logged before anything changes: the undo restores it.
    replaced, untouched = _replaced(zone, name, record_type)
    evidence: dict[str, Any] = {
        "zone": dns.absolute(params.zone),
        "name": name,
        "type": record_type,
        "ttl": params.ttl,
        "previous": replaced.as_dict() if replaced else None,
        "new": values,
        "change_id": None,
        "insync_seconds": None,
    }
    if replaced is None:
        ctx.log(f"{name}: no A, AAAA or CNAME record yet; the undo deletes the new one")
    else:
        ctx.log(
            f"{name}: was {replaced.type} {list(replaced.values)} TTL {replaced.ttl} "
            "(kept for the undo)"
        )
    if untouched:
        evidence["untouched"] = [r.as_dict() for r in untouched]
        for record in untouched:
            ctx.log(f"{name}: the {record.type} record {list(record.values)} is left as it is")

    change = Change(
        what=f"{name} {record_type}",
        before=_words(replaced),
        after=f"{record_type} {', '.join(values)} TTL {params.ttl}",
    )
    evidence |= recorded(change)
    if (
        replaced is not None
        and replaced.type == record_type
        and replaced.ttl == params.ttl
        and dns.same_values(replaced.values, values)
    ):
        return StepOutput(
            summary=f"{name} already pointing at {', '.join(values)} ({record_type}): "
            "nothing changed",
            evidence=evidence,
        )

    undo = _undo(params, replaced, values, record_type)
    other_type = replaced if replaced is not None and replaced.type != record_type else None
    change_id = dns.upsert(zone, name, record_type, params.ttl, values, replacing=other_type)
    evidence["change_id"] = change_id
    ctx.log(f"{name}: {record_type} {values} TTL {params.ttl} submitted as change {change_id}")
    try:
        evidence["insync_seconds"] = _wait(params, change_id)
    except (StepTimeout, dns.DnsError) as exc:
        # The record IS changed, and a failed step gets no rollback: say how to undo it.
        evidence["undo"] = undo.model_dump(by_alias=True)
        raise type(exc)(
            f"{exc}; the record was changed, undo with {undo.action} {undo.with_}",
            target=name,
            evidence=evidence,
            code=exc.code,
        ) from exc
    was = f" (was {replaced.type} {', '.join(replaced.values)})" if replaced else " (new record)"
    return StepOutput(
        summary=f"{name} {record_type} -> {', '.join(values)}{was}, "
        f"{_insync(evidence['insync_seconds'])}",
        evidence=evidence,
        undo=undo,
    )


@registry.action("dns.delete", reversible=False)
def dns_delete(params: DnsDeleteParams, ctx: StepContext) -> StepOutput:
    """Delete a Route 53 record if it still has exactly the given value (undo of a new record)."""
    values = _as_list(params.value)
    record_type = _type_of(values, params.type)
    name = dns.qualify(params.record, params.zone)
    zone = dns.zone_id(params.zone)
    current = dns.read(zone, name, record_type)
    evidence: dict[str, Any] = {
        "zone": dns.absolute(params.zone),
        "name": name,
        "type": record_type,
        "deleted": None,
        "change_id": None,
        "insync_seconds": None,
        **recorded(),  # nothing, until it deletes
    }
    if current is None:
        return StepOutput(
            summary=f"{name} has no {record_type} record: nothing to delete", evidence=evidence
        )
    evidence["current"] = current.as_dict()
    if not dns.same_values(current.values, values):
        raise StepError(
            f"{record_type} record is now {list(current.values)}, not {values}: "
            "changed since, not deleted",
            target=name,
            evidence=evidence,
        )
    ctx.log(f"{name}: deleting {record_type} {list(current.values)} TTL {current.ttl}")
    change_id = dns.delete(zone, current)
    gone = Change(what=f"{name} {record_type}", before=_words(current), after="deleted")
    evidence |= recorded(gone)
    evidence["deleted"] = evidence.pop("current")
    evidence["change_id"] = change_id
    evidence["insync_seconds"] = _wait(params, change_id)
    return StepOutput(
        summary=f"{name} {record_type} {', '.join(current.values)} deleted, "
        f"{_insync(evidence['insync_seconds'])}",
        evidence=evidence,
    )
