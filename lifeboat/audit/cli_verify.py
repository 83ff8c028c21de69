"""``lifeboat audit verify RUN|PATH [--against-offsite]``: is this run's record intact?

Exit 0 when the journal, its chain and its signed digest agree (and, with
``--against-offsite``, the off-site copy is the same and intact too); 1 naming the first
entry that does not fit; 2 when there is nothing to verify (no such run, no key).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lifeboat.console import EXIT_FAILED, EXIT_INVALID, fail, out

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from lifeboat.settings import Settings


def verify(
    target: Annotated[str, typer.Argument(help="A run id, a run folder or a journal.jsonl.")],
    against_offsite: Annotated[
        bool,
        typer.Option(
            "--against-offsite", help="Also compare with, and verify, the off-site WORM copy."
        ),
    ] = False,
) -> None:
    """Check a run's journal against its signed digest: modified, deleted, inserted or
    reordered entries, a cut tail, an altered or foreign signature. Exit 0 intact, 1 not."""
    from lifeboat.audit import integrity
    from lifeboat.errors import LifeboatError
    from lifeboat.settings import Settings

    settings = Settings()
    journal = _journal_of(target, settings.runs_dir)
    try:
        key = integrity.public_key(settings)
        check = integrity.verify_run(journal, key)
    except (LifeboatError, OSError) as exc:
        fail(str(exc), EXIT_INVALID)
    if not check.ok:
        fail(f"{journal}: {check.problem}", EXIT_FAILED)
    if against_offsite:
        _against_offsite(journal, check.run_id or journal.parent.name, settings, key)
    where = " and off-site" if against_offsite else ""
    out.print(
        f"intact{where}: run {check.run_id}, {check.entries} entries, signed by {check.signer}",
        markup=False,
    )


def _journal_of(target: str, runs_dir: Path) -> Path:
    path = Path(target)
    if path.is_dir():
        path = path / "journal.jsonl"
    elif not path.exists() and "/" not in target and target not in (".", ".."):
        path = runs_dir / target / "journal.jsonl"
    if not path.is_file():
        fail(f"no such run or journal: {target} (runs are in {runs_dir})", EXIT_INVALID)
    return path


def _against_offsite(journal: Path, run_id: str, settings: Settings, key: Ed25519PublicKey) -> None:
    from lifeboat.audit import integrity, offsite
    from lifeboat.errors import LifeboatError

    try:
        remote = offsite.fetch(run_id, settings, integrity.JOURNAL)
        sealed = offsite.fetch(run_id, settings, integrity.DIGEST)
    except LifeboatError as exc:
        fail(str(exc), EXIT_INVALID)
    if remote is None:
        fail(f"run {run_id}: no off-site copy of the journal in {settings.audit_offsite_uri}")
    local, local_digest = journal.read_bytes(), journal.parent.joinpath(integrity.DIGEST)
    differs = offsite.first_difference(local, remote)
    if differs is not None:
        fail(f"{journal}: {differs}", EXIT_FAILED)
    if sealed is None or sealed != local_digest.read_bytes():
        fail(f"run {run_id}: {integrity.DIGEST} differs from the off-site copy", EXIT_FAILED)
    check = integrity.verify_bytes(remote, sealed, key)
    if not check.ok:
        fail(f"run {run_id}, off-site copy: {check.problem}", EXIT_FAILED)
