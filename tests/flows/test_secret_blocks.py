"""Channel secrets from Prefect Secret blocks: real flow runs against the session's Prefect
server, delivering to the real HTTP receiver; the source's lookup rules without a server."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

import flows.secrets
from flows.run import run_sync
from flows.secrets import SecretBlocks, block_name
from lifeboat import secrets
from lifeboat.outcome import RunOutcome
from lifeboat.sandbox.receiver import Delivery, Receiver

BLOCK = "lifeboat-oncall-webhook"
VARIABLE = "LIFEBOAT_SECRET_ONCALL_WEBHOOK"
RUNBOOK = """\
id: secret-blocks
version: 1.0.0
title: Channel secrets from Prefect Secret blocks
owner: sre@example.com
stakeholders:
  oncall: {channels: ["${{ secrets.oncall_webhook }}"], required: true}
steps:
  - {id: opened, notify: incident.opened, to: [oncall]}
  - {id: resolved, notify: incident.resolved, to: [oncall]}
"""

# Apprise's e-mail plugin imports the stdlib ``imghdr`` (deprecated in 3.11) on first load.
IMGHDR = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    """No source nor remembered value leaks between these tests and the others."""
    secrets.forget()
    yield
    secrets.forget()


def delete_block() -> None:
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name=BLOCK, block_type_slug="secret")
        except ObjectNotFound:
            return
        client.delete_block_document(document.id)


@pytest.fixture
def no_block(prefect_server: str) -> Iterator[None]:
    delete_block()
    yield
    delete_block()


@pytest.fixture
def block(no_block: None, receiver: Receiver) -> str:
    """The Secret block ``lifeboat-oncall-webhook``: the receiver's URL, on a path of its own."""
    url = f"json://127.0.0.1:{receiver.port}/from-block-{uuid.uuid4().hex}"
    Secret(value=url).save(BLOCK)
    return url


@pytest.fixture
def runbook(tmp_path: Path, lifeboat_home: Path) -> str:
    path = tmp_path / "secret-blocks.yaml"
    path.write_text(RUNBOOK)
    return str(path)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Secret block the runs read from the server, in order."""
    done: list[str] = []
    real = flows.secrets.read_block

    def counted(name: str) -> str | None:
        done.append(name)
        return real(name)

    monkeypatch.setattr(flows.secrets, "read_block", counted)
    return done


def run(path: str) -> RunOutcome:
    outcome = run_sync(path, mode="live", reason="secret blocks").result(raise_on_failure=False)
    assert isinstance(outcome, RunOutcome), outcome
    return outcome


def posted(receiver: Receiver, url: str) -> list[Delivery]:
    path = "/" + url.split("/", 3)[3]
    return [d for d in receiver.deliveries() if d.path == path]


def run_logs(run_id: str) -> str:
    """What the run logged to the Prefect API (sent in the background: drained first)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(run_id)]))
        )
    return "\n".join(log.message for log in logs)


