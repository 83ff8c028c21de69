"""The status page's state and its three renderings: ``index.html``, ``feed.json``, ``feed.atom``.

The state (services, incidents, every update) travels inside ``feed.json`` as the JSON Feed
extension object ``_lifeboat``, so the page needs no database: whoever publishes next reads
it back (``load``), adds an update and renders all three files again. Rendering is a pure
function of the state; ``lifeboat.comms.statuspage`` decides what goes into it.

Every text on the page comes from a customer-audience message: the HTML is escaped by
Jinja2's autoescape, the Atom feed built with ElementTree, the JSON Feed by ``json``.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import jinja2
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from lifeboat.comms.pagewords import WORDS, Language
from lifeboat.errors import StepError
from lifeboat.runbook.model import Stage

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM = "http://www.w3.org/2005/Atom"

Status = Literal["operational", "maintenance", "major_outage"]
SEVERITY: dict[Status, int] = {"operational": 0, "maintenance": 1, "major_outage": 2}
CLOSED = (Stage.incident_resolved, Stage.incident_postmortem)


class StatusPageError(StepError):
    """The status page could not be published: its state is unreadable, or a write failed."""

    code = "step.failed"


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(value: str) -> str:
    """Text that XML 1.0 (and so the Atom feed) can carry: control characters removed."""
    return _NOT_XML.sub("", value)


#: Every text of the state: a NUL or a form feed in a message must not break the Atom feed.
Text = Annotated[str, AfterValidator(_xml_safe)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Entry(_Model):
    """One published update of an incident."""

    id: Text
    stage: Stage
    status: Status
    title: Text
    body: Text
    time: AwareDatetime


class Incident(_Model):
    """An incident (or a maintenance), keyed by the run's incident reference."""

    id: Text
    title: Text
    services: list[Text] = Field(description="Services affected; empty: every service")
    updates: list[Entry] = Field(min_length=1, description="Oldest first")

    @property
    def latest(self) -> Entry:
        return self.updates[-1]

    @property
    def open(self) -> bool:
        return self.latest.stage not in CLOSED

    def affects(self, service: str) -> bool:
        return not self.services or service in self.services


class ServiceStatus(_Model):
    name: Text
    status: Status


class PageState(_Model):
    """What the page shows, as data: the ``_lifeboat`` object of ``feed.json``."""

    version: Literal[1] = 1
    feed_id: str = Field(default_factory=lambda: str(uuid.uuid4()), description="Atom feed id")
    title: Text
    language: Language = "en"
    status: Status = "operational"
    services: list[ServiceStatus] = Field(default_factory=list)
    incidents: list[Incident] = Field(default_factory=list, description="Oldest first")

    @property
    def updated(self) -> datetime | None:
        return max((i.latest.time for i in self.incidents), default=None)


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=SEVERITY.__getitem__, default="operational")


