"""The composed sandbox: env() reaches every service; sandbox.json lets another process stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import apprise
import pytest

from lifeboat.sandbox import Sandbox, ServiceStartError, down, read_state, status
from lifeboat.sandbox import process as process_module
from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.sshd import SshdSite
from lifeboat.sandbox.state import ADOPTED, SandboxState, ServiceRecord, write_state
from lifeboat.settings import Settings


def test_env_names_every_service(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert env["AWS_ENDPOINT_URL"] == sandbox.s3.url
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-3"
    assert env["LIFEBOAT_SMTP_URL"].startswith(f"mailto://127.0.0.1:{sandbox.smtp.port}?")
    assert env["LIFEBOAT_RECEIVER_URL"] == sandbox.receiver.url
    assert Path(env["LIFEBOAT_KNOWN_HOSTS"]).read_text().count("ssh-ed25519") == 2
    assert "Host site-a" in Path(env["LIFEBOAT_SSH_CONFIG"]).read_text()
    assert env["LIFEBOAT_SANDBOX_ENTRY_URL"] == sandbox.entry.url
    assert env["LIFEBOAT_SANDBOX_WEBAPP_SITE_B"] == sandbox.sshd["site-b"].webapp.url
    assert all("127.0.0.1" in v for k, v in env.items() if k.endswith("_URL"))


def test_settings_read_the_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.known_hosts == sandbox.sshd.known_hosts
    assert settings.ssh_config == sandbox.sshd.ssh_config
    assert settings.smtp_url is not None
    assert settings.smtp_url.get_secret_value() == sandbox.smtp.apprise_url()


def test_another_process_uses_the_env(sandbox: Sandbox) -> None:
    bucket = f"lb-env-{uuid.uuid4().hex[:10]}"
    script = (
        "import boto3, sys\n"
        "s3 = boto3.client('s3')\n"
        "s3.create_bucket(Bucket=sys.argv[1],"
        " CreateBucketConfiguration={'LocationConstraint': 'eu-west-3'})\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(sandbox.state_dir), **sandbox.env()}
    subprocess.run([sys.executable, "-c", script, bucket], env=env, check=True, timeout=60)
    location = sandbox.s3.client("s3").get_bucket_location(Bucket=bucket)
    assert location["LocationConstraint"] == "eu-west-3"


# Apprise's email plugin imports the stdlib ``imghdr`` module, deprecated since Python 3.11.
@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_apprise_reaches_mail_and_webhook(sandbox: Sandbox) -> None:
    title = f"Failover {uuid.uuid4().hex[:8]}"
    mails, hooks = len(sandbox.smtp.files()), len(sandbox.receiver.files())
    env = sandbox.env()
    hook = env["LIFEBOAT_RECEIVER_URL"].replace("http://", "json://") + "/hooks/oncall"
    notifier = apprise.Apprise()
    assert notifier.add(env["LIFEBOAT_SMTP_URL"])
    assert notifier.add(hook)
    assert notifier.notify(title=title, body="Traffic moved to site-b.")
    assert any(m["Subject"] == title for m in sandbox.smtp.wait_for(mails + 1))
    posted = [d for d in sandbox.receiver.wait_for(hooks + 1) if d.path.startswith("/hooks/oncall")]
    assert any(d.json and d.json.get("title") == title for d in posted)


def test_state_file_describes_the_services(sandbox: Sandbox) -> None:
    state = read_state(sandbox.state_dir)
    names = [record.name for record in state.services]
    assert names == ["s3", "sshd:site-a", "sshd:site-b", "smtp", "receiver", "entry", "status"]
    assert state.env == sandbox.env()
    assert state.owner_pid == os.getpid()
    assert status(sandbox.state_dir) == dict.fromkeys(names, "running")
    raw = (sandbox.state_dir / "sandbox.json").read_text()
    assert "PRIVATE KEY" not in raw
    assert json.loads(raw)["version"] == 1


def test_down_from_another_process(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "box", sites=["solo"]).start()
    try:
        assert box.startup_seconds()["sshd:solo"] is not None
        pids = [box.s3.pid, box.sshd["solo"].pid]
        script = "import sys, json; from lifeboat.sandbox import down; from pathlib import Path\n"
        script += "print(json.dumps(down(Path(sys.argv[1]))))"
        result = subprocess.run(
            [sys.executable, "-c", script, str(box.state_dir)],
            capture_output=True,
            check=True,
            timeout=60,
        )
        outcome = json.loads(result.stdout)
        assert outcome["s3"] == outcome["sshd:solo"] == "stopped"
        assert outcome["smtp"] == outcome["receiver"] == f"in process {os.getpid()}"
        assert outcome["entry"] == f"in process {os.getpid()}"
        assert not any(pid_alive(pid) for pid in pids if pid is not None)
        state = read_state(box.state_dir)  # kept: the in-process services still run
        assert status(box.state_dir)["s3"] == "stopped"
        assert status(box.state_dir)["smtp"] == "running"
        assert state.owner_pid == os.getpid()
    finally:
        box.stop()
    assert not (box.state_dir / "sandbox.json").exists()


def test_down_never_kills_a_reused_pid(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "30"]) as stranger:
        record = ServiceRecord(
            name="s3",
            kind="process",
            host="127.0.0.1",
            port=1,
            pid=stranger.pid,
            marker="moto.server",
        )
        state = SandboxState(
            state_dir=tmp_path, owner_pid=1, started_at=0.0, services=[record], env={}
        )
        write_state(tmp_path, state)
        assert down(tmp_path) == {"s3": "was not running"}
        assert stranger.poll() is None
        stranger.kill()


def test_down_leaves_a_server_that_ran_before_the_sandbox(tmp_path: Path) -> None:
    with subprocess.Popen(["sh", "-c", "sleep 300", "prefect", "server start"]) as server:
        record = ServiceRecord(
            name="prefect",
            kind="process",
            host="127.0.0.1",
            port=1,
            pid=server.pid,
            marker="server start",
            details={ADOPTED: "running before the sandbox"},
        )
        state = SandboxState(
            state_dir=tmp_path, owner_pid=1, started_at=0.0, services=[record], env={}
        )
        write_state(tmp_path, state)
        try:
            outcome = down(tmp_path)
            assert outcome == {"prefect": "left running (it was running before the sandbox)"}
            assert server.poll() is None
            assert not (tmp_path / "sandbox.json").exists()
        finally:
            server.kill()


def test_failed_start_explains_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[int] = []
    real_spawn = process_module.spawn

    def recording_spawn(*args: Any, **kwargs: Any) -> Any:
        proc = real_spawn(*args, **kwargs)
        spawned.append(proc.pid)
        return proc

    monkeypatch.setattr(process_module, "spawn", recording_spawn)
    monkeypatch.setattr(SshdSite, "_config", lambda self: "NoSuchOption yes\n")
    box = Sandbox(tmp_path / "broken", sites=["broken"])
    with pytest.raises(ServiceStartError) as info:
        box.start()
    message = str(info.value)
    assert message.startswith("sshd[broken] failed to start: the process exited with code 255")
    assert "Bad configuration option: NoSuchOption" in message
    assert str(tmp_path / "broken" / "ssh" / "broken" / "sshd.log") in message
    assert len(spawned) == 2
    assert not any(pid_alive(pid) for pid in spawned)
    assert not box.s3.running
    assert not (tmp_path / "broken" / "sandbox.json").exists()


def test_stop_stops_the_apps_runbooks_started(tmp_path: Path) -> None:
    box = Sandbox(tmp_path / "apps", sites=["solo"]).start()
    try:
        shim = box.sshd["solo"].webapp.shim
        subprocess.run([str(shim), "start", "webapp"], check=True, timeout=30)
        pid = int(box.sshd["solo"].webapp.pidfile.read_text())
        assert pid_alive(pid)
    finally:
        box.stop()
    assert not pid_alive(pid)
    assert not box.sshd["solo"].webapp.pidfile.exists()