@IMGHDR
def test_a_secret_block_delivers_and_its_value_is_written_nowhere(
    runbook: str,
    block: str,
    receiver: Receiver,
    reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    caplog.set_level(logging.DEBUG)
    outcome = run(runbook)
    assert outcome.status == "succeeded", outcome.failed_step
    assert [s.summary for s in outcome.steps] == ["sent to 1 of 1 channels"] * 2
    assert len(posted(receiver, block)) == 2, "both steps reached the block's URL"
    assert reads == [BLOCK], "read once for the run, not once per step"
    journal = Path(outcome.journal).read_text()
    assert "${{ secrets.oncall_webhook }}" in journal
    logs = run_logs(outcome.run_id)
    assert "Finished in state Completed('all steps done')" in logs, logs
    hidden = block.partition("://")[2]  # Apprise's own spelling of the URL: http://<this>
    for written in (journal, outcome.model_dump_json(), caplog.text, logs):
        assert hidden not in written


@IMGHDR
def test_the_environment_variable_wins_over_the_block(
    runbook: str,
    block: str,
    receiver: Receiver,
    reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = f"json://127.0.0.1:{receiver.port}/from-env-{uuid.uuid4().hex}"
    monkeypatch.setenv(VARIABLE, env)
    outcome = run(runbook)
    assert outcome.status == "succeeded", outcome.failed_step
    assert len(posted(receiver, env)) == 2
    assert posted(receiver, block) == []
    assert reads == [], "the block is not even read"


def test_a_secret_in_neither_place_fails_the_step_naming_both(
    runbook: str, no_block: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    outcome = run(runbook)
    assert outcome.status == "failed"
    failed = outcome.failed_step
    assert failed is not None and failed.step_id == "opened"
    assert failed.error == (
        "required delivery failed: oncall, channel ${{ secrets.oncall_webhook }}, not sent: "
        "secret 'oncall_webhook' is not set "
        "(LIFEBOAT_SECRET_ONCALL_WEBHOOK or Prefect Secret block lifeboat-oncall-webhook)"
    )


# --- the source alone, no server ---


def test_block_names_are_lifeboat_dash_the_name_lower_cased() -> None:
    assert block_name("oncall_webhook") == "lifeboat-oncall-webhook"
    assert block_name("Oncall-Token") == "lifeboat-oncall-token"
    assert block_name("CUSTOMERS_EMAIL") == "lifeboat-customers-email"
    assert SecretBlocks(lambda _: None).where("oncall_webhook") == (
        "Prefect Secret block lifeboat-oncall-webhook"
    )


def test_each_block_is_read_once_found_or_not() -> None:
    asked: list[str] = []

    def read(name: str) -> str | None:
        asked.append(name)
        return {"lifeboat-hook": "hook-value"}.get(name)

    source = SecretBlocks(read)
    assert [source.get("hook"), source.get("HOOK"), source.get("gone"), source.get("gone")] == [
        "hook-value",
        "hook-value",
        None,
        None,
    ]
    assert asked == ["lifeboat-hook", "lifeboat-gone"]


def test_a_block_that_cannot_be_read_is_a_missing_secret_asked_again_later() -> None:
    calls: list[str] = []

    def read(name: str) -> str | None:
        calls.append(name)
        raise ConnectionError("server down")

    source = SecretBlocks(read)
    for _ in range(2):
        with pytest.raises(secrets.SecretMissing) as info:
            source.get("hook")
        assert str(info.value) == (
            "secret 'hook': could not read the Prefect Secret block lifeboat-hook: "
            "ConnectionError: server down"
        )
    assert calls == ["lifeboat-hook"] * 2


def test_the_environment_is_looked_up_before_the_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def read(name: str) -> str | None:
        asked.append(name)
        return f"block:{name}"

    monkeypatch.setenv("LIFEBOAT_SECRET_IN_ENV", "env-value")
    monkeypatch.delenv("LIFEBOAT_SECRET_IN_BLOCK", raising=False)
    secrets.install(SecretBlocks(read))
    assert secrets.resolve("${{ secrets.in_env }} ${{ secrets.in_block }}") == (
        "env-value block:lifeboat-in-block"
    )
    assert asked == ["lifeboat-in-block"]


def test_install_without_a_prefect_api_leaves_the_environment_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lifeboat.runbook.model import Runbook

    monkeypatch.setattr(flows.secrets, "api_configured", lambda: False)
    secrets.install(SecretBlocks(lambda _: "stale"))
    runbook = Runbook.model_validate(
        {
            "id": "x",
            "version": "1.0.0",
            "title": "x",
            "owner": "sre@example.com",
            "stakeholders": {"oncall": {"channels": ["${{ secrets.nowhere }}"]}},
            "steps": [{"id": "tell", "notify": "incident.opened", "to": ["oncall"]}],
        }
    )
    assert flows.secrets.install(runbook) is None
    assert secrets.installed() is None
