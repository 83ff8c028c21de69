"""Real OpenSSH servers on loopback, one per "site", each with its own host key.

Failover steps run commands on hosts over SSH, and the safety of that rests on host-key
verification. A mock would accept anything; a real ``sshd`` refuses a wrong user key and
presents a real host key, so tests prove that Lifeboat trusts only hosts listed in its
known_hosts file and refuses a host whose key changed (a rebuilt or impersonated host).

Layout of a site's state dir: ``ssh_host_ed25519_key`` (host key, 0600), ``sshd_config``,
``sshd.pid``, ``authorized_keys``, ``known_hosts`` (one line for this site), ``sshd.log``
and, unless one is shared, the client key ``id_ed25519`` (0600).
"""

from __future__ import annotations

import os
import pwd
import re
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

from lifeboat.sandbox.errors import SandboxError
from lifeboat.sandbox.lifecycle import StartStop
from lifeboat.sandbox.process import ProcessService
from lifeboat.sandbox.sshkeys import (
    PublicKey,
    generate_key,
    known_hosts_line,
    read_public_key,
    ssh_config_block,
    write_text,
)

SSHD = Path("/usr/sbin/sshd")
#: sshd running as root insists on this privilege-separation directory existing.
PRIVSEP_DIR = Path("/run/sshd")
DEFAULT_SITES = ("site-a", "site-b")
_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SshEndpoint:
    """Everything a client needs to reach one site, and to know it reached the right one."""

    name: str
    host: str
    port: int
    user: str
    identity_file: Path
    known_hosts: Path
    host_key_fingerprint: str


def current_user() -> str:
    """The login name sshd must allow: the sandbox can only log in as whoever runs it."""
    return pwd.getpwuid(os.getuid()).pw_name


