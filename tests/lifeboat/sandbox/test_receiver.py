"""The HTTP receiver files what webhooks POST, answers 200, and fails on request."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import httpx
import pytest

from lifeboat.sandbox.receiver import Delivery, Receiver


def _find(receiver: Receiver, marker: str, count: int) -> Delivery:
    for delivery in receiver.wait_for(count):
        if marker in delivery.body:
            return delivery
    raise AssertionError(f"nothing filed with {marker!r}")


def _client() -> httpx.Client:
    return httpx.Client(timeout=5, trust_env=False)


def test_json_post_is_filed(receiver: Receiver) -> None:
    marker = uuid.uuid4().hex
    before = len(receiver.files())
    payload = {"text": "Incident ouvert: paiement indisponible", "id": marker}
    with _client() as client:
        response = client.post(f"{receiver.url}/hooks/slack", json=payload)
    assert response.status_code == 200
    got = _find(receiver, marker, before + 1)
    assert got.method == "POST"
    assert got.path == "/hooks/slack"
    assert got.content_type == "application/json"
    assert got.json == payload
    on_disk = json.loads(got.file.read_text(encoding="utf-8"))
    assert on_disk["json"] == payload


def test_text_body_and_forced_status(receiver: Receiver) -> None:
    marker = uuid.uuid4().hex
    before = len(receiver.files())
    with _client() as client:
        response = client.post(
            f"{receiver.url}/status/503/teams",
            content=f"plain {marker}",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
    assert response.status_code == 503
    got = _find(receiver, marker, before + 1)
    assert got.json is None
    assert got.body == f"plain {marker}"
    assert got.content_type == "text/plain; charset=utf-8"


def test_chunked_body_is_filed(receiver: Receiver) -> None:
    marker = uuid.uuid4().hex
    before = len(receiver.files())
    parts = [b'{"id": "', marker.encode(), b'"}']
    with _client() as client:
        response = client.post(f"{receiver.url}/chunked", content=iter(parts))
    assert response.status_code == 200
    assert _find(receiver, marker, before + 1).json == {"id": marker}


def test_health(receiver: Receiver) -> None:
    assert receiver.healthy()
    with _client() as client:
        assert client.get(f"{receiver.url}/health").status_code == 200
        assert client.get(f"{receiver.url}/other").status_code == 404


def test_stop_releases_the_port(tmp_path: Path) -> None:
    with Receiver(tmp_path / "inbox") as receiver:
        port = receiver.port
        assert receiver.startup_seconds is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert not receiver.healthy()
    receiver.stop()
