"""``ssh.run`` and ``ssh.reachable`` called as the engine calls them, against real sshd."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.ssh import SshReachableParams, SshRunParams, ssh_reachable, ssh_run
from lifeboat.errors import CheckFailed, StepError
from lifeboat.registry import default_registry
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.sshd import SshdSites, SshEndpoint
from lifeboat.settings import Settings
from lifeboat.ssh import close_pool, pool_for


class RunContext:
    """What a step sees of a run: mode, log, the runbook's hosts and the settings."""

    mode = "live"

    def __init__(self, endpoint: SshEndpoint, known_hosts: Path, ssh_config: Path) -> None:
        self.lines: list[str] = []
        self.settings = Settings(known_hosts=known_hosts, ssh_config=ssh_config)
        host = {
            "site": "fra-1",
            "address": endpoint.host,
            "port": endpoint.port,
            "user": endpoint.user,
            "identity_file": str(endpoint.identity_file),
        }
        self.runbook = Runbook.model_validate(
            {
                "id": "ssh-test",
                "version": "1.0.0",
                "title": "SSH steps",
                "owner": "sre@example.com",
                "sites": {"fra-1": {"provider": "test", "region": "loopback"}},
                "hosts": {"web-b": host},
                "steps": [{"id": "go", "action": "ssh.run", "with": {"host": "web-b"}}],
            }
        )

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def ctx(sshd_sites: SshdSites, no_config: Path) -> Iterator[RunContext]:
    endpoint = sshd_sites.endpoint("site-b")
    context = RunContext(endpoint, endpoint.known_hosts, no_config)
    yield context
    close_pool(context)


def test_registered_as_irreversible_action_referencing_a_host() -> None:
    run = default_registry().get("ssh.run")
    reachable = default_registry().get("ssh.reachable")
    assert run is not None and (run.kind, run.mutating, run.reversible) == ("action", True, False)
    assert list(run.references()) == [("host", "hosts")]
    assert reachable is not None and reachable.kind == "check"
    assert list(reachable.references()) == [("host", "hosts")]


def test_run_reports_summary_evidence_and_logs_lines(ctx: RunContext) -> None:
    params = SshRunParams(host="web-b", argv=["printf", "%s\n", "a b; echo PWNED", "two"])
    output = ssh_run(params, ctx)
    assert output.summary.startswith("web-b: `printf '%s\n' 'a b; echo PWNED' two` exited 0 in ")
    assert output.summary.endswith(" ms")
    evidence = output.evidence
    assert evidence["host"] == "web-b"
    assert evidence["argv"] == ["printf", "%s\n", "a b; echo PWNED", "two"]
    assert evidence["exit_status"] == 0
    assert evidence["stdout_tail"] == "a b; echo PWNED\ntwo\n"
    assert evidence["stderr_tail"] == ""
    assert ctx.lines == ["web-b stdout: a b; echo PWNED", "web-b stdout: two"]


def test_unexpected_exit_status_fails_naming_host_argv_status_and_stderr(
    ctx: RunContext,
) -> None:
    params = SshRunParams(host="web-b", argv=["sh", "-c", "echo disk full >&2; exit 2"])
    with pytest.raises(StepError) as info:
        ssh_run(params, ctx)
    assert str(info.value) == (
        "web-b: `sh -c 'echo disk full >&2; exit 2'` exited 2, expected 0; stderr: disk full"
    )
    assert info.value.evidence["exit_status"] == 2
    assert info.value.evidence["stderr_tail"] == "disk full\n"


def test_expect_accepts_other_exit_statuses(ctx: RunContext) -> None:
    params = SshRunParams(host="web-b", argv=["sh", "-c", "exit 3"], expect=[0, 3])
    assert "exited 3" in ssh_run(params, ctx).summary


def test_steps_of_one_run_share_one_connection(ctx: RunContext) -> None:
    params = SshRunParams(host="web-b", argv=["sh", "-c", 'echo "$SSH_CONNECTION"'])
    first = ssh_run(params, ctx).evidence["stdout_tail"]
    assert ssh_run(params, ctx).evidence["stdout_tail"] == first
    assert pool_for(ctx) is pool_for(ctx)


def test_timeout_fails_the_step(ctx: RunContext) -> None:
    params = SshRunParams(host="web-b", argv=["sleep", "5"], timeout=0.5)
    with pytest.raises(StepError, match=r"`sleep 5` did not finish within 0\.5 s"):
        ssh_run(params, ctx)


@pytest.mark.parametrize(
    "bad",
    [
        {"host": "web-b", "argv": []},
        {"host": "web-b", "argv": ["true"], "timeout": 0},
        {"host": "web-b", "argv": ["true"], "timeout": 3601},
        {"host": "web-b", "argv": ["true"], "expect": []},
        {"host": "web-b", "argv": "rm -rf /"},
        {"host": "web-b", "argv": ["true"], "shell": True},
    ],
)
def test_params_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SshRunParams.model_validate(bad)


def test_reachable_reports_the_verified_host_key(ctx: RunContext, sshd_sites: SshdSites) -> None:
    endpoint = sshd_sites.endpoint("site-b")
    output = ssh_reachable(SshReachableParams(host="web-b"), ctx)
    assert output.summary == (
        f"web-b: logged in as {endpoint.user}@127.0.0.1:{endpoint.port}, host key "
        f"ssh-ed25519 {endpoint.host_key_fingerprint} verified"
    )
    assert output.evidence["host_key_fingerprint"] == endpoint.host_key_fingerprint


def test_reachable_fails_for_a_host_missing_from_known_hosts(
    sshd_sites: SshdSites, tmp_path: Path, no_config: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    context = RunContext(sshd_sites.endpoint("site-b"), empty, no_config)
    with pytest.raises(CheckFailed, match=r"^web-b \(.*\): host 127\.0\.0\.1:\d+ is not in"):
        ssh_reachable(SshReachableParams(host="web-b", timeout=5), context)
    close_pool(context)
