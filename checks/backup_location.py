"""Where a backup copy is, and on whose word: the store's, the runbook's, or nobody's.

``backup.geo_separation`` judges a copy by where its bucket is, and only the store can say
that (GetBucketLocation, or HeadBucket's ``x-amz-bucket-region``). Some stores say nothing:
s3rver and other S3-compatible servers answer an empty LocationConstraint for every bucket
(which on AWS means us-east-1), some do not implement the call, some answer names of their
own ("garage", or MinIO's default "us-east-1" for a server in Paris). Read as a region, such
an answer gives verdicts nobody proved: drift to Virginia, or a copy "off-site" in a region
no store named. So a copy is placed:

1. by the store, when it names the region the runbook declares, or a region of the copy's
   provider that ``lifeboat.geo``'s catalogue knows;
2. else by the runbook, when a site declares ``endpoint:``, the host the store was reached
   at (OVHcloud's ``s3.gra.io.cloud.ovh.net`` is in Gravelines): the bucket is placed at
   that site, recorded as weaker evidence, declared by the runbook, not reported by the
   store;
3. else nowhere: the copy is unproven, which is no verdict on the data, and the row says
   what the store answered and what would prove it.

Not a check (nothing is registered here): the helper of ``checks.backup``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lifeboat import geo, storage
from lifeboat.runbook.model import BackupCopy, Runbook

#: How a placement by the runbook is worded wherever it is shown (evidence, summary, log).
DECLARED = "declared by the runbook, not reported by the store"


@dataclass(frozen=True)
class Placement:
    """Where a copy's bucket is, on whose word, and what the store answered."""

    region: str | None  # lower case; None when nobody proved it (unproven)
    provider: str
    site: str | None  # the site whose datacenter and coordinates apply
    by: str | None  # "store", "runbook", or None (unproven)
    said: str  # the store's answer in words
    note: str  # how the runbook placed it, or what would prove it


def same_region(provider: str, a: str, b: str) -> bool:
    """Whether two region names are one region (``GRA`` and ``gra``, ``us-east-1a``)."""
    if a.lower() == b.lower():
        return True
    found = geo.lookup(provider, a)
    return found is not None and found == geo.lookup(provider, b)


def place(runbook: Runbook, copy: BackupCopy, declared: str, provider: str) -> Placement:
    """Where the store says the copy's bucket is, else where the runbook's endpoints put it."""
    answer = storage.bucket_location(storage.S3Location.parse(copy.uri))
    said = answer.said
    if answer.region:
        region = answer.region.lower()
        known = geo.lookup(provider, region) is not None
        if known or (declared and same_region(provider, region, declared)):
            return Placement(region, provider, copy.site, "store", said, "reported by the store")
        said = f"{said}, not a region of {provider} that Lifeboat knows"
    host = storage.endpoint()
    named = [name for name, site in runbook.sites.items() if _reached(site.endpoint, host)]
    chosen = copy.site if copy.site in named else (named[0] if len(named) == 1 else None)
    if chosen is not None:
        site = runbook.sites[chosen]
        note = (
            f"the store at {host} is site {chosen}'s endpoint, {site.provider} {site.region}: "
            f"{DECLARED}"
        )
        return Placement(site.region.lower(), site.provider, chosen, "runbook", said, note)
    if named:
        prove = (
            f"sites {', '.join(named)} all declare endpoint {host}: keep it on the one "
            "site whose object store it is"
        )
    else:
        prove = f"to prove where it is, declare endpoint: {host} on the site of this store"
    note = f"the store's answer does not place the bucket ({said}); {prove}"
    return Placement(None, provider, copy.site, None, said, note)


def _reached(declared: str | None, host: str) -> bool:
    """Whether a site's ``endpoint`` is the one the store was reached at (``host[:port]``);
    an endpoint without a port matches any port of that host."""
    if not declared:
        return False
    return declared == host or (":" not in declared.rsplit("]", 1)[-1] and _host(host) == declared)


def _host(netloc: str) -> str:
    """``host[:port]`` without the port (``[::1]:9000`` -> ``[::1]``)."""
    if netloc.startswith("["):
        return netloc.split("]", 1)[0] + "]"
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc
