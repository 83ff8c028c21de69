"""Real OpenSSH servers on loopback, one per "site", each with its own host key.

Failover steps run commands on hosts over SSH, and the safety of that rests on host-key
verification. A mock would accept anything; a real ``sshd`` refuses a wrong user key and
presents a real host key, so tests prove that Lifeboat trusts only hosts listed in its
known_hosts file and refuses a host whose key changed (a rebuilt or impersonated host).

Each site is also a small, separate "server" although every site runs as the same user on
this one machine: its root folder (``root/``) is where every SSH session starts (``cd``),
and ``$HOME``, as a deploy user's home would be on a production host, so runbooks use
relative paths (``app/data``) and two sites never collide. sshd's ``ForceCommand`` runs
``login.sh``, which sets that up, puts ``bin/`` (the ``systemctl`` shim of ``webapp.py``)
first in ``PATH``, exports ``LIFEBOAT_SITE`` and runs the client's command string with the
user's shell (``$SHELL -c``, as sshd itself would): argv quoting is untouched. With a
ForceCommand, OpenSSH runs an SFTP subsystem request as that forced command too, with
``SSH_ORIGINAL_COMMAND`` set to the ``Subsystem`` command: ``login.sh`` execs the external
``sftp-server -d ROOT`` for it, so SFTP works and relative paths land in the root.

Layout of a site's state dir: ``ssh_host_ed25519_key`` (host key, 0600), ``sshd_config``,
``sshd.pid``, ``authorized_keys``, ``known_hosts`` (one line for this site), ``sshd.log``,
``login.sh``, ``bin/systemctl``, ``webapp.log``, ``root/`` (with ``app/data/`` and, while
the app runs, ``webapp.pid``) and, unless one is shared, the client key ``id_ed25519``.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

from lifeboat.sandbox.errors import SandboxError
from lifeboat.sandbox.lifecycle import StartStop
from lifeboat.sandbox.ports import free_port
from lifeboat.sandbox.process import ProcessService
from lifeboat.sandbox.sshkeys import (
    PublicKey,
    generate_key,
    known_hosts_line,
    read_public_key,
    ssh_config_block,
    write_text,
)
from lifeboat.sandbox.webapp import UNIT, WebApp, pidfile_of, stop_app

SSHD = Path("/usr/sbin/sshd")
#: sshd running as root insists on this privilege-separation directory existing.
PRIVSEP_DIR = Path("/run/sshd")
DEFAULT_SITES = ("site-a", "site-b")
#: Where distributions install OpenSSH's SFTP server (Debian first).
SFTP_SERVERS = (
    Path("/usr/lib/openssh/sftp-server"),
    Path("/usr/libexec/openssh/sftp-server"),
    Path("/usr/libexec/sftp-server"),
    Path("/usr/lib/ssh/sftp-server"),
)
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


def sftp_server() -> Path:
    """OpenSSH's external ``sftp-server``: ``internal-sftp`` cannot run under a ForceCommand."""
    for path in SFTP_SERVERS:
        if path.is_file():
            return path
    raise SandboxError(
        "sftp-server not found (looked in "
        + ", ".join(map(str, SFTP_SERVERS))
        + "): install openssh-server (scripts/bootstrap-system.sh)"
    )


def current_user() -> str:
    """The login name sshd must allow: the sandbox can only log in as whoever runs it."""
    return pwd.getpwuid(os.getuid()).pw_name


class SshdSite(ProcessService):
    """``sshd -D -e -f CONFIG`` for one site; key-only login as the current user.

    Sessions start in ``root`` (see the module docstring); ``webapp`` is the site's app unit
    on a port chosen at the first start and kept across restarts (``webapp_port`` fixes it).
    """

    def __init__(
        self,
        name: str,
        state_dir: Path,
        *,
        identity_file: Path | None = None,
        port: int | None = None,
        webapp_port: int | None = None,
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
        self.root = state_dir / "root"
        self.login_script = state_dir / "login.sh"
        self._webapp_port = webapp_port

    @property
    def webapp(self) -> WebApp:
        """The site's web app unit (its port is chosen when the site first starts)."""
        if self._webapp_port is None:
            raise SandboxError(f"{self.service} has no web app port yet: call start() first")
        return WebApp(self.name, self.state_dir, self.root, self._webapp_port)

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
        if self._webapp_port is None:
            self._webapp_port = free_port(self.host)
        self.root.mkdir(exist_ok=True)
        self.webapp.install(self.pid_file)
        write_text(self.login_script, self._login_script(), 0o755)
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
                f"Subsystem sftp {sftp_server()}",
                f"ForceCommand {shlex.quote(str(self.login_script))}",
                "",
            ]
        )

    def _login_script(self) -> str:
        """Every session: into the root, site bin first in PATH, then the client's command."""
        root, sftp = shlex.quote(str(self.root)), shlex.quote(str(sftp_server()))
        return f"""#!/bin/sh
# ForceCommand of sandbox site {self.name} (written by lifeboat/sandbox/sshd.py at start).
root={root}
cd "$root" || exit 1
HOME=$root
LIFEBOAT_SITE={shlex.quote(self.name)}
PATH={shlex.quote(str(self.webapp.shim.parent))}:$PATH
export HOME LIFEBOAT_SITE PATH
if [ "${{SSH_ORIGINAL_COMMAND-}}" = {sftp} ]; then
    exec {sftp} -d "$root"
fi
if [ -z "${{SSH_ORIGINAL_COMMAND+set}}" ]; then
    exec "${{SHELL:-/bin/sh}}"
fi
exec "${{SHELL:-/bin/sh}}" -c "$SSH_ORIGINAL_COMMAND"
"""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the site's app (a daemon, not a child of sshd), then sshd itself."""
        self.stop_apps(timeout)
        super().stop(timeout)

    def stop_apps(self, timeout: float = 5.0) -> list[str]:
        """Stop whatever app runs on this site, by its pidfile; the units that were running."""
        return [UNIT] if stop_app(pidfile_of(self.root), timeout) else []

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
        client faces after a host was reinstalled or impersonated: it must refuse. The app
        stops too: a rebuilt host runs nothing until someone starts it.
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

    def stop_apps(self) -> dict[str, list[str]]:
        """Stop the apps running on every site (sshd keeps running); what was stopped where."""
        return {name: site.stop_apps() for name, site in self.sites.items()}
