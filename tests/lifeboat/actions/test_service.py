"""service.start / stop / restart over real SSH, on a sandbox site's systemctl (its web app)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeboat import changes
from lifeboat.actions.service import ServiceParams, restart, start, stop
from lifeboat.changes import Change
from lifeboat.errors import StepError
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.sshd import SshdSites
from lifeboat.settings import Settings
from lifeboat.ssh import close_pool
from lifeboat.testing import RunbookContext


@pytest.fixture
def ctx(clean_sites: SshdSites, no_config: Path) -> Iterator[RunbookContext]:
    endpoint = clean_sites.endpoint("site-b")
    host = {
        "site": "b",
        "address": endpoint.host,
        "port": endpoint.port,
        "user": endpoint.user,
        "identity_file": str(endpoint.identity_file),
    }
    runbook = Runbook.model_validate(
        {
            "id": "svc",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {"b": {"provider": "onprem", "region": "lab"}},
            "hosts": {"web-b": host},
            "steps": [{"id": "x", "check": "wait", "with": {"duration": "1s"}}],
        }
    )
    settings = Settings(known_hosts=endpoint.known_hosts, ssh_config=no_config)
    context = RunbookContext(runbook, mode="live", settings=settings)
    yield context
    close_pool(context)


def webapp() -> ServiceParams:
    return ServiceParams(host="web-b", unit="webapp")


def test_start_then_its_undo_stops_it(ctx: RunbookContext, clean_sites: SshdSites) -> None:
    started = start(webapp(), ctx)
    assert started.summary == "web-b: systemctl start webapp: now active"
    assert started.evidence["was_active"] is False
    assert started.undo is not None and started.undo.action == "service.stop"
    again = start(webapp(), ctx)  # a resumed or repeated run does not flap it
    assert again.summary == "web-b: webapp already active, nothing to do" and again.undo is None
    stopped = stop(ServiceParams.model_validate(started.undo.with_), ctx)
    assert stopped.summary == "web-b: systemctl stop webapp: now inactive"
    assert not (clean_sites["site-b"].root / "webapp.pid").exists()


def test_restart_keeps_it_active_and_needs_no_undo(ctx: RunbookContext) -> None:
    start(webapp(), ctx)
    output = restart(webapp(), ctx)
    assert output.evidence["is_active"] is True and output.undo is None


def test_an_unknown_unit_fails_with_systemctl_s_words(ctx: RunbookContext) -> None:
    with pytest.raises(StepError, match=r"`systemctl start nope` exited 5, unit is inactive"):
        start(ServiceParams(host="web-b", unit="nope"), ctx)


def test_unit_names_cannot_smuggle_options_or_commands() -> None:
    for bad in ("--now", "a b", "x;reboot", ""):
        with pytest.raises(ValueError, match="String should match pattern"):
            ServiceParams(host="web-b", unit=bad)


def test_the_unit_s_state_before_and_after_is_recorded(ctx: RunbookContext) -> None:
    started = start(webapp(), ctx)
    assert changes.read(started.evidence) == [
        Change(what="web-b: webapp", before="inactive", after="active")
    ]
    again = start(webapp(), ctx)
    assert changes.read(again.evidence) == [
        Change(what="web-b: webapp", before="active", after="active")
    ]
    assert again.evidence["is_active"] is True
    restarted = restart(webapp(), ctx)
    assert changes.read(restarted.evidence) == [
        Change(what="web-b: webapp", before="active", after="active (restarted)")
    ]
    with pytest.raises(StepError) as failed:
        start(ServiceParams(host="web-b", unit="nope"), ctx)
    assert changes.read(failed.value.evidence) == [
        Change(what="web-b: nope", before="inactive", after="inactive")
    ]
