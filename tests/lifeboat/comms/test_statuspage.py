"""The static status page: its three files parse, list every incident and update, keep
their history across publishes (folder and a real S3 API), and never show a drill."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lifeboat.comms.pagefeed import html, load
from lifeboat.comms.statuspage import PageUpdate, configured, publish
from lifeboat.runbook.model import Comms, Stage, StatusPage
from lifeboat.sandbox.s3 import MotoServer

ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
FILES = ["feed.json", "feed.atom", "index.html"]


class Page(HTMLParser):
    """What a reader sees: incident titles, update bodies and times, badges, scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.incidents: list[str] = []
        self.bodies: list[str] = []
        self.times: list[str] = []  # of each update
        self.badges: list[str] = []
        self.scripts = 0
        self._into: list[str] | None = None
        self._in_update = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        classes = (attr.get("class") or "").split()
        self.scripts += tag == "script"
        self._in_update = self._in_update or (tag == "li" and "update" in classes)
        if tag == "time" and self._in_update:
            self.times.append(attr.get("datetime") or "")
        into = {"h3": self.incidents, "p": self.bodies, "span": self.badges}.get(tag)
        wanted = {"h3": True, "p": "body" in classes, "span": "badge" in classes}.get(tag)
        if into is not None and wanted:
            into.append("")
            self._into = into

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h3", "p", "span"):
            self._into = None
        if tag == "li":
            self._in_update = False

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] += data


def update(
    incident: str, stage: Stage, minutes: int, body: str, *, drill: bool = False, **kw: Any
) -> PageUpdate:
    return PageUpdate(
        incident=incident,
        stage=stage,
        title=f"{incident}: {stage.value}",
        body=body,
        time=T0 + timedelta(minutes=minutes),
        drill=drill,
        **kw,
    )


def feed_of(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "feed.json").read_text(encoding="utf-8"))
    return data


def test_two_incidents_with_every_update_then_resolution(tmp_path: Path) -> None:
    page = StatusPage(path="status", title="Example status", services=["Web shop", "API"])
    history = [
        update("INC-1", Stage.incident_opened, 0, "The web shop is down.", services=["Web shop"]),
        update("INC-1", Stage.incident_update, 20, "We are restoring from the backup."),
        update("INC-2", Stage.incident_opened, 30, "The API answers slowly.", services=["API"]),
        update("INC-1", Stage.incident_update, 40, "The restore is half done."),
        update("INC-2", Stage.incident_update, 50, "The API is moving to the standby."),
    ]
    for item in history:
        receipt = publish(page, tmp_path, item)
        assert receipt.ok and receipt.files == FILES, receipt
    folder = tmp_path / "status"
    assert receipt.destination == str(folder)
    state = feed_of(folder)["_lifeboat"]
    assert state["status"] == "major_outage"
    assert {s["name"]: s["status"] for s in state["services"]} == {
        "Web shop": "major_outage",
        "API": "major_outage",
    }

    for item in [
        update("INC-1", Stage.incident_resolved, 60, "The web shop is back."),
        update("INC-2", Stage.incident_resolved, 70, "The API is back."),
        update("INC-1", Stage.incident_postmortem, 80, "What happened, and what we change."),
    ]:
        assert publish(page, tmp_path, item).ok
    bodies = [u.body for u in history] + [
        "The web shop is back.",
        "The API is back.",
        "What happened, and what we change.",
    ]

    seen = Page((folder / "index.html").read_text(encoding="utf-8"))
    assert seen.incidents == ["INC-2: incident.opened", "INC-1: incident.opened"]  # newest first
    inc2 = [b for b in reversed(bodies) if "API" in b]
    inc1 = [b for b in reversed(bodies) if "API" not in b]
    assert seen.bodies == inc2 + inc1  # every update, newest first within its incident
    assert len(seen.times) == len(bodies)
    assert all(t.endswith("Z") for t in seen.times)
    assert seen.badges[:2] == ["Operational", "Operational"]  # both services, resolved
    assert "All systems operational" in (folder / "index.html").read_text(encoding="utf-8")

    feed = feed_of(folder)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert [item["content_text"] for item in feed["items"]] == list(reversed(bodies))
    assert len({item["id"] for item in feed["items"]}) == len(bodies)
    assert all(item["date_published"].endswith("Z") for item in feed["items"])
    assert feed["_lifeboat"]["status"] == "operational"
    assert [i["id"] for i in feed["_lifeboat"]["incidents"]] == ["INC-1", "INC-2"]
    assert [len(i["updates"]) for i in feed["_lifeboat"]["incidents"]] == [5, 3]

    atom = ET.parse(folder / "feed.atom").getroot()
    assert atom.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert atom.findtext(f"{ATOM}{tag}")
    assert atom.findtext(f"{ATOM}updated") == "2024-05-01T15:20:00Z"
    entries = atom.findall(f"{ATOM}entry")
    assert len(entries) == len(bodies)
    for entry in entries:
        assert all(entry.findtext(f"{ATOM}{tag}") for tag in ("id", "title", "updated"))
    assert [e.findtext(f"{ATOM}content") for e in entries] == list(reversed(bodies))
    assert len({e.findtext(f"{ATOM}id") for e in entries}) == len(bodies)

    # The page can be rebuilt from its feed alone.
    rebuilt = html(load((folder / "feed.json").read_bytes(), "feed.json"))
    assert rebuilt == (folder / "index.html").read_bytes()


