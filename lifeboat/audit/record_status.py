"""Whether a run's record holds, as the review states it when it is written: the journal's
signed digest (``integrity``) and its off-site WORM copy (``offsite``).

The same checks as ``lifeboat audit verify [--against-offsite]``, said in words instead of
an exit code, and never raising: a review is still written when a key or the off-site
store cannot be reached, and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from lifeboat.audit import integrity, offsite
from lifeboat.errors import LifeboatError
from lifeboat.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class RecordStatus(BaseModel):
    """The signature and the off-site copy of one run's journal, at ``checked_at``."""

    checked_at: datetime
    signature_ok: bool | None  # None: could not be checked
    signature: str
    offsite_ok: bool | None  # None: not configured, or could not be checked
    offsite: str


def record_status(journal: Path, settings: Settings) -> RecordStatus:
    key: Ed25519PublicKey | None = None
    try:
        key = integrity.public_key(settings)
        check = integrity.verify_run(journal, key)
    except (LifeboatError, OSError) as exc:
        signed: tuple[bool | None, str] = (None, f"not checked: {exc}")
    else:
        signed = (
            (True, f"verifies: {check.entries} entries, signed by {check.signer}")
            if check.ok
            else (False, f"does NOT verify: {check.problem}")
        )
    away = _offsite(journal, settings, key)
    return RecordStatus(
        checked_at=datetime.now(UTC),
        signature_ok=signed[0],
        signature=signed[1],
        offsite_ok=away[0],
        offsite=away[1],
    )


def _offsite(
    journal: Path, settings: Settings, key: Ed25519PublicKey | None
) -> tuple[bool | None, str]:
    if not settings.audit_offsite_uri:
        return None, "not configured (LIFEBOAT_AUDIT_OFFSITE_URI): no off-site copy"
    run_id = journal.parent.name
    where = f"{offsite.location(settings)}{run_id}/{integrity.JOURNAL}"
    try:
        remote = offsite.fetch(run_id, settings, integrity.JOURNAL)
        sealed = offsite.fetch(run_id, settings, integrity.DIGEST)
        local = journal.read_bytes()
        digest = journal.parent / integrity.DIGEST
        local_digest = digest.read_bytes() if digest.exists() else None
    except Exception as exc:  # any store or disk failure: say it, the review goes on
        return None, f"could not be checked: {type(exc).__name__}: {exc}"
    problem = _differs(where, local, remote, local_digest, sealed)
    if problem is not None:
        return False, problem
    if key is None:
        return None, f"identical to {where} (its signature not checked: no public key)"
    check = integrity.verify_bytes(remote or b"", sealed, key)
    if not check.ok:
        return False, f"{where} does NOT verify: {check.problem}"
    return True, f"identical to {where}, and its signed digest verifies"


def _differs(
    where: str, local: bytes, remote: bytes | None, digest: bytes | None, sealed: bytes | None
) -> str | None:
    """How the off-site copy differs from the local one (None: it does not)."""
    if remote is None:
        return f"MISSING: no off-site copy at {where}"
    differs = offsite.first_difference(local, remote)
    if differs is not None:
        return f"DIFFERS from {where}: {differs}"
    if sealed is None or sealed != digest:
        return f"{integrity.DIGEST} DIFFERS from the off-site copy beside {where}"
    return None
