"""The SSH transport against real OpenSSH servers on loopback (sandbox sshd, no mocks).

Safety properties first: argv arrives verbatim (no shell injection), unknown and changed
host keys are refused, never learned; then timeouts, output limits, connection reuse,
``~/.ssh/config`` aliases and ProxyJump.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lifeboat.errors import StepTimeout
from lifeboat.sandbox.sshd import SshdSite, SshdSites, SshEndpoint
from lifeboat.settings import Settings
from lifeboat.ssh import OUTPUT_LIMIT, SshError, SshPool, SshTarget, SshTimeout
from tests.waiting import wait_until


def target_of(endpoint: SshEndpoint) -> SshTarget:
    return SshTarget(endpoint.host, endpoint.port, endpoint.user, str(endpoint.identity_file))


@pytest.fixture
def site_a(sshd_sites: SshdSites) -> SshEndpoint:
    return sshd_sites.endpoint("site-a")


@pytest.fixture
def pool(site_a: SshEndpoint, no_config: Path) -> Iterator[SshPool]:
    pool = SshPool(Settings(known_hosts=site_a.known_hosts, ssh_config=no_config))
    yield pool
    pool.close()


def test_argv_items_reach_the_remote_verbatim(pool: SshPool, site_a: SshEndpoint) -> None:
    nasty = ["a b; echo PWNED $(id)", "`id`", "'single' \"double\"", "*", "$HOME", "--"]
    result = pool.run(target_of(site_a), ["printf", "%s\n", *nasty], timeout=10)
    assert result.exit_status == 0
    assert result.stdout.split("\n")[:-1] == nasty
    assert result.stderr == ""


def test_exit_status_stderr_and_streamed_lines(pool: SshPool, site_a: SshEndpoint) -> None:
    lines: list[tuple[str, str]] = []
    script = "echo out1; echo err1 >&2; printf 'no newline'; exit 3"
    result = pool.run(
        target_of(site_a), ["sh", "-c", script], timeout=10, on_line=lambda *a: lines.append(a)
    )
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out1\nno newline", "err1\n")
    assert sorted(lines) == [("stderr", "err1"), ("stdout", "no newline"), ("stdout", "out1")]
    assert result.duration_ms > 0


def test_timeout_closes_the_channel_and_names_host_and_command(
    pool: SshPool, site_a: SshEndpoint
) -> None:
    target = target_of(site_a)
    pool.run(target, ["true"], timeout=10)  # connect first: time only the command
    started = time.monotonic()
    with pytest.raises(SshTimeout) as info:
        pool.run(target, ["sleep", "5"], timeout=0.5)
    # A hang guard with 10x headroom over the 0.5 s timeout, which is also the command's
    # own 5 s: a timeout that waited for the command to end would take at least that long.
    waited = time.monotonic() - started
    assert waited < 5, f"the 0.5 s timeout ended the command only after {waited:.1f} s"
    assert isinstance(info.value, StepTimeout)
    assert str(info.value) == (
        f"{site_a.user}@127.0.0.1:{site_a.port}: `sleep 5` did not finish within 0.5 s; "
        "its channel was closed and the remote process may still be running"
    )
    assert pool.run(target, ["echo", "still usable"], timeout=10).stdout == "still usable\n"


def test_one_connection_serves_every_command(pool: SshPool, site_a: SshEndpoint) -> None:
    target = target_of(site_a)
    first = pool.run(target, ["sh", "-c", 'echo "$SSH_CONNECTION"'], timeout=10).stdout
    second = pool.run(target, ["sh", "-c", 'echo "$SSH_CONNECTION"'], timeout=10).stdout
    assert first == second  # same client port: the same TCP connection
    assert pool.client(target) is pool.client(target)


def test_parallel_steps_share_the_connection_safely(pool: SshPool, site_a: SshEndpoint) -> None:
    target = target_of(site_a)
    argv = ["sh", "-c", 'sleep 0.3; echo "$SSH_CONNECTION"']
    with ThreadPoolExecutor(4) as workers:  # all four race to open the connection
        outputs = list(workers.map(lambda _: pool.run(target, argv, 10).stdout, range(4)))
    assert len(set(outputs)) == 1  # four channels on one connection, opened once


def test_huge_output_is_truncated_with_a_marker(pool: SshPool, site_a: SshEndpoint) -> None:
    logged: list[str] = []
    script = "yes 0123456789 | head -n 30000; yes E | head -c 1000 >&2"
    result = pool.run(
        target_of(site_a),
        ["sh", "-c", script],
        timeout=20,
        on_line=lambda stream, line: logged.append(line),
    )
    marker = f"\n[... {330000 - OUTPUT_LIMIT} bytes of stdout truncated ...]\n"
    assert marker in result.stdout
    assert len(result.stdout) == OUTPUT_LIMIT + len(marker)
    assert result.stdout.endswith("0123456789\n")
    assert result.stderr == "E\n" * 500  # under the limit: untouched
    assert "[log limit reached: further stdout not logged]" in logged
    assert sum(len(line) + 1 for line in logged) < 2 * OUTPUT_LIMIT


def test_sudo_prefixes_a_non_interactive_sudo(pool: SshPool, site_a: SshEndpoint) -> None:
    result = pool.run(target_of(site_a), ["printf", "%s", "a b"], timeout=10, sudo=True)
    if shutil.which("sudo"):  # the "remote" is this machine
        assert (result.exit_status, result.stdout) == (0, "a b")
    else:  # the login shell ran `sudo -n -- printf %s 'a b'` and found no sudo
        assert result.exit_status == 127
        assert "sudo" in result.stderr


def test_unknown_host_is_refused_not_learned(
    site_a: SshEndpoint, tmp_path: Path, no_config: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    pool = SshPool(Settings(known_hosts=known_hosts, ssh_config=no_config))
    with pytest.raises(SshError) as info:
        pool.run(target_of(site_a), ["true"], timeout=10)
    message = str(info.value)
    assert message.startswith(f"{site_a.user}@127.0.0.1:{site_a.port}: cannot run `true`: ")
    assert f"host 127.0.0.1:{site_a.port} is not in known_hosts {known_hosts}" in message
    assert site_a.host_key_fingerprint in message
    assert f"ssh-keyscan -p {site_a.port} 127.0.0.1 >> {known_hosts}" in message
    assert known_hosts.read_text() == ""  # never auto-added
    pool.close()


def test_changed_host_key_is_refused_naming_both_fingerprints(tmp_path: Path) -> None:
    # Our own sshd: rotating the session sandbox's key would break other tests.
    with SshdSites(tmp_path / "ssh", ["rebuilt"]) as sites:
        before = sites.endpoint("rebuilt")
        after = sites["rebuilt"].rotate_host_key()  # the shared known_hosts keeps the old key
        assert after.host_key_fingerprint != before.host_key_fingerprint
        pool = SshPool(Settings(known_hosts=sites.known_hosts, ssh_config=sites.ssh_config))
        with pytest.raises(SshError) as info:
            pool.client(target_of(before))
    message = info.value.reason
    assert message.startswith(f"HOST KEY CHANGED for 127.0.0.1:{before.port}: ")
    assert f"expects ssh-ed25519 {before.host_key_fingerprint}" in message
    assert f"presented ssh-ed25519 {after.host_key_fingerprint}" in message


def test_ssh_config_alias_supplies_hostname_port_user_and_key(
    sshd_sites: SshdSites, site_a: SshEndpoint
) -> None:
    pool = SshPool(Settings(known_hosts=site_a.known_hosts, ssh_config=sshd_sites.ssh_config))
    endpoint = pool.resolve(SshTarget("site-a"))
    assert str(endpoint) == f"{site_a.user}@127.0.0.1:{site_a.port}"
    assert endpoint.identity_file == str(site_a.identity_file)
    assert pool.run(SshTarget("site-a"), ["echo", "hi"], timeout=10).stdout == "hi\n"
    pool.close()


def test_connection_refused_names_where(site_a: SshEndpoint, no_config: Path) -> None:
    pool = SshPool(Settings(known_hosts=site_a.known_hosts, ssh_config=no_config))
    closed = SshTarget("127.0.0.1", 1, "nobody", str(site_a.identity_file))
    with pytest.raises(SshError, match=r"^nobody@127\.0\.0\.1:1: cannot run `uptime`: connection"):
        pool.run(closed, ["uptime"], timeout=5)


class _ForwardingSite(SshdSite):
    """A site that allows direct-tcpip channels, as a bastion must (the sandbox forbids them)."""

    def _config(self) -> str:
        return super()._config().replace("AllowTcpForwarding no", "AllowTcpForwarding yes")


def test_proxy_jump_reaches_a_host_through_a_bastion(tmp_path: Path) -> None:
    sites = SshdSites(tmp_path / "ssh", ["bastion", "inner"])
    bastion_dir = tmp_path / "ssh" / "bastion"
    sites.sites["bastion"] = _ForwardingSite(
        "bastion", bastion_dir, identity_file=sites.identity_file
    )
    with sites:
        config = tmp_path / "ssh_config"
        config.write_text(sites.ssh_config.read_text() + "\nHost inner\n    ProxyJump bastion\n")
        pool = SshPool(Settings(known_hosts=sites.known_hosts, ssh_config=config))
        try:
            endpoint = pool.resolve(SshTarget("inner"))
            assert endpoint.jump is not None
            assert endpoint.jump.port == sites.endpoint("bastion").port
            result = pool.run(SshTarget("inner"), ["sh", "-c", 'echo "$SSH_CONNECTION"'], 10)
            assert result.stdout.split()[3] == str(sites.endpoint("inner").port)
            inner = pool.client(SshTarget("inner")).get_transport()
            assert inner is not None and type(inner.sock).__name__ == "Channel"
        finally:
            pool.close()
        # Through a bastion, the inner host's key is still verified.
        only_bastion = tmp_path / "known_hosts"
        only_bastion.write_text(sites.known_hosts.read_text().splitlines()[0] + "\n")
        pool = SshPool(Settings(known_hosts=only_bastion, ssh_config=config))
        with pytest.raises(SshError, match="is not in known_hosts"):
            pool.run(SshTarget("inner"), ["true"], timeout=10)
        pool.close()


def test_finalizer_during_a_locked_section_does_not_deadlock() -> None:
    """A context's finalizer can run (GC) while pool_for holds the pools lock."""
    import threading

    from lifeboat import ssh as transport
    from lifeboat.settings import Settings

    pool = transport.SshPool(Settings())

    def finalize_inside_lock() -> None:
        with transport._pools_lock:
            transport._release(123456789, pool)

    worker = threading.Thread(target=finalize_inside_lock, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "releasing a pool under the pools lock deadlocked"


def test_a_reused_id_does_not_lose_the_new_pool() -> None:
    from lifeboat import ssh as transport
    from lifeboat.settings import Settings

    old, new = transport.SshPool(Settings()), transport.SshPool(Settings())
    with transport._pools_lock:
        transport._pools[42] = new
    transport._release(42, old)  # the dead context's finalizer, after its id was reused
    assert transport._pools.pop(42) is new


def test_a_host_dying_mid_command_fails_fast_and_clearly(tmp_path: Path) -> None:
    """sshd and its session killed while `sleep 30` runs: a clear error long before 30 s."""
    import os
    import signal

    from lifeboat.sandbox.process import descendants

    def remote_sleep(sshd: int) -> bool:
        """Whether the host runs `sleep 30`: the command is under way, the kill can come."""
        for pid in descendants(sshd):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # it ended between the listing and the read
                continue
            if cmdline == b"sleep\x0030\x00":
                return True
        return False

    with SshdSites(tmp_path / "ssh", ["doomed"]) as sites:
        endpoint = sites.endpoint("doomed")
        pool = SshPool(Settings(known_hosts=sites.known_hosts, ssh_config=sites.ssh_config))
        pool.client(target_of(endpoint))  # connected before the host dies
        sshd = sites["doomed"].pid
        assert sshd is not None
        with ThreadPoolExecutor(1) as runner:
            running = runner.submit(pool.run, target_of(endpoint), ["sleep", "30"], 25)
            wait_until(lambda: remote_sleep(sshd), "`sleep 30` running on the doomed host")
            killed = time.monotonic()
            for pid in [*descendants(sshd), sshd]:  # the whole host: daemon and sessions
                os.kill(pid, signal.SIGKILL)
            with pytest.raises(SshError) as info:
                running.result(timeout=20)
            elapsed = time.monotonic() - killed
        pool.close()
    # A hang guard: the dead connection is seen at once (its sockets close with the
    # processes); not noticing it means waiting for the command's own 25 s timeout.
    assert elapsed < 10, f"took {elapsed:.1f} s to notice"
    assert f"127.0.0.1:{endpoint.port}" in str(info.value)
    assert "sleep 30" in str(info.value)
