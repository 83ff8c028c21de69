"""``lifeboat sandbox seed``: make the sandbox look like the world a runbook describes.

A runbook names buckets in regions and hosts by address. Seeding builds that world on the
sandbox, as a well-run production would be: every backup copy's bucket in its declared
region, with the same nightly dumps (gzip, SHA-256 checksums, a ``SHA256SUMS`` manifest)
in each copy; off-site copies versioned and under Object Lock (compliance mode); and each
runbook host's address resolved, through the sandbox's SSH config, to one of the sandbox
sshd sites (the runbook's first site to ``site-a``, the next to ``site-b``, ...), also
written as ``routes.json`` beside the SSH config for the public entry point (``entry.py``);
each status-page bucket, listed in ``pages.json`` there for the public gateway (``pages.py``);
and, for each ``dns.switch`` step, its Route 53 zone with the record pointing at the
runbook's host on its first site (the primary), as production DNS is before a failover.

Nothing here weakens a check: the drill still asks the store where each bucket is, lists
and hashes the copies, restores a dump and verifies host keys. Seeding a *wrong* world
(the demo's Strasbourg trap) is done by declaring it, not by bending the checks.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifeboat.runbook.model import ActionStep, Backup, BackupCopy, Runbook
from lifeboat.sandbox.entry import routes_file
from lifeboat.sandbox.pages import pages_file, read_pages
from lifeboat.sandbox.s3 import aws_client
from lifeboat.sandbox.sshkeys import write_text

NIGHTS = 3
RETENTION_DAYS = 7
MANIFEST = "SHA256SUMS"
DNS_TTL = 60
_ADDRESS_TYPES = ("A", "AAAA", "CNAME")
_MARK = "# --- lifeboat sandbox seed: runbook hosts ---"


@dataclass
class Seeded:
    """What seeding created, for the CLI to print and tests to check."""

    buckets: list[str] = field(default_factory=list)
    objects: int = 0
    aliases: dict[str, str] = field(default_factory=dict)  # host address -> sandbox site
    zones: list[str] = field(default_factory=list)  # Route 53 zones created
    records: dict[str, str] = field(default_factory=dict)  # record created -> its value
    pages: list[str] = field(default_factory=list)  # status-page buckets, served publicly


def dump(day: str) -> bytes:
    """A small, valid, deterministic gzip "database dump" for one night."""
    # Sample text in a file, never executed anywhere (hence the S608 waiver).
    rows = "".join(f"INSERT INTO orders VALUES ({i}, '{day}');\n" for i in range(2000))  # noqa: S608
    return gzip.compress(f"-- nightly dump {day}\n{rows}".encode(), mtime=0)


def seed(runbooks: list[Runbook], *, s3_url: str, ssh_config: Path | None = None) -> Seeded:
    """Create every runbook's buckets, dumps and DNS records; alias its hosts to sandbox sites.

    moto serves Route 53 on the same endpoint as S3, hence one URL for both.
    """
    seeded = Seeded()
    for runbook in runbooks:
        for backup in runbook.backups.values():
            _seed_backup(runbook, backup, s3_url, seeded)
        page = runbook.comms.status_page
        if page is not None and page.uri:  # an empty bucket: the first update writes the page
            bucket = page.uri.removeprefix("s3://").partition("/")[0]
            api = aws_client("s3", endpoint_url=s3_url, region="us-east-1")
            if _create(api, bucket, "us-east-1", locked=False):
                seeded.buckets.append(bucket)
            seeded.pages.append(bucket)
        for step in runbook.steps:
            if isinstance(step, ActionStep) and step.action == "dns.switch":
                _seed_record(runbook, step.with_, s3_url, seeded)
        if ssh_config is not None:
            seeded.aliases |= _aliases(runbook, _sandbox_sites(ssh_config))
    if ssh_config is not None and seeded.aliases:
        merged = _write_aliases(ssh_config, seeded.aliases)
        routes = json.dumps(dict(sorted(merged.items())), indent=2) + "\n"
        write_text(routes_file(ssh_config), routes)
    if ssh_config is not None and seeded.pages:
        served = sorted(read_pages(pages_file(ssh_config)) | set(seeded.pages))
        write_text(pages_file(ssh_config), json.dumps(served, indent=2) + "\n")
    return seeded


def _region(runbook: Runbook, copy: BackupCopy) -> str:
    return copy.region or (runbook.sites[copy.site].region if copy.site else "us-east-1")


def _seed_backup(runbook: Runbook, backup: Backup, s3_url: str, seeded: Seeded) -> None:
    home = runbook.hosts[backup.protects].site
    today = datetime.now(UTC).date()
    nights = [(today - timedelta(days=n)).isoformat() for n in reversed(range(NIGHTS))]
    files = {f"db-{day}.sql.gz": dump(day) for day in nights}
    sums = "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in files.items())
    for copy in backup.copies:
        bucket, _, prefix = copy.uri.removeprefix("s3://").partition("/")
        api = aws_client("s3", endpoint_url=s3_url, region=_region(runbook, copy))
        offsite = copy.site != home
        if _create(api, bucket, _region(runbook, copy), locked=offsite):
            seeded.buckets.append(bucket)
        for name, body in [*files.items(), (MANIFEST, sums.encode())]:
            api.put_object(Bucket=bucket, Key=prefix + name, Body=body, ChecksumAlgorithm="SHA256")
            seeded.objects += 1


def _create(api: Any, bucket: str, region: str, *, locked: bool) -> bool:
    """Create the bucket unless it exists; off-site copies get versioning and Object Lock."""
    if bucket in {b["Name"] for b in api.list_buckets().get("Buckets", [])}:
        return False
    options: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": locked}
    if region != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": region}
    api.create_bucket(**options)
    api.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    if locked:  # Object Lock turns versioning on; the retention makes each dump undeletable
        rule = {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": RETENTION_DAYS}}
        api.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
        )
    return True


def _seed_record(runbook: Runbook, args: dict[str, Any], s3_url: str, seeded: Seeded) -> None:
    """The zone, and the record on the primary's host, unless they exist (never changed).

    A step whose zone, record or host is an expression (``${{ ... }}``) or unknown is left
    alone: seeding builds what the runbook states, it does not evaluate runs.
    """
    zone, record, to = (str(args.get(key, "")) for key in ("zone", "record", "to"))
    if not (zone and record and to in runbook.hosts) or "${{" in zone + record or not runbook.sites:
        return
    zone = zone.lower().rstrip(".") + "."
    name = record.lower().rstrip(".") + "."
    if name == "@.":
        name = zone
    elif not (name == zone or name.endswith("." + zone)):
        name = f"{name}{zone}"  # relative to the zone, as in a zone file
    primary = next(iter(runbook.sites))
    on_primary = [h for h in runbook.hosts.values() if h.site == primary]
    if not on_primary:
        return
    # The switch's own target when it is on the primary (a failback), else the first host there.
    host = runbook.hosts[to] if runbook.hosts[to].site == primary else on_primary[0]
    api = aws_client("route53", endpoint_url=s3_url, region="us-east-1")
    zones = api.list_hosted_zones_by_name(DNSName=zone)["HostedZones"]
    zone_id = next((z["Id"] for z in zones if z["Name"].lower() == zone), None)
    if zone_id is None:
        created = api.create_hosted_zone(Name=zone, CallerReference=uuid.uuid4().hex)
        zone_id = created["HostedZone"]["Id"]
        seeded.zones.append(zone)
    existing = api.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    if any(r["Name"].lower() == name and r["Type"] in _ADDRESS_TYPES for r in existing):
        return  # NS and SOA share the apex's name: only an address record counts
    value, kind = host.address, _record_type(host.address)
    rrset = {"Name": name, "Type": kind, "TTL": DNS_TTL, "ResourceRecords": [{"Value": value}]}
    api.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrset}]},
    )
    seeded.records[name] = value


def _record_type(address: str) -> str:
    """A for an IPv4 address, AAAA for IPv6, CNAME for a host name."""
    try:
        return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    except ValueError:
        return "CNAME"


def _sandbox_sites(ssh_config: Path) -> list[str]:
    """The sandbox's own ``Host site-x`` aliases, in file order."""
    names = []
    for line in ssh_config.read_text(encoding="utf-8").split(_MARK)[0].splitlines():
        if line.startswith("Host "):
            names.append(line.split()[1])
    return names


