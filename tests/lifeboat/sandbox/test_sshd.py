"""Real sshd sites: a known host runs commands; an unknown or re-keyed host is refused."""

from __future__ import annotations

import shlex
import socket
import subprocess
from pathlib import Path

import paramiko  # type: ignore[import-untyped,unused-ignore]  # typed if types-paramiko is installed
import pytest

from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.sshd import SshdSite, SshdSites, SshEndpoint


def _client(known_hosts: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def _run(endpoint: SshEndpoint, argv: list[str], known_hosts: Path | None = None) -> str:
    client = _client(known_hosts or endpoint.known_hosts)
    try:
        client.connect(
            endpoint.host,
            port=endpoint.port,
            username=endpoint.user,
            key_filename=str(endpoint.identity_file),
            allow_agent=False,
            look_for_keys=False,
            timeout=5,
        )
        _, stdout, _ = client.exec_command(shlex.join(argv), timeout=10)
        output: str = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0
        return output
    finally:
        client.close()


def test_known_host_runs_a_command(sshd_sites: SshdSites) -> None:
    for name in ("site-a", "site-b"):
        endpoint = sshd_sites.endpoint(name)
        assert _run(endpoint, ["echo", "hello"]) == "hello\n"
        assert endpoint.host_key_fingerprint.startswith("SHA256:")
    a, b = sshd_sites.endpoint("site-a"), sshd_sites.endpoint("site-b")
    assert a.port != b.port
    assert a.host_key_fingerprint != b.host_key_fingerprint


def test_argv_is_quoted_not_interpreted(sshd_sites: SshdSites) -> None:
    endpoint = sshd_sites.endpoint("site-a")
    assert (
        _run(endpoint, ["printf", "%s|", "a b", "$HOME", "; rm -rf /"]) == "a b|$HOME|; rm -rf /|"
    )


def test_files_for_clients(sshd_sites: SshdSites) -> None:
    lines = sshd_sites.known_hosts.read_text().splitlines()
    for name, line in zip(sshd_sites.sites, lines, strict=True):
        site = sshd_sites[name]
        assert line == f"[127.0.0.1]:{site.port} ssh-ed25519 {site.host_key.blob}"
    assert sshd_sites.identity_file.stat().st_mode & 0o777 == 0o600
    assert sshd_sites["site-a"].host_key_file.stat().st_mode & 0o777 == 0o600
    # The OpenSSH client itself accepts the generated ssh_config with strict checking.
    result = subprocess.run(
        ["ssh", "-F", str(sshd_sites.ssh_config), "site-b", "echo", "from-openssh"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.stdout == b"from-openssh\n", result.stderr


def test_unknown_host_is_refused(sshd_sites: SshdSites, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        _run(sshd_sites.endpoint("site-a"), ["echo", "hello"], known_hosts=empty)


def test_changed_host_key_is_refused(tmp_path: Path) -> None:
    with SshdSite("rebuilt", tmp_path / "rebuilt") as site:
        before = site.endpoint
        assert _run(before, ["echo", "hello"]) == "hello\n"
        after = site.rotate_host_key()
        assert after.port == before.port
        assert after.host_key_fingerprint != before.host_key_fingerprint
        with pytest.raises(paramiko.BadHostKeyException):
            _run(after, ["echo", "hello"])
        # Once the new key is trusted, the same client gets through again.
        trusted = site.rotate_host_key(trust=True)
        assert _run(trusted, ["echo", "hello"]) == "hello\n"


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    site = SshdSite("short", tmp_path / "short").start()
    pid = site.pid
    assert pid is not None
    _run(site.endpoint, ["true"])
    site.stop()
    assert not pid_alive(pid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", site.port), timeout=1).close()


def test_start_again_brings_back_only_the_stopped_site(tmp_path: Path) -> None:
    with SshdSites(tmp_path / "ssh", ["x", "y"]) as sites:
        kept = sites["x"].pid
        sites["y"].stop()
        sites.start()
        assert sites["x"].pid == kept
        assert sites["y"].running
        assert f"[127.0.0.1]:{sites['y'].port} " in sites.known_hosts.read_text()
        assert _run(sites.endpoint("y"), ["echo", "back"]) == "back\n"