def load(raw: bytes, where: str) -> PageState:
    """The state kept in an existing ``feed.json``; a clear error, never an empty page."""
    advice = "it holds the page's history: repair it or move it away, then publish again"
    try:
        document = json.loads(raw.decode("utf-8"))
        if not isinstance(document, dict) or "_lifeboat" not in document:
            raise ValueError("no '_lifeboat' object: not a feed written by Lifeboat")
        return PageState.model_validate(document["_lifeboat"])
    except (ValueError, ValidationError) as exc:  # JSONDecodeError, UnicodeDecodeError too
        detail = " ".join(str(exc).split())
        raise StatusPageError(
            f"unreadable status page state ({detail}); {advice}",
            target=where,
            code="data.corrupted",
        ) from exc


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def json_feed(state: PageState) -> bytes:
    """JSON Feed 1.1: one item per update, newest first, and the state as ``_lifeboat``."""
    items: list[dict[str, Any]] = [
        {
            "id": entry.id,
            "title": entry.title,
            "content_text": entry.body,
            "date_published": rfc3339(entry.time),
            "tags": [entry.stage.value, entry.status],
            "_lifeboat": {"incident": incident.id, "stage": entry.stage.value},
        }
        for incident, entry in _newest_updates(state)
    ]
    feed = {
        "version": JSON_FEED_VERSION,
        "title": state.title,
        "language": state.language,
        "items": items,
        "_lifeboat": state.model_dump(mode="json"),
    }
    return json.dumps(feed, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def atom_feed(state: PageState) -> bytes:
    """Atom 1.0 (RFC 4287): one entry per update, newest first."""
    feed = ET.Element("feed", xmlns=ATOM)  # unprefixed names, as Atom readers expect
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", state.language)

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        child = ET.SubElement(parent, tag, attrs)
        child.text = text
        return child

    add(feed, "id", f"urn:uuid:{state.feed_id}")
    add(feed, "title", state.title, type="text")
    add(feed, "updated", rfc3339(state.updated or datetime.now(UTC)))
    add(add(feed, "author"), "name", state.title)
    add(feed, "link", rel="alternate", type="text/html", href="index.html")
    namespace = uuid.UUID(state.feed_id)
    for _, entry in _newest_updates(state):
        item = ET.SubElement(feed, "entry")
        add(item, "id", f"urn:uuid:{uuid.uuid5(namespace, entry.id)}")
        add(item, "title", entry.title, type="text")
        add(item, "updated", rfc3339(entry.time))
        add(item, "published", rfc3339(entry.time))
        label = WORDS[state.language][entry.stage]
        add(item, "category", term=entry.stage.value, label=label)
        add(item, "content", entry.body, type="text")
    ET.indent(feed)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


def _newest_updates(state: PageState) -> list[tuple[Incident, Entry]]:
    pairs = [(i, e) for i in state.incidents for e in i.updates]
    return sorted(pairs, key=lambda pair: (pair[1].time, pair[1].id), reverse=True)


_HTML = """\
<!DOCTYPE html>
<html lang="{{ s.language }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ s.title }}</title>
<link rel="alternate" type="application/atom+xml" href="feed.atom" title="{{ s.title }}">
<link rel="alternate" type="application/feed+json" href="feed.json" title="{{ s.title }}">
<style>
body{font:16px/1.5 system-ui,sans-serif;color:#1d2330;background:#f6f7f9;margin:0}
main{max-width:46rem;margin:0 auto;padding:1.5rem}
section,article{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:1rem;
margin:1rem 0}
ul.services{list-style:none;padding:0;margin:0}
ul.services li{display:flex;justify-content:space-between;padding:.4rem 0;
border-bottom:1px solid #eef0f3}
.badge{border-radius:1rem;padding:.1rem .7rem;font-size:.85rem;white-space:nowrap}
.operational{background:#dcf5e3;color:#17612f}
.maintenance{background:#dde9fb;color:#1f4d8f}
.major_outage{background:#fbe0de;color:#8f1f16}
p.overall{font-size:1.25rem;font-weight:600;padding:.8rem 1rem;border-radius:6px}
ol.updates{list-style:none;padding:0}
ol.updates li{border-left:3px solid #dde1e7;padding:.2rem 0 .2rem .8rem;margin:.8rem 0}
.meta,.when,footer{color:#5b6475;font-size:.9rem}
h3,h4{margin:.2rem 0}
.body{white-space:pre-wrap;margin:.3rem 0 0}
</style>
</head>
<body>
<main>
<h1>{{ s.title }}</h1>
<p class="overall {{ s.status }}">{{ w["overall." + s.status] }}</p>
{% if s.services %}
<section>
<h2>{{ w.services }}</h2>
<ul class="services">
{% for service in s.services %}
<li><span>{{ service.name }}</span> <span class="badge {{ service.status }}">\
{{ w[service.status] }}</span></li>
{% endfor %}
</ul>
</section>
{% endif %}
<h2>{{ w.incidents }}</h2>
{% for incident in incidents %}
<article class="incident">
<h3>{{ incident.title }}</h3>
<p class="meta"><span class="badge {{ incident.latest.status }}">\
{{ w[incident.latest.status] }}</span> {{ w.reference }} {{ incident.id }}, \
{{ w.first_reported }} <time datetime="{{ iso(incident.updates[0].time) }}">\
{{ clock(incident.updates[0].time) }}</time>\
{% if incident.services %}, {{ w.affects }} {{ incident.services|join(", ") }}{% endif %}</p>
<ol class="updates">
{% for entry in incident.updates|reverse %}
<li class="update">
<p class="when"><strong>{{ w[entry.stage] }}</strong>, \
<time datetime="{{ iso(entry.time) }}">{{ clock(entry.time) }}</time></p>
<h4>{{ entry.title }}</h4>
<p class="body">{{ entry.body }}</p>
</li>
{% endfor %}
</ol>
</article>
{% else %}
<p>{{ w.no_incidents }}</p>
{% endfor %}
<footer>{{ w.utc }}{% if s.updated %} {{ w.last_updated }} \
<time datetime="{{ iso(s.updated) }}">{{ clock(s.updated) }}</time>.{% endif %} \
{{ w.follow }}: <a href="feed.atom">Atom</a>, <a href="feed.json">JSON Feed</a>.</footer>
</main>
</body>
</html>
"""

_ENV = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_PAGE = _ENV.from_string(_HTML)


def html(state: PageState) -> bytes:
    """``index.html``: overall status, services, then incidents and updates, newest first."""
    incidents = sorted(
        state.incidents, key=lambda i: (i.updates[0].time, i.latest.time), reverse=True
    )
    page = _PAGE.render(
        s=state,
        incidents=incidents,
        w=WORDS[state.language],
        iso=rfc3339,
        clock=clock,
    )
    return page.encode("utf-8")