def test_maintenance_status_and_a_retry_replaces_itself(tmp_path: Path) -> None:
    page = StatusPage(path=str(tmp_path / "abs"), services=["Shop"])
    planned = update("MNT-1", Stage.maintenance_scheduled, 0, "Sunday 02:00-04:00 UTC.")
    assert publish(page, Path("/nonexistent"), planned).ok  # an absolute path ignores base
    assert publish(page, Path("/nonexistent"), planned).ok
    feed = feed_of(tmp_path / "abs")
    assert len(feed["items"]) == 1
    assert feed["_lifeboat"]["services"] == [{"name": "Shop", "status": "maintenance"}]


def test_escalations_and_drills_never_reach_the_page(tmp_path: Path) -> None:
    page = StatusPage(path="status")
    drill = update("INC-1", Stage.incident_opened, 0, "[DRILL] rehearsal", drill=True)
    receipt = publish(page, tmp_path, drill)
    assert receipt.ok and receipt.files == [] and receipt.skipped and "drill" in receipt.skipped
    assert not (tmp_path / "status").exists()

    assert publish(page, tmp_path, update("INC-1", Stage.incident_opened, 0, "Down.")).ok
    before = {name: (tmp_path / "status" / name).read_bytes() for name in FILES}
    escalation = update("INC-1", Stage.provider_escalation, 5, "Dear provider, rack 12 ...")
    receipt = publish(page, tmp_path, escalation)
    assert receipt.skipped and "provider.escalation" in receipt.skipped and not receipt.files
    assert {name: (tmp_path / "status" / name).read_bytes() for name in FILES} == before