class SshdSite(ProcessService):
    """``sshd -D -e -f CONFIG`` for one site; key-only login as the current user."""

    def __init__(
        self,
        name: str,
        state_dir: Path,
        *,
        identity_file: Path | None = None,
        port: int | None = None,
        die_with_parent: bool = True,
        timeout: float = 10.0,
        sshd: Path = SSHD,
    ) -> None:
        if not _SITE_NAME.match(name):
            raise SandboxError(f"site name {name!r} must be letters, digits, '.', '_' or '-'")
        super().__init__(
            state_dir / "sshd.log", port=port, die_with_parent=die_with_parent, timeout=timeout
        )
        self.name = name
        self.service = f"sshd[{name}]"
        self.state_dir = state_dir
        self.sshd = sshd
        self.user = current_user()
        self.identity_file = identity_file or state_dir / "id_ed25519"
        self.host_key_file = state_dir / "ssh_host_ed25519_key"
        self.config_file = state_dir / "sshd_config"
        self.pid_file = state_dir / "sshd.pid"
        self.authorized_keys = state_dir / "authorized_keys"
        self.known_hosts = state_dir / "known_hosts"

    @property
    def marker(self) -> str:
        """Text that identifies this server in ``/proc/PID/cmdline``: its config path."""
        return str(self.config_file)

    @property
    def host_key(self) -> PublicKey:
        return read_public_key(self.host_key_file.with_name(self.host_key_file.name + ".pub"))

    @property
    def endpoint(self) -> SshEndpoint:
        return SshEndpoint(
            name=self.name,
            host=self.host,
            port=self.port,
            user=self.user,
            identity_file=self.identity_file,
            known_hosts=self.known_hosts,
            host_key_fingerprint=self.host_key.fingerprint,
        )

    def command(self) -> list[str]:
        return [str(self.sshd), "-D", "-e", "-f", str(self.config_file)]

    def environment(self) -> dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}

    def prepare(self) -> None:
        """Keys, authorized_keys, sshd_config and known_hosts, for the port just chosen."""
        if not self.sshd.is_file():
            raise SandboxError(
                f"{self.sshd} not found: install openssh-server (scripts/bootstrap-system.sh)"
            )
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        host_key = generate_key(self.host_key_file, f"lifeboat-sandbox host {self.name}")
        client_key = generate_key(self.identity_file, f"lifeboat-sandbox client {self.user}")
        write_text(self.authorized_keys, client_key.line() + "\n", 0o600)
        write_text(self.config_file, self._config())
        write_text(self.known_hosts, known_hosts_line(self.host, self.port, host_key) + "\n")

    def _config(self) -> str:
        # StrictModes no: the state dir lives under a temp dir whose owners sshd would reject.
        # UsePAM no and key-only auth: no system accounts or passwords are involved.
        return "\n".join(
            [
                f"ListenAddress {self.host}",
                f"Port {self.port}",
                f"HostKey {self.host_key_file}",
                f"PidFile {self.pid_file}",
                f"AuthorizedKeysFile {self.authorized_keys}",
                f"AllowUsers {self.user}",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "X11Forwarding no",
                "AllowAgentForwarding no",
                "AllowTcpForwarding no",
                "PermitUserEnvironment no",
                "PrintMotd no",
                "PrintLastLog no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )

    def probe(self) -> bool:
        """sshd speaks first: a ``SSH-2.0-...`` banner means it is serving."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                return sock.recv(64).startswith(b"SSH-2.0")
        except OSError:
            return False

    def rotate_host_key(self, *, trust: bool = False) -> SshEndpoint:
        """Restart on the same port with a brand-new host key, as a rebuilt host would.

        With ``trust=False`` this site's known_hosts keeps the *old* key, which is what a
        client faces after a host was reinstalled or impersonated: it must refuse.
        """
        old_known_hosts = self.known_hosts.read_text() if self.known_hosts.exists() else ""
        port = self.port
        self.stop()
        self.host_key_file.unlink(missing_ok=True)
        self._fixed_port = self._port = port
        self.start()
        if not trust:
            write_text(self.known_hosts, old_known_hosts)
        return self.endpoint


class SshdSites(StartStop):
    """Several sites sharing one client key, one known_hosts and one ssh_config.

    ``known_hosts`` lists every site (``[127.0.0.1]:PORT ssh-ed25519 ...``) and
    ``ssh_config`` has a ``Host <site>`` block for each, so ``ssh -F ssh_config site-a``
    and Lifeboat's own client reach them with strict host-key checking.
    """

    def __init__(
        self,
        state_dir: Path,
        names: list[str] | tuple[str, ...] = DEFAULT_SITES,
        *,
        die_with_parent: bool = True,
        timeout: float = 10.0,
    ) -> None:
        if len(set(names)) != len(names) or not names:
            raise SandboxError(f"site names must be unique and not empty: {list(names)}")
        self.state_dir = state_dir
        self.identity_file = state_dir / "id_ed25519"
        self.known_hosts = state_dir / "known_hosts"
        self.ssh_config = state_dir / "ssh_config"
        self.sites = {
            name: SshdSite(
                name,
                state_dir / name,
                identity_file=self.identity_file,
                die_with_parent=die_with_parent,
                timeout=timeout,
            )
            for name in names
        }
        self._pending: list[SshdSite] = []

    def __getitem__(self, name: str) -> SshdSite:
        return self.sites[name]

    def endpoint(self, name: str) -> SshEndpoint:
        """The site's endpoint, pointing at the shared known_hosts file."""
        return replace(self.sites[name].endpoint, known_hosts=self.known_hosts)

    def endpoints(self) -> dict[str, SshEndpoint]:
        return {name: self.endpoint(name) for name in self.sites}

    def launch(self) -> None:
        """Start every sshd not running yet, without waiting (the client key comes first)."""
        generate_key(self.identity_file, f"lifeboat-sandbox client {current_user()}")
        try:
            for site in self.sites.values():
                if not site.running:
                    site.launch()
                    self._pending.append(site)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self) -> None:
        """Wait for every site, then write the shared known_hosts and ssh_config."""
        try:
            while self._pending:
                self._pending[0].wait_ready()
                self._pending.pop(0)
            self.write_client_files()
        except BaseException:
            self.stop()
            raise

    def write_client_files(self) -> None:
        """(Re)write the shared known_hosts and ssh_config from the sites' current keys."""
        lines = [known_hosts_line(s.host, s.port, s.host_key) for s in self.sites.values()]
        write_text(self.known_hosts, "\n".join(lines) + "\n")
        blocks = [
            ssh_config_block(
                s.name,
                host=s.host,
                port=s.port,
                user=s.user,
                identity_file=self.identity_file,
                known_hosts=self.known_hosts,
            )
            for s in self.sites.values()
        ]
        write_text(self.ssh_config, "\n".join(blocks))

    def start(self) -> Self:
        self.launch()
        self.wait_ready()
        return self

    def stop(self) -> None:
        self._pending.clear()
        for site in self.sites.values():
            site.stop()
