"""Prove the off-site copies are protected against deletion and against disclosure.

Ransomware, or a person holding a stolen admin key, deletes or encrypts backups before
anything else: a copy far away is worthless if the same key can erase it. Versioning keeps
every overwritten or deleted object as an older version; Object Lock with a default
retention in COMPLIANCE mode keeps each version undeletable by anyone, the root account
and a stolen admin key included, until its retention ends (GOVERNANCE mode can be lifted
by whoever holds s3:BypassGovernanceRetention). And a backup anyone can read is a breach:
a public ACL or policy leaks every dump, and a bucket without a full public access block
is one API call from that.

Each rule (versioning, object_lock, public_access) fails the check, only warns, or is off,
as the runbook says. A store that cannot be asked (refused credentials, absent bucket,
endpoint down) raises ``StorageError`` with its ``access.*`` code: we could not look, which
says nothing about how the bucket is set.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from checks.backup import BackupParams
from lifeboat import storage
from lifeboat.errors import CheckFailed
from lifeboat.registry import StepContext, StepOutput, registry, runbook_of
from lifeboat.runbook.model import Backup, BackupCopy, Runbook
from lifeboat.runbook.types import Duration, format_duration
from lifeboat.storage import Protection, S3Location

Level = Literal["fail", "warn", "off"]
_RULES = ("versioning", "object_lock", "public_access")


class ProtectionParams(BackupParams):
    versioning: Level = Field(
        "fail",
        description="Versioning must be Enabled (a deleted or overwritten object stays as an "
        "older version): fail, warn, or off (not checked)",
    )
    object_lock: Level = Field(
        "warn",
        description="Object Lock must be on with a default retention in COMPLIANCE mode "
        "(GOVERNANCE can be lifted by an admin): fail, warn, or off (not checked)",
    )
    public_access: Level = Field(
        "fail",
        description="The bucket must not be public: a full public access block, no ACL "
        "grant to AllUsers or AuthenticatedUsers, no public policy: fail, warn, or off",
    )
    min_retention: Duration | None = Field(
        None,
        description="Shortest default retention accepted, e.g. 30d; a shorter one is a "
        "finding of the object_lock rule",
    )
    copies: Literal["offsite", "all"] = Field(
        "offsite",
        description="offsite: every copy but the primary (the first copy at the protected "
        "host's site); all: the primary too",
    )


@registry.check("backup.protection")
def protection(params: ProtectionParams, ctx: StepContext) -> StepOutput:
    """Require versioning, Object Lock and no public access on the off-site copies.

    Findings of a rule set to "fail" fail the check (``data.unprotected``); those of a rule
    set to "warn" are reported in the summary and ``evidence["warnings"]`` only.
    """
    runbook = runbook_of(ctx)
    backup = runbook.backups[params.backup]
    checked, primary = _chosen(runbook, backup, params.copies)
    rows, failures, warnings = [], [], []
    for copy in checked:
        state = storage.protection(S3Location.parse(copy.uri))
        found = _findings(state, params)
        failed = [text for rule, text in found if getattr(params, rule) == "fail"]
        warned = [text for rule, text in found if getattr(params, rule) == "warn"]
        row = _row(copy.uri, state, failed + warned)
        row["verdict"] = "unprotected" if failed else "warnings" if warned else "protected"
        rows.append(row)
        ctx.log(
            f"{copy.uri}: versioning {state.versioning}, Object Lock {_lock(state)}, "
            f"{'public' if state.public else 'not public'}: {row['verdict']}"
        )
        if failed:
            failures.append(f"{copy.uri}: {'; '.join(failed)}")
        warnings += [f"{copy.uri}: {text}" for text in warned]
    evidence: dict[str, Any] = {
        "backup": params.backup,
        "scope": params.copies,
        "primary": primary.uri if primary and params.copies == "offsite" else None,
        "rules": {rule: getattr(params, rule) for rule in _RULES},
        "min_retention": format_duration(params.min_retention) if params.min_retention else None,
        "copies": rows,
        "warnings": warnings,
    }
    if failures:
        raise CheckFailed(
            " | ".join(failures), target=params.backup, evidence=evidence, code="data.unprotected"
        )
    if not rows:
        summary = f"{params.backup}: no off-site copy to check (the only copy is the primary)"
        return StepOutput(summary=summary, evidence=evidence)
    count = len(rows)
    kind = "off-site " if params.copies == "offsite" else ""
    what = f"{count} {kind}cop{'ies' if count != 1 else 'y'}"
    if warnings:
        plural = "s" if len(warnings) != 1 else ""
        summary = f"{what} passed with {len(warnings)} warning{plural}: {'; '.join(warnings)}"
    else:
        summary = f"{what} protected ({_rules_checked(params)})"
    return StepOutput(summary=f"{params.backup}: {summary}", evidence=evidence)


def _chosen(
    runbook: Runbook, backup: Backup, scope: str
) -> tuple[list[BackupCopy], BackupCopy | None]:
    """The copies to check, and the primary: the first copy at the protected host's site.

    Unlike ``backup.completeness``, which needs a reference and takes the first copy when
    none is at home, no copy is skipped then: every copy elsewhere is off-site.
    """
    home = runbook.hosts[backup.protects].site
    primary = next((copy for copy in backup.copies if copy.site == home), None)
    if scope == "all":
        return list(backup.copies), primary
    return [copy for copy in backup.copies if copy is not primary], primary


def _findings(state: Protection, params: ProtectionParams) -> list[tuple[str, str]]:
    """(rule, what is wrong) for every rule not "off"."""
    found: list[tuple[str, str]] = []
    if params.versioning != "off" and state.versioning != "Enabled":
        found.append(("versioning", f"versioning {state.versioning}"))
    if params.object_lock != "off":
        found += [("object_lock", text) for text in _lock_findings(state, params.min_retention)]
    if params.public_access != "off":
        found += [("public_access", reason) for reason in state.public_reasons]
    return found


def _lock_findings(state: Protection, minimum: timedelta | None) -> list[str]:
    if not state.object_lock:
        return ["no Object Lock"]
    if state.lock_mode is None or state.lock_days is None:
        return ["Object Lock without a default retention"]
    found = []
    if state.lock_mode != "COMPLIANCE":
        found.append(f"retention in {state.lock_mode} mode (an admin can lift it)")
    retention = timedelta(days=state.lock_days)
    if minimum is not None and retention < minimum:
        found.append(
            f"retention {format_duration(retention)}, "
            f"policy asks at least {format_duration(minimum)}"
        )
    return found


def _row(uri: str, state: Protection, findings: list[str]) -> dict[str, Any]:
    """One row of the evidence table: what the store says, and what is wrong with it."""
    return {
        "uri": uri,
        "versioning": state.versioning,
        "mfa_delete": state.mfa_delete,
        "object_lock": state.object_lock,
        "lock_mode": state.lock_mode,
        "retention": _retention(state),
        "public": state.public,
        "public_reasons": list(state.public_reasons),
        "findings": findings,
    }


def _retention(state: Protection) -> str | None:
    return format_duration(timedelta(days=state.lock_days)) if state.lock_days else None


def _lock(state: Protection) -> str:
    if not state.object_lock:
        return "off"
    if state.lock_mode is None:
        return "on, no default retention"
    return f"{state.lock_mode} {_retention(state)}"


def _rules_checked(params: ProtectionParams) -> str:
    said = {
        "versioning": "versioning",
        "object_lock": "Object Lock",
        "public_access": "not public",
    }
    on = [said[rule] for rule in _RULES if getattr(params, rule) != "off"]
    return ", ".join(on) or "every rule off"
