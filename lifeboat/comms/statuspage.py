"""Publish stakeholder updates to a static status page, in a folder or an S3 bucket.

The page is public: anyone, including whoever caused the outage, reads it. So it only
ever carries the *customer* wording of a message (the internal one names hosts, sites and
vendors, and naming the weak spot invites abuse; ``comms lint`` checks the customer
templates for that), and never a drill: a rehearsal on a public page reads as a real
outage, so ``publish`` skips drills with a reason, whatever ``in_drills`` says.
``provider.escalation`` is between us and our provider: it leaves the page unchanged.

What an update says about the service (the status of its incident):

    maintenance.scheduled                    maintenance
    incident.opened, incident.update         major_outage
    incident.failed (a failed run)           major_outage
    incident.resolved, incident.postmortem   operational

``major_outage`` and not ``degraded``: a Lifeboat incident is a disaster-recovery run, the
service is down or being failed over, and the run has no measure of a partial service.
Understating an outage on a public page costs more trust than the reverse. A service
shows the worst status among the open incidents that affect it.

No database: the state travels in the page's own ``feed.json`` (see ``pagefeed``).
Publishing reads it back, adds the update to its incident (keyed by the incident
reference, else the run id), and writes ``feed.json``, ``feed.atom`` and ``index.html``
again, the state first: if a later write fails, the next publish rewrites the rest. The
same update published twice (a retried delivery) replaces itself. A ``feed.json`` that
cannot be read stops the publish with an error naming it: history is never discarded.

Folder writes are atomic (a temporary file, then ``os.replace``) under a lock on the
folder. On S3 each file is one PutObject; two processes publishing at the same instant
can lose one update (last writer wins), which is why a page should belong to runbooks
that share a ``lock`` (one live run at a time).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from lifeboat.comms.pagefeed import (
    Entry,
    Incident,
    PageState,
    ServiceStatus,
    Status,
    StatusPageError,
    atom_feed,
    html,
    json_feed,
    load,
    rfc3339,
    worst,
)
from lifeboat.errors import StepError
from lifeboat.runbook.model import Comms, Stage, StatusPage

__all__ = [
    "PageUpdate",
    "PublishReceipt",
    "StatusPageError",
    "configured",
    "merge",
    "publish",
]

STATUS: dict[Stage, Status | None] = {
    Stage.maintenance_scheduled: "maintenance",
    Stage.incident_opened: "major_outage",
    Stage.incident_update: "major_outage",
    Stage.incident_resolved: "operational",
    Stage.incident_postmortem: "operational",
    Stage.provider_escalation: None,  # not public
    Stage.incident_failed: "major_outage",  # the recovery failed: the incident goes on
}

FEED = "feed.json"
#: (file, Content-Type, rendering), in the order written: the state first.
FILES: tuple[tuple[str, str, Callable[[PageState], bytes]], ...] = (
    (FEED, "application/feed+json; charset=utf-8", json_feed),
    ("feed.atom", "application/atom+xml; charset=utf-8", atom_feed),
    ("index.html", "text/html; charset=utf-8", html),
)
CACHE_CONTROL = "max-age=60"  # a status page must not be served stale for long

_LOCK = threading.Lock()  # parallel notify steps of one run publish in turn


class PageUpdate(BaseModel):
    """One message for the page: the customer-audience rendering of a notify step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident: str = Field(min_length=1, description="The incident reference, else the run id")
    stage: Stage
    title: str = Field(description="The customer message's subject")
    body: str = Field(description="The customer message's body (never the internal one)")
    time: AwareDatetime
    services: list[str] = Field(
        default_factory=list,
        description="Services affected; empty: every service (or, for a known incident, "
        "the services it already affects)",
    )
    drill: bool = False

    @property
    def entry_id(self) -> str:
        return f"{self.incident}/{self.stage.value}/{rfc3339(self.time)}"


class PublishReceipt(BaseModel):
    """What ``publish`` did; no secret: a folder path or an ``s3://`` URI."""

    destination: str
    files: list[str] = Field(default_factory=list, description="Files written, in order")
    ok: bool = True
    skipped: str | None = Field(None, description="Why nothing was published")
    error: str | None = None
    code: str | None = Field(None, description="The error's code: access.*, data.corrupted")


def configured(comms: Comms) -> StatusPage | None:
    """The runbook's status page, its ``services`` defaulting to ``comms.service``."""
    page = comms.status_page
    if page is None or page.services or not comms.service:
        return page
    return page.model_copy(update={"services": [comms.service]})


