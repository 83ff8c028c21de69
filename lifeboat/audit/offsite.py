"""The off-site WORM copy of each run: journal, digest and review, under Object Lock.

``LIFEBOAT_AUDIT_OFFSITE_URI`` (``s3://bucket/prefix/``) names a bucket created with
Object Lock, in another region than the orchestrator's site (``LIFEBOAT_SITE_REGION``).
When a run ends, after it is sealed, each file of the run goes to
``<prefix><run_id>/<name>`` as a new object version locked in COMPLIANCE mode for
``LIFEBOAT_AUDIT_RETENTION_DAYS``: nobody can delete or overwrite that version before
then, whoever holds the keys. With ``LIFEBOAT_AUDIT_OFFSITE_EACH_STEP`` the journal also
goes after every step, so a site lost mid-run still leaves its record elsewhere.

A bucket without Object Lock, or in the site's own region, is refused: a copy that can be
deleted, or that burns with the site, is no audit record. Failures here never change a
run's outcome; they are logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lifeboat import storage
from lifeboat.audit import integrity
from lifeboat.errors import LifeboatError
from lifeboat.settings import Settings

#: The files of a run that are copied, and their content types (the review when present).
FILES = {
    integrity.JOURNAL: "application/x-ndjson",
    integrity.DIGEST: "application/json",
    "review.md": "text/markdown; charset=utf-8",
    "review.html": "text/html; charset=utf-8",
}

_lock = threading.Lock()  # one upload at a time: a later journal never lands before an earlier
_accepted: dict[tuple[str, str | None], str] = {}  # (bucket, site region) -> bucket region
_sent: dict[Path, int] = {}  # journal -> its size when last copied after a step


class OffsiteError(LifeboatError):
    """The off-site copy is not configured, or its bucket is not fit to keep it."""


def location(settings: Settings) -> storage.S3Location:
    if not settings.audit_offsite_uri:
        raise OffsiteError("no off-site copy configured (LIFEBOAT_AUDIT_OFFSITE_URI)")
    uri = settings.audit_offsite_uri
    return storage.S3Location.parse(uri if uri.endswith("/") else uri + "/")


def check_target(where: storage.S3Location, settings: Settings) -> str:
    """The bucket's region, once it is known to have Object Lock and to be elsewhere."""
    accepted = _accepted.get((where.bucket, settings.site_region))
    if accepted is not None:
        return accepted
    if not storage.object_lock_enabled(where):
        raise OffsiteError(
            f"{where}: the bucket has no Object Lock: refused as the off-site copy "
            "(create the bucket with Object Lock enabled)"
        )
    region = storage.bucket_region(where)
    if settings.site_region and region == settings.site_region:
        raise OffsiteError(
            f"{where}: the bucket is in {region}, the orchestrator's own region "
            "(LIFEBOAT_SITE_REGION): refused as the off-site copy"
        )
    _accepted[(where.bucket, settings.site_region)] = region
    return region


def upload_run(
    run_dir: Path, settings: Settings, names: tuple[str, ...] = tuple(FILES)
) -> list[str]:
    """Copy the run's files (those of ``names`` that exist) off-site, locked; their keys."""
    where = location(settings)
    region = check_target(where, settings)
    until = datetime.now(UTC) + timedelta(days=settings.audit_retention_days)
    keys = []
    with _lock:
        for name in names:
            path = run_dir / name
            if not path.is_file():
                continue
            key = f"{run_dir.name}/{name}"
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise OffsiteError(f"cannot read {path}: {exc}") from exc
            storage.write_locked(where, key, data, FILES[name], retain_until=until, region=region)
            keys.append(f"{where}{key}")
    return keys


def fetch(run_id: str, settings: Settings, name: str) -> bytes | None:
    """The latest off-site version of one file of a run (None when there is none)."""
    where = location(settings)
    return storage.read_bytes(where, f"{run_id}/{name}")


def after_run(journal: Path, settings: Settings, log: Callable[[str], None]) -> None:
    """Seal the ended run's journal, then copy it off-site when configured; log failures."""
    try:
        integrity.seal(journal, settings)
    except LifeboatError as exc:
        log(f"journal not sealed: {exc}")
    if not settings.audit_offsite_uri:
        return
    try:
        keys = upload_run(journal.parent, settings)
    except LifeboatError as exc:
        log(f"off-site copy of the journal failed: {exc}")
        return
    log(f"off-site copy (locked {settings.audit_retention_days} days): {', '.join(keys)}")


def after_review(run_dir: Path, settings: Settings, log: Callable[[str], None]) -> None:
    """Copy a review written after the run ended (``review.md``/``.html``); log failures."""
    if not settings.audit_offsite_uri:
        return
    try:
        upload_run(run_dir, settings, names=("review.md", "review.html"))
    except LifeboatError as exc:
        log(f"off-site copy of the review failed: {exc}")


def after_step(journal: Path, settings: Settings, log: Callable[[str], None]) -> None:
    """With ``audit_offsite_each_step``, copy the journal as it is now, unless it has not
    grown since the last copy (a resumed run re-records the steps it keeps); log failures."""
    if not (settings.audit_offsite_each_step and settings.audit_offsite_uri):
        return
    try:
        size = journal.stat().st_size
        if _sent.get(journal) == size:
            return
        upload_run(journal.parent, settings, names=(integrity.JOURNAL,))
    except (LifeboatError, OSError) as exc:
        log(f"off-site copy of the journal failed: {exc}")
        return
    _sent[journal] = size


def first_difference(local: bytes, remote: bytes) -> str | None:
    """Where two copies of a journal part: the first differing entry, in words."""
    if local == remote:
        return None
    mine, theirs = local.split(b"\n"), remote.split(b"\n")
    for number, (one, other) in enumerate(zip(mine, theirs, strict=False), start=1):
        if one != other:
            return f"entry {number}: differs from the off-site copy"
    if len(mine) < len(theirs):
        return f"entry {len(mine)}: the off-site copy has entries the local journal lacks"
    return f"entry {len(theirs)}: the local journal has entries the off-site copy lacks"
