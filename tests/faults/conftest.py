"""Fixtures of the fault tests: a fault proxy in front of each real service of the sandbox.

Each proxy starts in ``pass`` mode; a test switches it (``proxy.reset()``, ...). The real
services themselves are the session's (``tests/conftest.py``); nothing here changes them
or the shared client files (known_hosts, ssh_config): the SSH proxy gets files of its own.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lifeboat import storage
from lifeboat.sandbox.s3 import MotoServer
from lifeboat.sandbox.sshd import SshdSite, SshdSites
from lifeboat.sandbox.sshkeys import known_hosts_line, ssh_config_block, write_text
from lifeboat.settings import Settings
from tests.faults.proxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:  # the proxy reset us: that is the point of some tests
            return


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A TCP echo server on loopback; yields (host, port)."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="echo", daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def s3_fault_proxy(
    s3_server: MotoServer, lifeboat_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultProxy]:
    """The session's moto server behind a fault proxy, as the environment's S3 endpoint.

    Set ``LIFEBOAT_S3_*`` with ``monkeypatch`` then ``storage.client.cache_clear()`` to
    change the client's timeouts; the client is rebuilt from the environment on first use.
    """
    with FaultProxy(s3_server.host, s3_server.port) as proxy:
        for name, value in s3_server.env("eu-west-3").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        storage.client.cache_clear()
        yield proxy
        storage.client.cache_clear()


@dataclass(frozen=True)
class SshViaProxy:
    """A sandbox site reached through a fault proxy under the host alias ``alias``.

    ``ssh_config`` maps the alias to ``127.0.0.1:proxy.port``; ``known_hosts`` holds the
    site's own host key under ``[127.0.0.1]:proxy.port``, so verification stays strict.
    """

    proxy: FaultProxy
    site: SshdSite
    alias: str
    known_hosts: Path
    ssh_config: Path

    def settings(self) -> Settings:
        return Settings(
            notify_backoff=0.01, known_hosts=self.known_hosts, ssh_config=self.ssh_config
        )

    def trust(self, site: SshdSite) -> None:
        """Write known_hosts with ``site``'s host key for the proxy's address."""
        write_text(self.known_hosts, known_hosts_line("127.0.0.1", self.proxy.port, site.host_key))


@pytest.fixture
def ssh_fault_proxy(
    clean_sites: SshdSites, lifeboat_home: Path, tmp_path: Path
) -> Iterator[SshViaProxy]:
    """Site ``site-b`` (empty ``app/data``) behind a fault proxy: host ``standby.faults.test``."""
    site = clean_sites["site-b"]
    with FaultProxy(site.host, site.port) as proxy:
        folder = tmp_path / "ssh-via-proxy"
        via = SshViaProxy(
            proxy=proxy,
            site=site,
            alias="standby.faults.test",
            known_hosts=folder / "known_hosts",
            ssh_config=folder / "ssh_config",
        )
        via.trust(site)
        block = ssh_config_block(
            via.alias,
            host="127.0.0.1",
            port=proxy.port,
            user=site.user,
            identity_file=clean_sites.identity_file,
            known_hosts=via.known_hosts,
        )
        write_text(via.ssh_config, block)
        yield via