def publish(page: StatusPage, base: Path, update: PageUpdate) -> PublishReceipt:
    """Add ``update`` to the page and rewrite its three files.

    ``base`` is the folder a relative ``path`` is resolved against: the runbook file's.
    Never raises for the page's own trouble (unreadable state, refused or failed writes):
    the receipt says what failed, with the error's code, so a failed page fails only its
    delivery.
    """
    destination: _Destination = (
        _Folder(base / page.path) if page.path is not None else _Bucket(page.uri or "")
    )
    where = str(destination)
    if update.drill:
        return PublishReceipt(destination=where, skipped="a drill: never on the public page")
    if STATUS[update.stage] is None:
        reason = f"{update.stage.value} is not public: the page is unchanged"
        return PublishReceipt(destination=where, skipped=reason)
    written: list[str] = []
    try:
        with _LOCK, destination.locked():
            raw = destination.read(FEED)
            state = (
                PageState(title=page.title, language=page.language)
                if raw is None
                else load(raw, destination.at(FEED))
            )
            state = merge(state, page, update)
            for name, content_type, render in FILES:
                destination.write(name, render(state), content_type)
                written.append(name)
    except StepError as exc:  # ours, and storage's StorageError
        return PublishReceipt(
            destination=where, files=written, ok=False, error=str(exc), code=exc.code
        )
    return PublishReceipt(destination=where, files=written)


def merge(state: PageState, page: StatusPage, update: PageUpdate) -> PageState:
    """The state with ``update`` added to its incident, and every status recomputed."""
    status = STATUS[update.stage]
    if status is None:
        raise ValueError(f"{update.stage.value} updates are not published")
    entry = Entry(
        id=update.entry_id,
        stage=update.stage,
        status=status,
        title=update.title,
        body=update.body,
        time=update.time,
    )
    incidents = {incident.id: incident for incident in state.incidents}
    if (old := incidents.get(update.incident)) is None:
        incidents[update.incident] = Incident(
            id=update.incident, title=update.title, services=update.services, updates=[entry]
        )
    else:
        kept = [u for u in old.updates if u.id != entry.id]  # a retry replaces itself
        services = _union(old.services, update.services) if old.services else []
        updates = sorted([*kept, entry], key=lambda u: u.time)
        incidents[update.incident] = Incident(
            id=old.id, title=old.title, services=services, updates=updates
        )
    ordered = sorted(incidents.values(), key=lambda i: i.updates[0].time)
    names = _union(page.services, [s.name for s in state.services], *(i.services for i in ordered))
    live = [i for i in ordered if i.open]
    return PageState(
        feed_id=state.feed_id,
        title=page.title,
        language=page.language,
        status=worst([i.latest.status for i in live]),
        services=[
            ServiceStatus(
                name=name, status=worst([i.latest.status for i in live if i.affects(name)])
            )
            for name in names
        ],
        incidents=ordered,
    )


def _union(*lists: list[str]) -> list[str]:
    return list(dict.fromkeys(name for names in lists for name in names))


class _Destination(Protocol):
    def at(self, name: str) -> str: ...
    def locked(self) -> contextlib.AbstractContextManager[None]: ...
    def read(self, name: str) -> bytes | None: ...
    def write(self, name: str, data: bytes, content_type: str) -> None: ...


class _Folder:
    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()

    def __str__(self) -> str:
        return str(self.path)

    def at(self, name: str) -> str:
        return str(self.path / name)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock on the folder itself: no lock file lands on the page."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise _os_failed("creating the folder", str(self.path), exc) from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # releases the lock

    def read(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_failed("reading", self.at(name), exc) from exc

    def write(self, name: str, data: bytes, content_type: str) -> None:
        temporary = ""
        try:
            handle, temporary = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the page from the web server
            os.replace(temporary, self.path / name)
        except OSError as exc:
            if temporary:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            raise _os_failed("writing", self.at(name), exc) from exc


class _Bucket:
    def __init__(self, uri: str) -> None:
        from lifeboat.storage import S3Location  # boto3 only for pages that live in S3

        location = S3Location.parse(uri)
        prefix = (
            location.prefix
            if not location.prefix or location.prefix.endswith("/")
            else f"{location.prefix}/"
        )
        self.location = S3Location(location.bucket, prefix)

    def __str__(self) -> str:
        return str(self.location)

    def at(self, name: str) -> str:
        return f"{self.location}{name}"

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def read(self, name: str) -> bytes | None:
        from lifeboat import storage

        return storage.read_bytes(self.location, name)

    def write(self, name: str, data: bytes, content_type: str) -> None:
        from lifeboat import storage

        storage.write_bytes(self.location, name, data, content_type, cache_control=CACHE_CONTROL)


def _os_failed(doing: str, where: str, exc: OSError) -> StatusPageError:
    code = "access.denied" if isinstance(exc, PermissionError) else "access.failed"
    return StatusPageError(f"{doing} failed: {exc.strerror or exc}", target=where, code=code)
