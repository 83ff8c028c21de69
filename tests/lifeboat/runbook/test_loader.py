"""Loading: every shipped runbook validates, identity is pinned, references are checked."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pytest

from lifeboat.errors import RunbookInvalid
from lifeboat.registry import Params, Ref, StepContext, StepOutput, StepRegistry
from lifeboat.runbook import load
from lifeboat.runbook.loader import discover

REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted(discover([REPO / "runbooks"]))


def test_runbooks_folder_is_not_empty() -> None:
    assert {p.name for p in SHIPPED} >= {"webapp-failover.yaml", "backup-drill.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_runbook_validates(path: Path) -> None:
    loaded = load(path)
    assert loaded.runbook.id == path.stem
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_identity_includes_the_git_commit(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    shutil.copy(REPO / "runbooks" / "backup-drill.yaml", tmp_path / "drill.yaml")
    env = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", *env, "add", "drill.yaml"], cwd=tmp_path, check=True)
    subprocess.run(["git", *env, "commit", "-qm", "add"], cwd=tmp_path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.strip()
    assert load(tmp_path / "drill.yaml").git_commit == head


def test_outside_git_there_is_no_commit(tmp_path: Path) -> None:
    shutil.copy(REPO / "runbooks" / "backup-drill.yaml", tmp_path / "drill.yaml")
    assert load(tmp_path / "drill.yaml").git_commit is None


def test_default_needs_is_the_previous_step(with_steps: Callable[[str], Path]) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
        "  - {id: b, check: tcp.open, with: {host: h, port: 2}}\n"
        "  - {id: c, needs: [], check: tcp.open, with: {host: h, port: 3}}\n"
    )
    runbook = load(path).runbook
    assert [s.needs for s in runbook.steps] == [None, None, []]


def test_with_depending_on_a_parameter_without_value_is_checked_at_plan_time(
    with_steps: Callable[[str], Path],
) -> None:
    path = with_steps("  - {id: a, check: http.status, with: {url: '${{ params.path }}'}}\n")
    load(path)  # 'path' has no default: the URL cannot be judged yet
    with pytest.raises(RunbookInvalid, match=r"step 1 'a' with\.url: Input should be a valid URL"):
        load(path, params={"port": 443, "path": "not a url"})
    load(path, params={"port": 443, "path": "https://127.0.0.1/health"})


def test_typed_template_fits_integer_field(with_steps: Callable[[str], Path]) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, "
        "with: {host: '${{ hosts.web-b.address }}', port: '${{ params.port }}'}}\n"
    )
    load(path)


class CopyParams(Params):
    host: Annotated[str, Ref("hosts")]
    backup: Annotated[str, Ref("backups")]


def test_reference_fields_must_name_declared_entities(with_steps: Callable[[str], Path]) -> None:
    local = StepRegistry()

    @local.action("copy.run", reversible=True)
    def copy(params: CopyParams, ctx: StepContext) -> StepOutput:
        return StepOutput(summary="copied")

    path = with_steps("  - {id: a, action: copy.run, with: {host: web-c, backup: db}}\n")
    with pytest.raises(RunbookInvalid) as info:
        load(path, registry=local)
    messages = [d.message for d in info.value.diagnostics]
    assert messages == ["undefined host 'web-c' (did you mean 'web-b'?)", "undefined backup 'db'"]
    good = with_steps("  - {id: a, action: copy.run, with: {host: web-b, backup: db}}\n")
    with pytest.raises(RunbookInvalid, match="undefined backup 'db'"):
        load(good, registry=local)


def test_discover_finds_yaml_below_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/one.yaml", "two.yml", "notes.md"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in discover([tmp_path])] == ["one.yaml", "two.yml"]


def test_references_see_declaration_defaults(with_steps: Callable[[str], Path]) -> None:
    # web-a declares no port: the reference resolves to the default 22, an integer.
    path = with_steps(
        "  - {id: a, check: tcp.open, "
        "with: {host: '${{ hosts.web-a.address }}', port: '${{ hosts.web-a.port }}'}}\n"
    )
    load(path)


def test_run_fields_are_checked_at_run_time(with_steps: Callable[[str], Path]) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: '${{ run.incident }}', port: 1}}\n"
    )
    load(path)


def test_the_git_commit_is_found_after_the_process_moved_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path, and git asked later from another working directory (a flow run):
    git ran in the relative folder, which named nothing there, and the review said ``-``."""
    checkout = tmp_path / "ops"
    (checkout / "runbooks").mkdir(parents=True)
    shutil.copy(REPO / "runbooks" / "backup-drill.yaml", checkout / "runbooks" / "drill.yaml")
    who = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    for argv in (["init", "-q"], ["add", "."], ["commit", "-qm", "add"]):
        subprocess.run(["git", *who, *argv], cwd=checkout, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=checkout, check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.chdir(checkout)
    loaded = load(Path("runbooks/drill.yaml"))
    monkeypatch.chdir(tmp_path)
    assert (loaded.git_commit, loaded.git_dirty) == (head, False)


def test_uncommitted_changes_and_a_file_never_committed_are_said(tmp_path: Path) -> None:
    shutil.copy(REPO / "runbooks" / "backup-drill.yaml", tmp_path / "drill.yaml")
    who = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    loaded = load(tmp_path / "drill.yaml")
    assert (loaded.git_commit, loaded.git_dirty) == (None, True)  # in a checkout, not added
    for argv in (["add", "drill.yaml"], ["commit", "-qm", "add"]):
        subprocess.run(["git", *who, *argv], cwd=tmp_path, check=True)
    with (tmp_path / "drill.yaml").open("a") as edited:
        edited.write("# edited\n")
    loaded = load(tmp_path / "drill.yaml")
    assert loaded.git_commit is not None and loaded.git_dirty is True
    outside = tmp_path.parent / f"{tmp_path.name}-plain"
    outside.mkdir()
    shutil.copy(REPO / "runbooks" / "backup-drill.yaml", outside / "drill.yaml")
    assert load(outside / "drill.yaml").git_dirty is None
