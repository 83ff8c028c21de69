"""Load a runbook file: read, parse, validate everything, and pin its identity.

``load(path)`` either returns a ``LoadedRunbook`` whose every step (``with:`` included)
has been validated, or raises ``RunbookInvalid`` carrying all the file's diagnostics.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lifeboat.errors import Diagnostic, RunbookInvalid
from lifeboat.registry import StepRegistry, default_registry
from lifeboat.runbook.model import Runbook
from lifeboat.runbook.placement import belongs
from lifeboat.runbook.semantics import Checker, kind_message
from lifeboat.runbook.source import MAX_FILE_BYTES, Source, parse
from lifeboat.runbook.validation_messages import model_keys, pydantic_diagnostics

RUNBOOK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedRunbook:
    """A validated runbook and the identity of the exact bytes it came from."""

    runbook: Runbook
    path: Path
    sha256: str
    # The path made absolute when the file was read: git is asked later (lazily), maybe
    # after the process changed its working directory, where a relative path names nothing.
    absolute: Path = field(default=Path(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "absolute", self.path.absolute())

    @functools.cached_property
    def git_commit(self) -> str | None:
        """The commit that last touched the file, when it lives in a git work tree."""
        return last_commit(self.absolute)

    @functools.cached_property
    def git_dirty(self) -> bool | None:
        """Whether the file differs from that commit (None: not in a git work tree)."""
        return uncommitted(self.absolute)


def _git(path: Path, *args: str) -> str | None:
    """``git -C <the file's folder> ARGS``'s output, or None when git cannot answer.

    ``git -C`` the file's own folder, whatever the working directory: git was run in
    ``path.parent``, relative, which named nothing once the process had moved elsewhere,
    and the review printed ``-`` for a runbook that is in a checkout. Callers pass the
    path made absolute when the file was read. ``--no-optional-locks``: asking must never
    write the checkout's index.
    """
    where = path.absolute()
    try:
        result = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(where.parent), *args, "--", where.name],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def last_commit(path: Path) -> str | None:
    """The last commit that touched ``path`` (None: outside git, or never committed)."""
    commit = (_git(path, "log", "-1", "--format=%H") or "").strip()
    return commit or None


def uncommitted(path: Path) -> bool | None:
    """Whether ``path`` has changes not committed (modified, staged, or never added);
    None when it is not in a git work tree."""
    status = _git(path, "status", "--porcelain", "--untracked-files=all")
    return None if status is None else bool(status.strip())


@functools.cache
def _runbook_keys() -> frozenset[str]:
    return frozenset(model_keys(Runbook))


def validate_source(
    source: Source, registry: StepRegistry, params: dict[str, Any] | None = None
) -> tuple[Runbook | None, list[Diagnostic]]:
    """The model (when its shapes are valid) and every diagnostic, shapes and semantics."""
    diagnostics: list[Diagnostic] = list(source.problems)
    model: Runbook | None = None
    try:
        model = Runbook.model_validate(source.data)
    except ValidationError as exc:
        diagnostics.extend(
            pydantic_diagnostics(
                source,
                exc,
                known_keys=set(_runbook_keys()),
                kind_message=kind_message,
                belongs=functools.partial(belongs, source.data, registry),
            )
        )
    diagnostics.extend(Checker(source, registry, params).run())
    return model, diagnostics


def load(
    path: str | Path,
    *,
    registry: StepRegistry | None = None,
    params: dict[str, Any] | None = None,
) -> LoadedRunbook:
    """Read and fully validate one runbook; raise ``RunbookInvalid`` with every problem."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            # Never more than the limit: a 10 GB file or /dev/zero must not fill the memory.
            raw = stream.read(MAX_FILE_BYTES + 1)
            size = os.fstat(stream.fileno()).st_size
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RunbookInvalid([Diagnostic(str(path), 1, 1, f"cannot read file: {reason}")]) from exc
    if len(raw) > MAX_FILE_BYTES:
        what = f"{size} bytes" if size > MAX_FILE_BYTES else "more than 1 MiB"
        message = f"file is {what}; a runbook may be at most 1 MiB"
        raise RunbookInvalid([Diagnostic(str(path), 1, 1, message)])
    return load_bytes(raw, path, registry=registry, params=params)


def load_bytes(
    raw: bytes,
    path: Path,
    *,
    registry: StepRegistry | None = None,
    params: dict[str, Any] | None = None,
) -> LoadedRunbook:
    """Validate a runbook's bytes; ``path`` names it in diagnostics and identity."""
    source = parse(str(path), raw)
    model, diagnostics = validate_source(source, registry or default_registry(), params)
    if diagnostics or model is None:
        raise RunbookInvalid(diagnostics)
    return LoadedRunbook(model, path, hashlib.sha256(raw).hexdigest())


def discover(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Runbook files named directly, and every *.yaml / *.yml below named folders."""
    for item in map(Path, paths):
        if item.is_dir():
            yield from sorted(
                p for p in item.rglob("*") if p.suffix in RUNBOOK_SUFFIXES and p.is_file()
            )
        else:
            yield item
