"""``backup.restore``: the newest proven off-site backup onto a host, during a failover.

The object is streamed from the store through the orchestrator into the destination folder
over SFTP (the host needs no cloud credentials), hashed by the host, compared with the
manifest or the store's checksum, and only then renamed into place; an optional verify
command (argv) opens it. A file of the same name already there is kept aside so the
rollback can put it back.
"""

from __future__ import annotations

import posixpath
import secrets
import time
from typing import Annotated

from pydantic import Field

from lifeboat import restoring, storage
from lifeboat.actions.files import revert_undo
from lifeboat.changes import Change, recorded
from lifeboat.errors import CheckFailed, StepError
from lifeboat.registry import Params, Ref, StepContext, StepOutput, registry, runbook_of
from lifeboat.remote import Remote, RemotePath, safe_name


class RestoreParams(Params):
    backup: Annotated[str, Ref("backups")] = Field(description="A backup set of the runbook")
    host: Annotated[str, Ref("hosts")] = Field(description="The host to restore onto")
    dest: RemotePath = Field(description="Folder on the host (created if missing)")
    source: str | None = Field(
        None, description="URI of the copy to restore from; default: the first off-site copy"
    )
    manifest: str | None = Field(
        None, description="Key (under the copy's prefix) of a sha256sum-style manifest"
    )
    verify: list[str] | None = Field(
        None, min_length=1, description="Command run on the restored file (argv + its path)"
    )
    timeout: float = Field(600.0, gt=0, le=86400, description="Seconds the verify may run")


@registry.action("backup.restore", reversible=True)
def restore(params: RestoreParams, ctx: StepContext) -> StepOutput:
    """Restore the newest verified off-site backup onto a host; undo: put back what was there."""
    runbook = runbook_of(ctx)
    location = restoring.source_copy(runbook, params.backup, params.source)
    newest = restoring.pick(location, 0, params.manifest)
    if not newest:
        raise CheckFailed(f"{location} is empty", target=params.backup, code="data.missing")
    item = newest[0]
    entries = restoring.manifest(location, params.manifest) if params.manifest else None
    expected = restoring.expected(location, item, entries)
    if expected is None or expected[0] == "etag":  # MD5 would need a second pass: demand SHA-256
        raise CheckFailed(
            f"{item.key}: no manifest entry or SHA-256 checksum to prove it by",
            target=str(location),
            code="data.unverified",
        )
    remote = Remote.of(ctx, params.host)
    remote.output(["mkdir", "-p", "--", params.dest])
    path = posixpath.join(params.dest, safe_name(item.key, "backup"))
    backup = None
    if remote.exists(path):
        backup = f"{path}.lifeboat-before-{secrets.token_hex(4)}"
        remote.output(["mv", "--", path, backup])
    started = time.monotonic()
    try:
        written = remote.put(path, storage.chunks(location, item.key))
        if written.sha256 != expected[1]:
            remote.succeeds(["rm", "-f", "--", path])
            raise CheckFailed(
                f"{item.key}: {expected[0]} says {expected[1]}, the restored file is "
                f"{written.sha256}",
                target=str(location),
                code="data.corrupted",
                evidence={
                    "copy": str(location),
                    "key": item.key,
                    "expected_sha256": expected[1],
                    "sha256": written.sha256,
                    "path": path,
                    "previous_saved_as": backup,
                },
            )
    except StepError:
        if backup:  # leave the host as we found it
            remote.succeeds(["mv", "-f", "--", backup, path])
        raise
    seconds = time.monotonic() - started
    undo = revert_undo(params.host, [(path, backup)])
    evidence = {
        "backup": params.backup,
        "copy": str(location),
        "key": item.key,
        "modified": item.modified.isoformat(),
        "host": params.host,
        "path": path,
        "bytes": written.size,
        "sha256": written.sha256,
        "proof": expected[0],
        "seconds": round(seconds, 3),
        "previous_saved_as": backup,
        **recorded(
            Change(
                what=f"{params.host}:{path}",
                before=f"kept aside as {backup}" if backup else "no file",
                after=f"{item.key} restored ({written.size:,} bytes)",
                source=f"{location}{item.key} (modified "
                f"{item.modified:%Y-%m-%d %H:%M:%S} UTC, proven by {expected[0]})",
                checksum=written.sha256,
                kept_aside=backup,
            )
        ),
    }
    if params.verify:
        result = remote.pool.run(remote.target, [*params.verify, path], params.timeout)
        evidence["verify_exit"] = result.exit_status
        if result.exit_status != 0:  # not usable: leave the host as we found it
            remote.succeeds(["rm", "-f", "--", path])
            if backup:
                remote.succeeds(["mv", "-f", "--", backup, path])
            raise StepError(
                f"`{' '.join(params.verify)}` exited {result.exit_status} on {path}",
                target=params.host,
                evidence=evidence,
                code="data.restore_failed",
            )
    return StepOutput(
        summary=f"{params.host}: restored {item.key} ({written.size:,} bytes, backup of "
        f"{item.modified:%Y-%m-%d %H:%M} UTC) into {path}, sha256 proven by {expected[0]}",
        evidence=evidence,
        undo=undo,
    )
