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
    with pytest.raises(RunbookInvalid, match=r"steps\[0\]\.with\.url: Input should be a valid URL"):
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
