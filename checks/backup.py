"""Backup checks that prove, not assume: where each copy really is, and how fresh it is.

In the 2021 Strasbourg datacenter fire a customer who paid for backups lost everything:
the backups sat in the same building. ``backup.geo_separation`` therefore asks the store
where each bucket really is (GetBucketLocation), compares it with what the runbook
declares, and measures the distance to the protected host's site.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from lifeboat import geo, storage
from lifeboat.errors import CheckFailed
from lifeboat.registry import Params, Ref, StepContext, StepOutput, registry, runbook_of
from lifeboat.runbook.model import Backup, BackupCopy, Runbook, Site
from lifeboat.runbook.types import Duration, format_duration


class BackupParams(Params):
    backup: Annotated[str, Ref("backups")] = Field(description="A backup set of the runbook")


class FreshnessParams(BackupParams):
    max_age: Duration | None = Field(None, description="Overrides the backup's max_age")


def _primary(runbook: Runbook, backup: Backup) -> Site:
    return runbook.sites[runbook.hosts[backup.protects].site]


def _copy_site(runbook: Runbook, copy: BackupCopy) -> Site | None:
    return runbook.sites[copy.site] if copy.site else None


def _judge(runbook: Runbook, backup: Backup, copy: BackupCopy) -> dict[str, Any]:
    """One row of the evidence table: where the copy is said to be, is, and how far."""
    primary, site = _primary(runbook, backup), _copy_site(runbook, copy)
    policy = backup.policy
    location = storage.S3Location.parse(copy.uri)
    declared = (copy.region or (site.region if site else "")).lower()
    actual = storage.bucket_region(location).lower()
    provider = site.provider if site else ("aws" if geo.lookup("aws", declared) else "unknown")
    here = geo.locate(primary.provider, primary.region, primary.lat, primary.lon)
    there = geo.locate(provider, actual, site.lat if site else None, site.lon if site else None)
    distance = round(geo.distance_km(here, there)) if here and there else None
    problems: list[str] = []
    if declared and declared != actual:
        problems.append(f"drift: declared region {declared}, bucket is in {actual}")
    same_site = copy.site is not None and runbook.hosts[backup.protects].site == copy.site
    datacenter = site.datacenter if site else None
    same_building = same_site or (datacenter and datacenter == primary.datacenter)
    if policy.distinct_datacenter and same_building:
        problems.append(f"same building as the protected host ({primary.datacenter or 'site'})")
    if actual == primary.region.lower() and provider == primary.provider:
        problems.append(f"same region as the protected host ({actual})")
    if distance is None:
        problems.append(f"cannot locate {provider} {actual}: give the site lat and lon")
    elif distance < policy.min_distance_km:
        problems.append(f"{distance} km away, policy asks at least {policy.min_distance_km:g}")
    if policy.distinct_provider and provider == primary.provider:
        problems.append(f"same provider as the protected host ({provider})")
    return {
        "uri": copy.uri,
        "site": copy.site,
        "provider": provider,
        "declared": declared,
        "region": actual,
        "datacenter": datacenter,
        "distance_km": distance,
        "offsite": not problems,
        "verdict": "; ".join(problems) or "off-site",
    }


@registry.check("backup.geo_separation")
def geo_separation(params: BackupParams, ctx: StepContext) -> StepOutput:
    """Prove each copy's real location and count the copies far enough from the primary."""
    runbook = runbook_of(ctx)
    backup = runbook.backups[params.backup]
    rows = [_judge(runbook, backup, copy) for copy in backup.copies]
    for row in rows:
        ctx.log(
            f"{row['uri']}: {row['provider']} {row['region']}, "
            f"{row['distance_km']} km: {row['verdict']}"
        )
    offsite = sum(1 for row in rows if row["offsite"])
    needed = backup.policy.min_offsite_copies
    evidence = {"backup": params.backup, "copies": rows, "offsite": offsite, "required": needed}
    drift = [row["verdict"] for row in rows if row["verdict"].startswith("drift")]
    if drift or offsite < needed:
        why = "; ".join(drift) or f"{offsite} off-site copies, policy requires {needed}"
        code = "data.drift" if drift else "data.too_close"
        raise CheckFailed(why, target=params.backup, evidence=evidence, code=code)
    return StepOutput(
        summary=f"{params.backup}: {offsite} of {len(rows)} copies off-site (required {needed})",
        evidence=evidence,
    )


@registry.check("backup.freshness")
def freshness(params: FreshnessParams, ctx: StepContext) -> StepOutput:
    """Require the newest object of every copy to be younger than max_age (the RPO)."""
    runbook = runbook_of(ctx)
    backup = runbook.backups[params.backup]
    limit = params.max_age or backup.max_age
    if limit is None:
        raise CheckFailed("no max_age: declare it on the backup or pass it", target=params.backup)
    now = datetime.now(UTC)
    rows, stale = [], []
    for copy in backup.copies:
        location = storage.S3Location.parse(copy.uri)
        latest = storage.newest(location)
        age = now - latest.modified if latest else None
        rows.append(
            {
                "uri": copy.uri,
                "newest": latest.key if latest else None,
                "modified": latest.modified.isoformat() if latest else None,
                "age": format_duration(_whole_seconds(age)) if age else None,
            }
        )
        if age is None or age > limit:
            stale.append(f"{copy.uri} is {rows[-1]['age'] or 'empty'}")
    evidence = {"backup": params.backup, "max_age": format_duration(limit), "copies": rows}
    if stale:
        raise CheckFailed(
            f"older than {format_duration(limit)}: {', '.join(stale)}",
            target=params.backup,
            evidence=evidence,
            code="data.missing" if any(r["newest"] is None for r in rows) else "data.stale",
        )
    ages = ", ".join(str(r["age"]) for r in rows)
    return StepOutput(
        summary=f"{params.backup}: newest object of each copy is {ages} old "
        f"(max_age {format_duration(limit)})",
        evidence=evidence,
    )


def _whole_seconds(age: timedelta) -> timedelta:
    return timedelta(seconds=round(age.total_seconds()))
