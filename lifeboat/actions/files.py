"""Files and scripts onto runbook hosts: ``file.put``, ``file.revert``, ``ssh.script``.

Local files come only from the runbook's own folder (``files`` or ``scripts`` below it):
a runbook cannot read ``/etc/shadow`` of the orchestrator by naming it. Remote writes are
atomic and verified by the host's own hash (``lifeboat.remote``); the file a ``file.put``
replaces is kept beside it so the rollback can put it back.
"""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from lifeboat.changes import Change, recorded
from lifeboat.errors import StepError
from lifeboat.registry import Params, Ref, StepContext, StepOutput, Undo, registry
from lifeboat.remote import Remote, RemotePath
from lifeboat.runbook.types import LocalName

_CHUNK = 1 << 20


def local_file(ctx: StepContext, folder: str, name: str) -> Path:
    """``name`` inside ``<runbook folder>/<folder>``; anything that escapes it is refused."""
    loaded: Any = getattr(ctx, "loaded", None)
    if loaded is None:
        raise StepError(f"{folder}/{name}: run through the engine, which knows the runbook path")
    base = (Path(loaded.path).parent / folder).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise StepError(f"{name!r} is outside {base}: refused", target=name)
    if not path.is_file():
        raise StepError(f"{path} is not a file", target=name)
    return path


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            yield chunk


class FilePutParams(Params):
    host: Annotated[str, Ref("hosts")] = Field(description="A host declared in the runbook")
    path: RemotePath = Field(description="Where to write it on the host")
    source: LocalName | None = Field(
        None,
        description="A file under the runbook's `files/` folder (exactly one of source, content)",
    )
    content: str | None = Field(
        None, description="The file's text (exactly one of source, content)"
    )
    mode: str = Field("0644", pattern=r"^0?[0-7]{3}$", description="Permissions, in octal")

    @model_validator(mode="after")
    def _one_source(self) -> FilePutParams:
        if (self.source is None) == (self.content is None):
            raise ValueError("give exactly one of source and content")
        return self


class Reverted(Params):
    path: RemotePath = Field(description="A file a step wrote")
    backup: RemotePath | None = Field(
        None, description="Its saved previous version; none: it did not exist, remove it"
    )


class FileRevertParams(Params):
    host: Annotated[str, Ref("hosts")] = Field(description="A host declared in the runbook")
    files: list[Reverted] = Field(min_length=1, description="The files to put back")


def revert_undo(host: str, files: list[tuple[str, str | None]]) -> Undo:
    """The undo of a step that wrote ``files`` ((path, saved previous version or None))."""
    rows = [{"path": path, "backup": backup} for path, backup in files]
    return Undo(action="file.revert", with_={"host": host, "files": rows})


@registry.action("file.put", reversible=True)
def file_put(params: FilePutParams, ctx: StepContext) -> StepOutput:
    """Write a file on a host, atomically and hash-verified; undo: the previous version back."""
    remote = Remote.of(ctx, params.host)
    if params.source is not None:
        chunks: Iterator[bytes] = _read(local_file(ctx, "files", params.source))
    else:
        chunks = iter([(params.content or "").encode()])
    backup = None
    if remote.exists(params.path):
        folder, name = posixpath.split(params.path)
        backup = posixpath.join(folder or ".", f".{name}.lifeboat-before-{secrets.token_hex(4)}")
        remote.output(["cp", "-p", "--", params.path, backup])
    written = remote.put(params.path, chunks, int(params.mode, 8))
    evidence = {
        "host": params.host,
        "path": params.path,
        "bytes": written.size,
        "sha256": written.sha256,
        "previous_saved_as": backup,
        **recorded(
            Change(
                what=f"{params.host}:{params.path}",
                before=f"kept aside as {backup}" if backup else "no file",
                after=f"written ({written.size:,} bytes, mode {params.mode})",
                source=f"files/{params.source}" if params.source else "the step's content",
                checksum=written.sha256,
                kept_aside=backup,
            )
        ),
    }
    undo = revert_undo(params.host, [(params.path, backup)])
    return StepOutput(
        summary=f"{params.host}: wrote {params.path} ({written.size:,} bytes, sha256 "
        f"{written.sha256[:12]} verified on the host)",
        evidence=evidence,
        undo=undo,
    )


