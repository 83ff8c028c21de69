"""``lifeboat serve`` against the real Prefect test server: forms, versions, scheduled drills."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from lifeboat.sandbox.receiver import Receiver
from tests.conftest import LIFEBOAT_CLI
from tests.waiting import wait_until

SQLALCHEMY_21 = tuple(map(int, sqlalchemy.__version__.split(".")[:2])) >= (2, 1)
FLOW_NAME = "lifeboat-runbook"  # flows.run.FLOW_NAME
Serve = Callable[[Path], subprocess.Popen[str]]
# Each poll opens a Prefect client for one API call: a quarter of a second spares the server
# (and a busy machine) without making anything wait noticeably longer.
API_POLL_S = 0.25

MINUTELY = """\
id: {id}
version: {version}
title: {title}
owner: sre@example.com
objectives: {{rto: 30m, rpo: 24h}}
parameters:
  settle: {{type: integer, default: 5, description: Seconds to settle}}
  region: {{type: string, enum: [eu-west-3, eu-central-1], default: eu-west-3}}
  dry: {{type: boolean, default: true}}
stakeholders:
  oncall: {{channels: ['{hook}'], in_drills: true}}
  customers: {{audience: customers, channels: ['json://127.0.0.1:9/never']}}
drill: {{schedule: '* * * * *', timezone: Europe/Paris}}
steps:
{steps}"""

WAIT = "  - {id: settle, check: wait, with: {duration: 10ms}}\n"
BROKEN = "  - {id: probe, check: http.status, with: {url: 'http://127.0.0.1:9/', timeout: 2}}\n"


def _runbook(folder: Path, rid: str, steps: str, hook: str, version: str = "1.0.0") -> Path:
    path = folder / f"{rid}.yaml"
    text = MINUTELY.format(id=rid, version=version, title=f"Runbook {rid}", hook=hook, steps=steps)
    path.write_text(text)
    return path


def _serve_fixture(api: str, tmp_path: Path) -> Iterator[Serve]:
    """Start ``lifeboat serve DIR`` in a subprocess; every one started is killed at the end."""
    started: list[subprocess.Popen[str]] = []
    env = {**os.environ, "PREFECT_API_URL": api, "LIFEBOAT_HOME": str(tmp_path / "h")}

    def _serve(folder: Path) -> subprocess.Popen[str]:
        with (tmp_path / f"serve-{len(started)}.log").open("w") as log:
            process = subprocess.Popen(
                [LIFEBOAT_CLI, "serve", str(folder)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        started.append(process)
        return process

    yield _serve
    for process in started:
        stop(process)


@pytest.fixture
def serve(prefect_server: str, tmp_path: Path) -> Iterator[Serve]:
    yield from _serve_fixture(prefect_server, tmp_path)


@pytest.fixture
def serve_scheduled(full_prefect_server: str, tmp_path: Path) -> Iterator[Serve]:
    yield from _serve_fixture(full_prefect_server, tmp_path)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def api(url: str | None) -> Iterator[None]:
    """Point ``get_client()`` at ``url`` (None: the test harness's server)."""
    if url is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}):
        yield


def deployments(names: list[str], url: str | None = None) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_deployments(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names))
            )
        return {d.name: d for d in found}

    with api(url):
        return asyncio.run(read())


def runs_of(deployment_id: Any, url: str | None = None) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async def read() -> list[Any]:
        async with get_client() as client:
            return list(
                await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                )
            )

    with api(url):
        return asyncio.run(read())


