"""Finding and proving a backup to restore: shared by ``backup.restore_test`` (a check)
and ``backup.restore`` (the action that restores onto a host during a failover).

Which copy (an off-site one unless told), which object (the newest, or a uniform sample),
and what its bytes must hash to (a manifest entry, else the store's SHA-256 checksum,
else a single-part ETag's MD5).
"""

from __future__ import annotations

import base64
import random
import re

from lifeboat import storage
from lifeboat.errors import StepError
from lifeboat.runbook.model import Runbook
from lifeboat.storage import ObjectInfo, S3Location


def source_copy(runbook: Runbook, backup_name: str, source: str | None) -> S3Location:
    """The copy named by ``source`` (one of the backup's), else the first off-site copy."""
    backup = runbook.backups[backup_name]
    uris = [copy.uri for copy in backup.copies]
    if source is not None:
        if source not in uris:
            why = f"source {source!r} is not one of the backup's copies: {', '.join(uris)}"
            raise StepError(why, target=backup_name)
        return S3Location.parse(source)
    home = runbook.hosts[backup.protects].site
    offsite = [copy.uri for copy in backup.copies if copy.site != home]
    return S3Location.parse((offsite or uris)[0])


def pick(location: S3Location, sample: int, skip: str | None) -> list[ObjectInfo]:
    """The newest object, or ``sample`` objects drawn uniformly (reservoir: bounded memory)."""
    objects = (o for o in storage.list_objects(location) if o.key != skip)
    if sample == 0:  # ties (same second) go to the last key: dumps are named by date
        latest = max(objects, key=lambda o: (o.modified, o.key), default=None)
        return [latest] if latest else []
    chosen: list[ObjectInfo] = []
    draw = random.SystemRandom()
    for seen, item in enumerate(objects):
        if seen < sample:
            chosen.append(item)
        elif (slot := draw.randrange(seen + 1)) < sample:
            chosen[slot] = item
    return sorted(chosen, key=lambda o: o.key)


def manifest(location: S3Location, key: str) -> dict[str, str]:
    """``sha256sum`` output (``HEX  NAME`` or ``HEX *NAME``) as {name: hex}."""
    text = b"".join(storage.chunks(location, key)).decode("utf-8", "replace")
    entries = {}
    for line in text.splitlines():
        digest, _, name = line.strip().partition(" ")
        if re.fullmatch(r"[0-9a-fA-F]{64}", digest) and name:
            entries[name.lstrip(" *").removeprefix("./")] = digest.lower()
    return entries


def expected(
    location: S3Location, item: ObjectInfo, manifest: dict[str, str] | None
) -> tuple[str, str] | None:
    """(reference, value) the restored bytes must match, strongest first."""
    if manifest is not None:
        name = item.key.rsplit("/", 1)[-1]
        found = manifest.get(item.key) or manifest.get(name)
        return ("manifest", found) if found else None
    head = storage.head(location, item.key)
    stored = head.checksums.get("SHA256")
    if stored and "-" not in stored and head.checksum_type != "COMPOSITE":
        return "checksum", base64.b64decode(stored).hex()
    if head.etag_is_md5:
        return "etag", head.etag
    return None