@registry.action("file.revert", reversible=False)
def file_revert(params: FileRevertParams, ctx: StepContext) -> StepOutput:
    """Put files' saved previous versions back, or remove those that did not exist."""
    remote = Remote.of(ctx, params.host)
    said = []
    changes = []
    for item in reversed(params.files):
        what = f"{params.host}:{item.path}"
        if item.backup is None:
            remote.output(["rm", "-f", "--", item.path])
            said.append(f"removed {item.path}")
            changes.append(Change(what=what, before="written by the step", after="removed"))
        else:
            remote.output(["mv", "-f", "--", item.backup, item.path])
            said.append(f"restored the previous {item.path}")
            changes.append(
                Change(
                    what=what,
                    before="written by the step",
                    after=f"the previous version, moved back from {item.backup}",
                )
            )
    return StepOutput(
        summary=f"{params.host}: {'; '.join(said)}",
        evidence=params.model_dump() | recorded(*changes),
    )


class ScriptParams(Params):
    host: Annotated[str, Ref("hosts")] = Field(description="A host declared in the runbook")
    script: LocalName = Field(description="A file under the runbook's `scripts/` folder")
    argv: list[str] = Field([], description="Arguments, passed as argv items (never a shell line)")
    expect: list[int] = Field([0], min_length=1, description="Accepted exit statuses")
    timeout: float = Field(600.0, gt=0, le=86400, description="Seconds the script may run")
    sudo: bool = Field(False, description="Run through `sudo -n --`")


@registry.action("ssh.script", reversible=False)
def ssh_script(params: ScriptParams, ctx: StepContext) -> StepOutput:
    """Upload a script from the runbook's scripts/ folder and run it on a host with argv."""
    script = local_file(ctx, "scripts", params.script)
    remote = Remote.of(ctx, params.host)
    # mktemp -d: a fresh folder only we can write (0700), not a guessable /tmp name.
    folder = remote.output(["mktemp", "-d", "-t", "lifeboat-script.XXXXXXXX"]).strip()
    try:
        uploaded = remote.put(f"{folder}/{script.name}", _read(script), 0o700)

        def log_line(stream: str, line: str) -> None:
            ctx.log(f"{params.host} {stream}: {line}")

        argv = [uploaded.path, *params.argv]
        result = remote.pool.run(
            remote.target, argv, params.timeout, sudo=params.sudo, on_line=log_line
        )
    finally:
        remote.succeeds(["rm", "-rf", "--", folder])
    ran = Change(  # what the script changed is its own business: say what ran, and how
        what=f"{params.host}: scripts/{params.script} {' '.join(params.argv)}".rstrip(),
        after=f"exited {result.exit_status}",
        source=f"scripts/{params.script}",
        checksum=uploaded.sha256,
    )
    evidence = {
        "host": params.host,
        "script": params.script,
        "sha256": uploaded.sha256,
        "argv": params.argv,
        "exit_status": result.exit_status,
        "stdout_tail": result.stdout[-2048:],
        "stderr_tail": result.stderr[-2048:],
        **recorded(ran),
    }
    if result.exit_status not in params.expect:
        stderr = " / ".join(result.stderr.strip().splitlines()[-3:]) or "(no stderr)"
        raise StepError(
            f"{params.script} exited {result.exit_status}; stderr: {stderr}",
            target=params.host,
            evidence=evidence,
        )
    return StepOutput(
        summary=f"{params.host}: {params.script} exited {result.exit_status}", evidence=evidence
    )