def _aliases(runbook: Runbook, sites: list[str]) -> dict[str, str]:
    """Each host address -> a sandbox site, by the order the runbook declares its sites."""
    if not sites:
        return {}
    place = {name: sites[i % len(sites)] for i, name in enumerate(runbook.sites)}
    return {host.address: place[host.site] for host in runbook.hosts.values()}


def _write_aliases(ssh_config: Path, aliases: dict[str, str]) -> dict[str, str]:
    """Append one ``Host ADDRESS`` block per runbook host, copying its site's settings.

    Returns every alias now in the file (earlier seeds' included).
    """
    text = ssh_config.read_text(encoding="utf-8")
    base, _, previous = text.partition(_MARK)
    blocks = _blocks(base)
    merged = _parse_aliases(previous) | aliases
    section = [_MARK]
    for address, site in sorted(merged.items()):
        settings = "".join(f"    {line}\n" for line in blocks[site])
        section.append(f"# sandbox {site}\nHost {address}\n{settings}")
    write_text(ssh_config, base.rstrip("\n") + "\n\n" + "\n".join(section))
    return merged


def _blocks(text: str) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("Host "):
            current = blocks.setdefault(line.split()[1], [])
        elif line.strip():
            current.append(line.strip())
    return blocks


def _parse_aliases(section: str) -> dict[str, str]:
    """Earlier seeds' aliases (a ``# sandbox SITE`` line before each Host line) to keep."""
    found, site = {}, None
    for line in section.splitlines():
        if line.startswith("# sandbox "):
            site = line.removeprefix("# sandbox ").strip()
        elif line.startswith("Host ") and site:
            found[line.split()[1]], site = site, None
    return found
