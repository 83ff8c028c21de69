"""``file.copy``: files from one runbook host to another, through the orchestrator.

What a failback needs: the data written on site B while it served goes back to site A
before A serves again. Hosts never get credentials for each other: the orchestrator reads
over one SFTP session and writes over the other. Each file is proven end to end: the
source host hashes it, the destination host hashes what landed, and only equal hashes let
it replace the destination file (kept aside for the rollback).

The names come from the source host, which is not trusted with the destination's paths:
a name that is empty, ``.`` or ``..``, or holds ``/`` or NUL (no SFTP server lists one, a
hostile or broken one can) is refused and reported, never joined into a path.
"""

from __future__ import annotations

import fnmatch
import posixpath
import secrets
from collections.abc import Iterable
from typing import Annotated

from pydantic import Field

from lifeboat import sftp
from lifeboat.actions.files import revert_undo
from lifeboat.changes import Change, recorded
from lifeboat.errors import StepError
from lifeboat.registry import Params, Ref, StepContext, StepOutput, registry
from lifeboat.remote import Remote, RemotePath

#: Refused names shown in a step's summary and evidence (a host can list thousands).
MAX_REFUSED_SHOWN = 20


class CopyParams(Params):
    from_host: Annotated[str, Ref("hosts")] = Field(description="The host to copy from")
    from_dir: RemotePath = Field(description="Folder on the source host")
    to_host: Annotated[str, Ref("hosts")] = Field(description="The host to copy to")
    to_dir: RemotePath = Field(description="Folder on the destination host (created)")
    pattern: str = Field("*", description="Which files of the folder (shell pattern)")
    newest: int = Field(0, ge=0, description="Copy only the N newest matching files (0: all)")


@registry.action("file.copy", reversible=True)
def file_copy(params: CopyParams, ctx: StepContext) -> StepOutput:
    """Copy files between hosts, each hash-proven on both; undo: the previous files back."""
    source, dest = Remote.of(ctx, params.from_host), Remote.of(ctx, params.to_host)
    found, refused = safe_files(sftp.listdir(source.pool, source.target, params.from_dir))
    chosen = [f for f in found if fnmatch.fnmatchcase(f.name, params.pattern)]
    chosen = chosen[: params.newest] if params.newest else chosen
    refusal = _refusal(params.from_host, refused) if refused else ""
    if refusal:
        ctx.log(refusal)
    if not chosen:
        raise StepError(
            f"no file matching {params.pattern!r} in {params.from_dir}"
            + (f" ({refusal})" if refusal else ""),
            target=params.from_host,
            code="data.missing",
        )
    dest.output(["mkdir", "-p", "--", params.to_dir])
    written: list[tuple[str, str | None]] = []
    rows, sizes = [], []
    changes: list[Change] = []
    try:
        for item in chosen:
            origin = posixpath.join(params.from_dir, item.name)
            target = posixpath.join(params.to_dir, item.name)
            expected = source.sha256(origin)
            backup = None
            if dest.exists(target):
                backup = f"{target}.lifeboat-before-{secrets.token_hex(4)}"
                dest.output(["cp", "-p", "--", target, backup])
            written.append((target, backup))
            landed = dest.put(target, sftp.download(source.pool, source.target, origin))
            if landed.sha256 != expected:
                raise StepError(
                    f"{origin}: {params.from_host} hashed {expected}, "
                    f"{params.to_host} received {landed.sha256}",
                    target=params.to_host,
                    code="data.corrupted",
                )
            rows.append(
                {
                    "file": item.name,
                    "bytes": landed.size,
                    "sha256": landed.sha256,
                    "previous_saved_as": backup,
                }
            )
            changes.append(
                Change(
                    what=f"{params.to_host}:{target}",
                    before=f"kept aside as {backup}" if backup else "no file",
                    after=f"copied ({landed.size:,} bytes)",
                    source=f"{params.from_host}:{origin}",
                    checksum=landed.sha256,
                    kept_aside=backup,
                )
            )
            sizes.append(landed.size)
            ctx.log(f"{params.from_host}:{origin} -> {params.to_host}:{target} ({landed.size:,} B)")
    except StepError:
        _put_back(dest, written)  # a failed step is not rolled back: leave no half copy
        raise
    total = sum(size for size in sizes)
    return StepOutput(
        summary=f"copied {len(rows)} file{'s' * (len(rows) != 1)} ({total:,} bytes) from "
        f"{params.from_host}:{params.from_dir} to {params.to_host}:{params.to_dir}, "
        "sha256 equal on both hosts" + (f"; {refusal}" if refusal else ""),
        evidence={
            "files": rows,
            "refused_names": _shown(refused),
            "refused_count": len(refused),
            **params.model_dump(),
            **recorded(*changes),
        },
        undo=revert_undo(params.to_host, written),
    )


def _put_back(dest: Remote, written: list[tuple[str, str | None]]) -> None:
    for path, backup in reversed(written):
        if backup is None:
            dest.succeeds(["rm", "-f", "--", path])
        else:
            dest.succeeds(["mv", "-f", "--", backup, path])


def unsafe_name(name: str) -> bool:
    """Whether a listed file name must not be joined into a path: empty, ``.``, ``..``,
    or holding ``/`` or NUL (it would name the folder itself, or lead out of it)."""
    return name in ("", ".", "..") or "/" in name or "\0" in name


def safe_files(listed: Iterable[sftp.RemoteFile]) -> tuple[list[sftp.RemoteFile], list[str]]:
    """The listed files whose names are safe (in order), and the refused names."""
    safe: list[sftp.RemoteFile] = []
    refused: list[str] = []
    for item in listed:
        if unsafe_name(item.name):
            refused.append(item.name)
        else:
            safe.append(item)
    return safe, refused


def _shown(names: list[str]) -> list[str]:
    """The first refused names, quoted (``repr``: a NUL or a terminal escape shown, not
    sent to a journal, a message or a terminal as it is)."""
    return [repr(name) for name in names[:MAX_REFUSED_SHOWN]]


def _refusal(host: str, refused: list[str]) -> str:
    shown = ", ".join(_shown(refused))
    more = (
        f" and {len(refused) - MAX_REFUSED_SHOWN} more" if len(refused) > MAX_REFUSED_SHOWN else ""
    )
    return (
        f"refused {len(refused)} unsafe file name{'s' * (len(refused) != 1)} listed by "
        f"{host} (empty, '.', '..', or holding '/' or NUL): {shown}{more}"
    )
