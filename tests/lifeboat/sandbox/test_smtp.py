"""The SMTP sink files real mail as .eml: smtplib and Apprise both deliver to it."""

from __future__ import annotations

import smtplib
import socket
import uuid
from email.message import EmailMessage
from pathlib import Path

import apprise
import pytest

from lifeboat.sandbox.errors import ServiceStartError
from lifeboat.sandbox.smtp import SmtpServer


def _find(server: SmtpServer, subject: str, count: int = 1) -> EmailMessage:
    for _ in range(3):
        found = [m for m in server.wait_for(count) if m["Subject"] == subject]
        if found:
            return found[0]
    raise AssertionError(f"no message with subject {subject!r}")


def test_smtplib_message_is_filed(smtp_server: SmtpServer) -> None:
    subject = f"Incident {uuid.uuid4().hex[:8]}: service dégradé"
    message = EmailMessage()
    message["From"] = "lifeboat@example.com"
    message["To"] = "oncall@example.com"
    message["Subject"] = subject
    message.set_content("Le site est en panne depuis 10:02 UTC.\n")
    before = len(smtp_server.files())
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.send_message(message, to_addrs=["oncall@example.com", "audit@example.com"])
    got = _find(smtp_server, subject, before + 1)
    assert got.get_content() == "Le site est en panne depuis 10:02 UTC.\n"
    assert got["X-Sandbox-Envelope-From"] == "lifeboat@example.com"
    assert got["X-Sandbox-Envelope-To"] == "oncall@example.com, audit@example.com"
    assert all(path.suffix == ".eml" for path in smtp_server.files())


# Apprise's email plugin imports the stdlib ``imghdr`` module, deprecated since Python 3.11.
@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_apprise_mailto_url_delivers(smtp_server: SmtpServer) -> None:
    title = f"Resolved {uuid.uuid4().hex[:8]}"
    before = len(smtp_server.files())
    notifier = apprise.Apprise()
    assert notifier.add(smtp_server.apprise_url(to="sre@example.com"))
    assert notifier.notify(title=title, body="Service restored at 11:40 UTC.")
    got = _find(smtp_server, title, before + 1)
    assert got["X-Sandbox-Envelope-To"] == "sre@example.com"


def test_port_in_use_is_a_sandbox_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = SmtpServer(tmp_path, port=sock.getsockname()[1], timeout=30)
        with pytest.raises(ServiceStartError, match="smtp failed to start"):
            busy.start()
    assert not busy.running


def test_stop_releases_the_port(tmp_path: Path) -> None:
    with SmtpServer(tmp_path / "mail") as server:
        port = server.port
        assert server.startup_seconds is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    server.stop()
