"""Prove a backup can be restored: download it from an off-site copy and check every byte.

A backup nobody ever restored is a hope. ``backup.restore_test`` fetches the newest object
(or a random sample) of an off-site copy into a fresh scratch folder, on this machine or on
a runbook host over SFTP, and proves the bytes are the ones that were backed up: their
SHA-256 against a manifest or the store's SHA-256 checksum, else their MD5 against a
single-part ETag. An optional verify command (argv, never a shell line) then opens the
file the way a restore would (``gzip -t``, ``pg_restore --list``). The scratch folder is
removed afterwards, also on failure.

Object keys never become paths: a key such as ``../../etc/cron.d/x`` is restored as
``1-x`` inside the scratch folder, so a hostile or corrupt listing cannot write elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from checks.backup import BackupParams
from checks.backup_completeness import human_bytes
from checks.backup_restore_remote import RemoteScratch
from lifeboat import restoring, storage
from lifeboat.errors import CheckFailed, StepError
from lifeboat.registry import Ref, StepContext, StepOutput, registry, runbook_of
from lifeboat.remote import AbsoluteFolder
from lifeboat.storage import ObjectInfo, S3Location

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RestoreTestParams(BackupParams):
    source: str | None = Field(
        None, description="URI of the copy to restore from; default: the first off-site copy"
    )
    sample: int = Field(
        0, ge=0, le=1000, description="Restore this many objects picked at random (0: newest)"
    )
    host: Annotated[str | None, Ref("hosts")] = Field(
        None, description="Restore onto this host over SSH instead of this machine"
    )
    scratch: AbsoluteFolder | None = Field(
        None,
        description="Absolute folder in which a fresh scratch folder is made and removed",
    )
    manifest: str | None = Field(
        None, description="Key (under the copy's prefix) of a sha256sum-style manifest"
    )
    verify: list[str] | None = Field(
        None,
        min_length=1,
        description="Command run on each restored file, as argv; the file's path is appended",
    )
    timeout: float = Field(300.0, gt=0, le=86400, description="Seconds each verify command may run")


@dataclass
class Restored:
    """One object brought back, and how it was proven."""

    key: str
    path: str
    size: int = 0
    sha256: str = ""
    reference: str = ""  # manifest, checksum, etag: what the bytes were compared with
    modified: str = ""  # the object's time in the store (ISO 8601): how old the proof is
    problem: str | None = None
    verify_exit: int | None = None
    verify_output: str = ""

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass
class Scratch:
    """A fresh local folder under ``parent`` (the system's temp folder by default)."""

    parent: str | None
    path: str = field(init=False, default="")

    def __enter__(self) -> Scratch:
        if self.parent:
            Path(self.parent).mkdir(parents=True, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix="lifeboat-restore.", dir=self.parent)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @property
    def where(self) -> str:
        return "this machine"

    def write(self, name: str, chunks: Iterator[bytes]) -> tuple[str, int, str]:
        path = Path(self.path) / name
        digest, size = hashlib.sha256(), 0
        with path.open("xb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        return str(path), size, digest.hexdigest()

    def md5(self, path: str) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as data:
            while block := data.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()

    def run(self, argv: list[str], timeout: float) -> tuple[int, str]:
        try:
            done = subprocess.run(  # argv from the runbook, no shell
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError as exc:
            raise StepError(f"verify command not found: {argv[0]}", target=argv[0]) from exc
        except subprocess.TimeoutExpired:
            return -1, f"timed out after {timeout:g} s"
        return done.returncode, (done.stderr or done.stdout)[-500:]


def _restore_one(
    scratch: Scratch | RemoteScratch,
    location: S3Location,
    item: ObjectInfo,
    index: int,
    *,
    manifest: dict[str, str] | None,
    params: RestoreTestParams,
) -> Restored:
    name = f"{index}-{_SAFE.sub('_', item.key.rsplit('/', 1)[-1])[:100] or 'object'}"
    expected = restoring.expected(location, item, manifest)
    path, size, sha256 = scratch.write(name, storage.chunks(location, item.key))
    done = Restored(item.key, path, size, sha256, modified=item.modified.isoformat())
    if size != item.size:
        done.problem = f"{size:,} bytes restored, the store lists {item.size:,}"
    elif expected is None:
        done.problem = (
            "not listed in the manifest: nothing to compare with"
            if manifest is not None
            else "no SHA-256 checksum or MD5 ETag in the store, nothing to compare with"
        )
    else:
        done.reference, value = expected
        actual = scratch.md5(path) if done.reference == "etag" else sha256
        if actual != value:
            done.problem = f"{done.reference} mismatch: expected {value}, restored {actual}"
    if done.problem is None and params.verify:
        done.verify_exit, done.verify_output = scratch.run([*params.verify, path], params.timeout)
        if done.verify_exit != 0:
            done.problem = f"`{' '.join(params.verify)}` exited {done.verify_exit}"
    return done


@registry.check("backup.restore_test")
def restore_test(params: RestoreTestParams, ctx: StepContext) -> StepOutput:
    """Restore the newest backup (or a sample) from an off-site copy and prove its bytes."""
    runbook = runbook_of(ctx)
    location = restoring.source_copy(runbook, params.backup, params.source)
    items = restoring.pick(location, params.sample, params.manifest)
    if not items:
        raise CheckFailed(f"{location} is empty", target=params.backup, code="data.missing")
    manifest = restoring.manifest(location, params.manifest) if params.manifest else None
    scratch = RemoteScratch(ctx, params.host, params.scratch) if params.host else None
    started = time.monotonic()
    with scratch or Scratch(params.scratch) as place:
        restored = []
        for index, item in enumerate(items, 1):
            restored.append(
                _restore_one(place, location, item, index, manifest=manifest, params=params)
            )
            done = restored[-1]
            ctx.log(
                f"{done.key}: {human_bytes(done.size)} to {place.where}: {done.problem or 'ok'}"
            )
    seconds = time.monotonic() - started
    size = sum(r.size for r in restored)
    rate = size / 1e6 / seconds if seconds > 0 else 0.0
    evidence = {
        "backup": params.backup,
        "copy": str(location),
        "host": params.host,
        "scratch": place.path,
        "cleaned": place.cleaned if isinstance(place, RemoteScratch) else True,
        "objects": [r.row() for r in restored],
        "bytes": size,
        "seconds": round(seconds, 3),
        "mb_per_s": round(rate, 3),
    }
    failed = [r for r in restored if r.problem]
    if failed:
        code = _code(failed)
        why = "; ".join(f"{r.key}: {r.problem}" for r in failed[:5])
        raise CheckFailed(why, target=str(location), evidence=evidence, code=code)
    onto = params.host or "this machine"
    speed = f"{human_bytes(size / seconds) if seconds > 0 else '-'}/s"
    proofs = ", ".join(sorted({r.reference for r in restored}))
    summary = (
        f"{params.backup}: restored {len(restored)} object{'s' * (len(restored) != 1)} "
        f"({human_bytes(size)}) from {location} onto {onto} at {speed}; "
        f"verified by {proofs}{', and ' + params.verify[0] if params.verify else ''}"
    )
    if not evidence["cleaned"]:
        summary += f"; WARNING: scratch folder {place.path} could not be removed"
    return StepOutput(summary=summary, evidence=evidence)


def _code(failed: list[Restored]) -> str:
    problems = " ".join(r.problem or "" for r in failed)
    if "mismatch" in problems or "bytes restored" in problems:
        return "data.corrupted"
    if "to compare with" in problems:
        return "data.unverified"
    return "data.restore_failed"