def test_each_runbook_its_own_form(serve: Serve, tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    ok = _runbook(folder, "form-ok", WAIT, "json://127.0.0.1:9/x")
    _runbook(folder, "form-broken", BROKEN, "json://127.0.0.1:9/x", version="2.3.4")
    (folder / "invalid.yaml").write_text("id: invalid\nversion: nope\n")
    process = serve(folder)

    names = ["form-ok", "form-broken"]
    found = wait_until(
        lambda: d if len(d := deployments(names)) == 2 else None,
        "serve registered both deployments",
        timeout=60,
        every=API_POLL_S,
    )
    good, bad = found["form-ok"], found["form-broken"]
    assert good.version == f"1.0.0+{hashlib.sha256(ok.read_bytes()).hexdigest()[:8]}"
    assert bad.version.startswith("2.3.4+")
    assert set(good.tags) == {"lifeboat", "form-ok", "drill-scheduled"}
    assert good.description is not None and "Runbook form-ok" in good.description
    assert "RTO 30m" in good.description and "sre@example.com" in good.description
    schema = good.parameter_openapi_schema
    assert schema is not None
    props = schema["properties"]
    assert props["mode"]["enum"] == ["drill", "live"] and props["mode"]["default"] == "drill"
    assert props["incident"]["title"] == "Incident reference"
    assert "runbook_path" not in props  # fixed by the deployment, not in its form
    assert good.parameters["runbook_path"] == str(ok.resolve())
    ref = props["params"]["$ref"].rsplit("/", 1)[-1]
    fields = schema["definitions"][ref]["properties"]
    assert fields["settle"]["type"] == "integer" and fields["settle"]["default"] == 5
    assert fields["region"]["enum"] == ["eu-west-3", "eu-central-1"]
    assert fields["dry"]["type"] == "boolean"
    other = bad.parameter_openapi_schema
    assert other is not None
    assert bad.parameters["runbook_path"].endswith("form-broken.yaml")
    schedule = good.schedules[0].schedule
    assert getattr(schedule, "cron", None) == "* * * * *"
    assert getattr(schedule, "timezone", None) == "Europe/Paris"
    assert process.poll() is None
    log = (tmp_path / "serve-0.log").read_text()
    assert f"{folder / 'invalid.yaml'}:2:10: error: version" in log


@pytest.mark.skipif(
    SQLALCHEMY_21,
    reason="Prefect 3.8.8's scheduler fails on SQLAlchemy 2.1 (bulk insert of scheduled runs:"
    " 'Can't evaluate bulk DML statement'); no scheduled run is ever created",
)
def test_scheduled_drill_runs_on_its_own(
    serve_scheduled: Serve, full_prefect_server: str, tmp_path: Path
) -> None:
    url = full_prefect_server
    folder = tmp_path / "runbooks"
    folder.mkdir()
    _runbook(folder, "serve-cron", WAIT, "json://127.0.0.1:9/x")
    process = serve_scheduled(folder)
    found = wait_until(
        lambda: deployments(["serve-cron"], url),
        "serve registered the serve-cron deployment",
        timeout=60,
        every=API_POLL_S,
    )

    def completed() -> list[Any]:
        runs = runs_of(found["serve-cron"].id, url)
        return [r for r in runs if r.state and r.state.type.value == "COMPLETED"]

    # A hang guard, not a schedule check: the cron's next minute, the scheduler's 5 s loop,
    # serve's poll for runs and a 10 ms drill fit in it twice over.
    done = wait_until(
        completed, "a scheduled serve-cron drill completed", timeout=150, every=API_POLL_S
    )
    assert done[0].parameters["mode"] == "drill"
    assert process.poll() is None


def test_served_drills_run_and_a_failed_one_alerts_oncall(
    serve: Serve, tmp_path: Path, receiver: Receiver
) -> None:
    """Runs as the scheduler creates them (Scheduled, drill parameters), picked up by serve."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    folder = tmp_path / "runbooks"
    folder.mkdir()
    hook = f"json://127.0.0.1:{receiver.port}/serve-oncall"
    _runbook(folder, "serve-ok", WAIT, hook)
    _runbook(folder, "serve-broken", BROKEN, hook, version="2.3.4")
    before = len(receiver.files())
    process = serve(folder)
    names = ["serve-ok", "serve-broken"]
    wait_until(
        lambda: len(deployments(names)) == 2,
        "serve registered both deployments",
        timeout=60,
        every=API_POLL_S,
    )
    drill = {"mode": "drill", "reason": "scheduled drill"}
    good = run_deployment(f"{FLOW_NAME}/serve-ok", parameters=drill, timeout=90)
    bad = run_deployment(f"{FLOW_NAME}/serve-broken", parameters=drill, timeout=90)
    assert isinstance(good, FlowRun) and isinstance(bad, FlowRun)
    assert good.state is not None and good.state.is_completed(), good.state
    assert bad.state is not None and bad.state.is_failed(), bad.state
    assert "probe" in (bad.state.message or "")
    posted = [d for d in receiver.wait_for(before + 1, 30) if d.path == "/serve-oncall"]
    assert posted and "serve-broken" in str(posted[-1].json)
    assert "drill failed at probe" in str(posted[-1].json)
    assert process.poll() is None


def test_the_form_fixes_the_runbook_asks_a_plain_date_time_and_says_what_live_changes(
    prefect_server: str, repo: Path, tmp_path: Path
) -> None:
    from flows.serve import to_deployment
    from lifeboat.runbook import load
    from lifeboat.serving import spec

    path = tmp_path / "form-fixed.yaml"
    shipped = (repo / "runbooks" / "webapp-failover.yaml").read_text()
    path.write_text(shipped.replace("id: webapp-failover", "id: form-fixed", 1))
    to_deployment(spec(load(path))).apply()
    deployment = deployments(["form-fixed"])["form-fixed"]
    schema = deployment.parameter_openapi_schema
    assert schema is not None
    props = schema["properties"]
    assert list(props) == ["mode", "reason", "incident", "detected_at", "params"]
    assert [p["position"] for p in props.values()] == [0, 1, 2, 3, 4]
    assert deployment.parameters == {"runbook_path": str(path)}
    detected = props["detected_at"]
    assert (detected["type"], detected["format"], detected["title"]) == (
        "string",
        "date-time",
        "Detected at",
    )
    assert "anyOf" not in detected and "default" not in detected
    assert "detected_at" not in schema["required"]
    assert props["mode"]["description"] == (
        "live changes production: fence-primary (service.stop), restore (backup.restore), "
        "start-standby (service.start), switch (dns.switch); a drill plans and reports these "
        "steps without running them. Only live runs tell customers."
    )


def test_a_deployment_refuses_to_run_another_runbook_file(serve: Serve, tmp_path: Path) -> None:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    folder = tmp_path / "runbooks"
    folder.mkdir()
    fixed = _runbook(folder, "serve-fixed", WAIT, "json://127.0.0.1:9/x")
    other = _runbook(tmp_path, "not-served", WAIT, "json://127.0.0.1:9/x")
    serve(folder)
    wait_until(
        lambda: deployments(["serve-fixed"]).get("serve-fixed"),
        "serve registered the serve-fixed deployment",
        timeout=60,
        every=API_POLL_S,
    )
    # The form has no such field; Prefect's API (and the UI's JSON view) take it anyway.
    given = {"mode": "drill", "runbook_path": str(other.resolve())}
    run = run_deployment(f"{FLOW_NAME}/serve-fixed", parameters=given, timeout=90)
    assert isinstance(run, FlowRun) and run.state is not None
    assert run.state.is_failed(), run.state
    assert f"deployment serve-fixed runs {fixed.resolve()} only" in (run.state.message or "")
    assert not list((tmp_path / "h").glob("runs/*")), "nothing ran, nothing journaled"


def test_serving_a_changed_runbook_updates_its_version(serve: Serve, tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    path = _runbook(folder, "serve-versioned", WAIT, "json://127.0.0.1:9/x")
    first = serve(folder)
    name = ["serve-versioned"]
    wait_until(
        lambda: deployments(name).get("serve-versioned"),
        "serve registered the serve-versioned deployment",
        timeout=60,
        every=API_POLL_S,
    )
    stop(first)
    kept = deployments(name)["serve-versioned"]  # pause_on_shutdown=False
    assert kept.schedules[0].active and not kept.paused
    path.write_text(path.read_text().replace("version: 1.0.0", "version: 1.1.0"))
    serve(folder)

    def updated() -> Any:
        found = deployments(name).get("serve-versioned")
        return found if found and found.version.startswith("1.1.0+") else None

    deployment = wait_until(
        updated, "serve updated serve-versioned to version 1.1.0", timeout=60, every=API_POLL_S
    )
    assert deployment.schedules and deployment.schedules[0].active
    assert not deployment.paused


def test_no_valid_runbook_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("id: bad\nversion: nope\n")
    result = subprocess.run(
        [LIFEBOAT_CLI, "serve", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}:" in result.stderr
    assert "no valid runbook" in result.stderr


def test_form_types_required_and_odd_parameter_names(tmp_path: Path) -> None:
    from lifeboat.runbook import load
    from lifeboat.serving import parameter_schema

    path = tmp_path / "odd.yaml"
    path.write_text(
        "id: odd\nversion: 1.0.0\ntitle: Odd\nowner: o\n"
        "parameters:\n  target-host: {type: string, description: Where}\n"
        "  ratio: {type: number, default: 0.5}\n"
        "steps:\n  - {id: w, check: wait, with: {duration: 1ms}}\n"
    )
    schema = parameter_schema(load(path))
    assert "params" in schema["required"]
    fields = schema["definitions"]["RunbookParameters"]["properties"]
    assert fields["target-host"] == {
        "description": "Where",
        "title": "target-host",
        "type": "string",
    }
    assert fields["ratio"]["type"] == "number" and fields["ratio"]["default"] == 0.5
    assert schema["definitions"]["RunbookParameters"]["required"] == ["target-host"]