def test_message_text_is_escaped(tmp_path: Path) -> None:
    page = StatusPage(path="status", title="<b>Status</b>")
    body = 'Do not click <script>alert("x")</script> & co\x00.'
    assert publish(page, tmp_path, update("<i>INC</i>", Stage.incident_opened, 0, body)).ok
    text = (tmp_path / "status" / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "<b>" not in text and "<i>" not in text
    seen = Page(text)
    assert seen.scripts == 0
    assert seen.bodies == ['Do not click <script>alert("x")</script> & co.']  # NUL dropped
    atom = ET.parse(tmp_path / "status" / "feed.atom").getroot()
    assert atom.findtext(f"{ATOM}entry/{ATOM}content") == seen.bodies[0]
    assert atom.findtext(f"{ATOM}title") == "<b>Status</b>"


@pytest.mark.parametrize("content", [b"{not json", b'{"version": "x", "items": []}'])
def test_an_unreadable_feed_stops_the_publish_and_keeps_it(tmp_path: Path, content: bytes) -> None:
    folder = tmp_path / "status"
    folder.mkdir()
    (folder / "feed.json").write_bytes(content)
    receipt = publish(
        StatusPage(path="status"), tmp_path, update("I", Stage.incident_opened, 0, "x")
    )
    assert not receipt.ok and receipt.files == []
    assert receipt.code == "data.corrupted"
    assert receipt.error and str(folder / "feed.json") in receipt.error
    assert (folder / "feed.json").read_bytes() == content
    assert sorted(p.name for p in folder.iterdir()) == ["feed.json"]


def test_an_unwritable_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    receipt = publish(
        StatusPage(path="file/status"), tmp_path, update("I", Stage.incident_opened, 0, "x")
    )
    assert not receipt.ok and receipt.code == "access.failed"
    assert receipt.error and "file/status" in receipt.error


def test_config_needs_one_destination_and_defaults_services_to_the_service() -> None:
    for bad in ({}, {"path": "p", "uri": "s3://b/"}, {"uri": "https://example.com/"}):
        with pytest.raises(ValidationError):
            StatusPage.model_validate(bad)
    with pytest.raises(ValidationError):
        StatusPage.model_validate({"path": "p", "colour": "red"})
    comms = Comms(service="the web shop", status_page=StatusPage(path="p"))
    assert configured(comms) == StatusPage(path="p", services=["the web shop"])
    mine = StatusPage(path="p", services=["API"])
    assert configured(Comms(service="x", status_page=mine)) == mine
    assert configured(Comms(service="x")) is None


def bucket(s3: MotoServer) -> str:
    name = f"status-{uuid.uuid4().hex[:12]}"
    s3.client("s3", "eu-west-3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    return name


def test_s3_page_has_content_types_and_keeps_history(s3: MotoServer, tmp_path: Path) -> None:
    name = bucket(s3)
    page = StatusPage(uri=f"s3://{name}/public/status")  # no trailing slash: a folder still
    first = publish(page, tmp_path, update("INC-1", Stage.incident_opened, 0, "Shop down."))
    assert first.ok and first.files == FILES, first
    assert first.destination == f"s3://{name}/public/status/"
    second = publish(page, tmp_path, update("INC-2", Stage.incident_opened, 9, "API down."))
    assert second.ok, second

    api = s3.client("s3", "eu-west-3")
    types = {
        "index.html": "text/html; charset=utf-8",
        "feed.json": "application/feed+json; charset=utf-8",
        "feed.atom": "application/atom+xml; charset=utf-8",
    }
    for key, content_type in types.items():
        head = api.head_object(Bucket=name, Key=f"public/status/{key}")
        assert head["ContentType"] == content_type
        assert head["CacheControl"] == "max-age=60"
    raw = api.get_object(Bucket=name, Key="public/status/feed.json")["Body"].read()
    feed = json.loads(raw)
    assert [i["id"] for i in feed["_lifeboat"]["incidents"]] == ["INC-1", "INC-2"]
    index = api.get_object(Bucket=name, Key="public/status/index.html")["Body"].read()
    assert Page(index.decode("utf-8")).bodies == ["API down.", "Shop down."]
    atom = api.get_object(Bucket=name, Key="public/status/feed.atom")["Body"].read()
    assert len(ET.fromstring(atom).findall(f"{ATOM}entry")) == 2


def test_s3_errors_are_receipts(s3: MotoServer, tmp_path: Path) -> None:
    missing = StatusPage(uri=f"s3://absent-{uuid.uuid4().hex[:12]}/")
    receipt = publish(missing, tmp_path, update("I", Stage.incident_opened, 0, "x"))
    assert not receipt.ok and receipt.code == "access.no_bucket" and receipt.files == []

    name = bucket(s3)
    s3.client("s3", "eu-west-3").put_object(Bucket=name, Key="feed.json", Body=b"[]")
    receipt = publish(
        StatusPage(uri=f"s3://{name}/"), tmp_path, update("I", Stage.incident_opened, 0, "x")
    )
    assert not receipt.ok and receipt.code == "data.corrupted"
    assert receipt.error and f"s3://{name}/feed.json" in receipt.error
