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

from checks import backup_location
from lifeboat import geo, storage
from lifeboat.errors import AccessError, CheckFailed
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
    """One row of the evidence table: where the copy is said to be, is (on whose word), how far.

    Problems that follow from the runbook's own words (same building, same provider) hold
    whatever the store says; the others need the bucket's region, and a copy nobody placed
    gets none of them: it is unproven, not drifted and not off-site.
    """
    primary, declared_site = _primary(runbook, backup), _copy_site(runbook, copy)
    policy = backup.policy
    declared = (copy.region or (declared_site.region if declared_site else "")).lower()
    if declared_site is not None:
        provider = declared_site.provider
    else:
        provider = "aws" if geo.lookup("aws", declared) else "unknown"
    placed = backup_location.place(runbook, copy, declared, provider)
    provider, region = placed.provider, placed.region
    site = runbook.sites[placed.site] if placed.site else None
    home = runbook.hosts[backup.protects].site
    problems: list[str] = []
    if region is not None and placed.by == "runbook" and copy.site not in (None, placed.site):
        problems.append(f"drift: declared site {copy.site}, but {placed.note}")
    elif (
        region is not None
        and declared
        and not backup_location.same_region(provider, declared, region)
    ):
        by_runbook = f" ({placed.note})" if placed.by == "runbook" else ""
        problems.append(f"drift: declared region {declared}, bucket is in {region}{by_runbook}")
    datacenter = site.datacenter if site else None
    same_building = placed.site == home or (datacenter and datacenter == primary.datacenter)
    if policy.distinct_datacenter and same_building:
        problems.append(f"same building as the protected host ({primary.datacenter or 'site'})")
    distance = None
    if region is not None:
        here = geo.locate(primary.provider, primary.region, primary.lat, primary.lon)
        there = geo.locate(provider, region, site.lat if site else None, site.lon if site else None)
        distance = round(geo.distance_km(here, there)) if here and there else None
        if region == primary.region.lower() and provider == primary.provider:
            problems.append(f"same region as the protected host ({region})")
        if distance is None:
            problems.append(f"cannot locate {provider} {region}: give the site lat and lon")
        elif distance < policy.min_distance_km:
            problems.append(f"{distance} km away, policy asks at least {policy.min_distance_km:g}")
    if policy.distinct_provider and provider == primary.provider:
        problems.append(f"same provider as the protected host ({provider})")
    offsite = region is not None and not problems
    if region is None:
        problems.append(f"unproven: {placed.note}")
    verdict = "; ".join(problems) or "off-site"
    if placed.by == "runbook" and placed.note not in verdict:
        verdict += f" ({placed.note})"  # weaker evidence, said wherever the verdict shows
    return {
        "uri": copy.uri,
        "site": placed.site,
        "provider": provider,
        "declared": declared,
        "region": region,
        "located_by": placed.by,
        "store_said": placed.said,
        "datacenter": datacenter,
        "distance_km": distance,
        "offsite": offsite,
        "unproven": region is None,
        "could_be_offsite": region is None and len(problems) == 1,  # only the region is missing
        "note": placed.note,
        "verdict": verdict,
    }


@registry.check("backup.geo_separation")
def geo_separation(params: BackupParams, ctx: StepContext) -> StepOutput:
    """Prove each copy's real location and count the copies far enough from the primary.

    A copy whose region no store reported (and no site's ``endpoint`` places) is unproven:
    when the copies proven off-site are too few and the unproven ones could make up the
    count, the check cannot tell (``access.no_region``), it gives no verdict on the data.
    """
    runbook = runbook_of(ctx)
    backup = runbook.backups[params.backup]
    rows = [_judge(runbook, backup, copy) for copy in backup.copies]
    for row in rows:
        where = f"{row['provider']} {row['region'] or '(region unproven)'}"
        ctx.log(f"{row['uri']}: {where}, {row['distance_km']} km: {row['verdict']}")
    offsite = sum(1 for row in rows if row["offsite"])
    open_rows = [row for row in rows if row["could_be_offsite"]]
    needed = backup.policy.min_offsite_copies
    evidence = {"backup": params.backup, "copies": rows, "offsite": offsite, "required": needed}
    drift = [row["verdict"] for row in rows if row["verdict"].startswith("drift")]
    if not drift and offsite < needed <= offsite + len(open_rows):
        unproven = "; ".join(f"{row['uri']}: {row['verdict']}" for row in open_rows)
        raise AccessError(
            f"cannot check: {offsite} of {len(rows)} copies proven off-site, policy requires "
            f"{needed}; {unproven}",
            target=params.backup,
            evidence=evidence,
            code="access.no_region",
        )
    if drift or offsite < needed:
        why = "; ".join(drift) or f"{offsite} off-site copies, policy requires {needed}"
        code = "data.drift" if drift else "data.too_close"
        raise CheckFailed(why, target=params.backup, evidence=evidence, code=code)
    summary = f"{params.backup}: {offsite} of {len(rows)} copies off-site (required {needed})"
    for row in rows:
        if (row["located_by"] == "runbook" and row["offsite"]) or row["unproven"]:
            summary += f"; {row['uri']}: {row['verdict']}"
    return StepOutput(summary=summary, evidence=evidence)


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
