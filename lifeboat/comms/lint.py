"""``lifeboat comms lint``: does each message a runbook would send say what its stage needs,
and do customer messages keep internal names to themselves?

Each ``notify`` step's messages are rendered as the run would (parameters at their
defaults, the steps before it done) for every language and audience among its
stakeholders. A part is found in the text: the ETA (or the stage's plain "no estimate
yet" sentence), a support e-mail, phone or URL of the runbook, the apology, lessons and
preventive measures in the reader's language, the maintenance window (the runbook's
``window`` parameter). Customer-facing text must not name the runbook's sites, providers,
regions, datacenters, hosts or host addresses: naming the weak spot invites abuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lifeboat.comms.message import Message, Progress, StepLine, build, example_failure
from lifeboat.comms.render import CommsError, Rendered, override_path, render
from lifeboat.runbook.model import NotifyStep, Runbook, Stage

#: Words that carry each part, per language (lower case, regular expressions).
_APOLOGY = {"en": r"\bsorry\b|apologi", "fr": r"excuses|désolé", "nl": r"excuses|\bsorry\b|spijt"}
_LESSONS = {"en": r"lessons? learnt|lessons? learned", "fr": r"leçons?", "nl": r"lessen|geleerd"}
_PREVENTIVE = {"en": r"prevent", "fr": r"préventi", "nl": r"preventie|voorkom"}
_NO_ETA = {
    "en": r"no estimate yet",
    "fr": r"pas encore d'estimation",
    "nl": r"nog geen schatting",
}

Detector = Callable[[Rendered, Message], bool]


def _words(table: dict[str, str]) -> Detector:
    return lambda r, _: re.search(table[r.lang], r.text.lower()) is not None


def _eta(r: Rendered, m: Message) -> bool:
    if m.estimate.eta and m.estimate.eta in r.text:
        return True
    return re.search(_NO_ETA[r.lang], r.text.lower()) is not None


def _support(r: Rendered, m: Message) -> bool:
    contacts = [m.support.email, m.support.phone, m.support.url]
    return any(c and c in r.text for c in contacts)


def _window(r: Rendered, m: Message) -> bool:
    return m.window is not None and m.window in r.text


def _next_update(r: Rendered, m: Message) -> bool:
    return m.next_update in r.text


def _resume(r: Rendered, m: Message) -> bool:
    return m.failure is not None and bool(m.failure.resume) and m.failure.resume in r.text


PARTS: dict[str, Detector] = {
    "an ETA (or a plain statement that there is none yet)": _eta,
    "a support contact": _support,
    "an apology": _words(_APOLOGY),
    "the lessons learnt": _words(_LESSONS),
    "the preventive measures": _words(_PREVENTIVE),
    "the maintenance window": _window,
    "the next update's time": _next_update,
    "the command that resumes the run": _resume,
}

#: Parts only customers need: on-call does not call the support desk.
CUSTOMERS_ONLY = frozenset({"a support contact"})
#: Parts only the team needs: customers do not resume runs.
INTERNAL_ONLY = frozenset({"the command that resumes the run"})

#: The parts each stage must have.
REQUIRED: dict[Stage, tuple[str, ...]] = {
    Stage.maintenance_scheduled: ("the maintenance window", "a support contact"),
    Stage.incident_opened: (
        "an ETA (or a plain statement that there is none yet)",
        "a support contact",
        "an apology",
    ),
    Stage.incident_update: (
        "an ETA (or a plain statement that there is none yet)",
        "a support contact",
    ),
    Stage.incident_resolved: ("the lessons learnt", "the preventive measures", "an apology"),
    Stage.incident_postmortem: ("the lessons learnt", "the preventive measures", "an apology"),
    Stage.provider_escalation: (),
    Stage.incident_failed: (
        "the next update's time",
        "a support contact",
        "an apology",
        "the command that resumes the run",
    ),
}


@dataclass(frozen=True)
class Finding:
    path: Path
    step: str
    stage: Stage
    lang: str
    audience: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.stage.value}, {self.lang}, {self.audience}"
        what = f"step {self.step}" if self.step else "when the run fails"
        return f"{self.path}: {what} ({where}): {self.problem}"


def internal_names(runbook: Runbook) -> dict[str, str]:
    """Names customers must not read, each with what it is."""
    names: dict[str, str] = {}
    for name, site in runbook.sites.items():
        names[name] = "site"
        names[site.provider] = "provider"
        names[site.region] = "region"
        if site.datacenter:
            names[site.datacenter] = "datacenter"
    for name, host in runbook.hosts.items():
        names[name] = "host"
        names[host.address] = "host address"
    return {k: v for k, v in names.items() if len(k) >= 2}


def disclosed(text: str, names: dict[str, str]) -> list[tuple[str, str]]:
    """The internal names a text mentions (whole words, any case), longest first; a name
    inside a longer one found (``sbg`` in ``web-a.sbg.example.net``) is not named again."""
    found = []
    for name in sorted(names, key=len, reverse=True):
        pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)
        if pattern.search(text):
            found.append((name, names[name]))
            text = pattern.sub(" ", text)
    return found


def sample(runbook: Runbook, step: NotifyStep) -> Message:
    """The message as the run would build it: parameters at their defaults, earlier steps
    done."""
    before = []
    for other in runbook.steps:
        if other.id == step.id:
            break
        before.append(StepLine(id=other.id, title=other.title or other.id))
    params = {n: p.default for n, p in runbook.parameters.items() if p.default is not None}
    progress = Progress(total=len(runbook.steps), done=before)
    return build(runbook, step.notify, progress=progress, incident="INC-1", params=params)


def failed_sample(runbook: Runbook, path: Path | None) -> Message:
    """A failed run's closing message: its last action failed, the steps before it done."""
    failure = example_failure(runbook, path)
    before = []
    for other in runbook.steps:
        if other.id == failure.step:
            break
        before.append(StepLine(id=other.id, title=other.title or other.id))
    params = {n: p.default for n, p in runbook.parameters.items() if p.default is not None}
    failed = [StepLine(id=failure.step, title=failure.title, error=failure.error)]
    progress = Progress(total=len(runbook.steps), done=before, failed=failed)
    return build(
        runbook,
        Stage.incident_failed,
        progress=progress,
        incident="INC-1",
        params=params,
        run_id="RUN",
        failure=failure,
    )


def lint(runbook: Runbook, path: Path) -> Iterator[Finding]:
    """Every notify step's messages, then the closing message of a failed run (sent to
    every stakeholder a step may have told)."""
    names = internal_names(runbook)
    told: set[str] = set()
    for step in runbook.steps:
        if isinstance(step, NotifyStep):
            told.update(step.to)
            yield from _check(runbook, path, step.id, sample(runbook, step), step.to, names=names)
    if told:
        yield from _check(
            runbook, path, "", failed_sample(runbook, path), sorted(told), names=names
        )


def _check(
    runbook: Runbook,
    path: Path,
    step: str,
    message: Message,
    to: list[str],
    *,
    names: dict[str, str],
) -> Iterator[Finding]:
    """The findings of one message (``step`` "" for the closing one) for its readers."""
    stage = message.stage
    readers = sorted(
        {(runbook.stakeholders[n].language, runbook.stakeholders[n].audience) for n in to}
    )
    for lang, audience in readers:
        try:
            override = override_path(runbook, path, stage)
            rendered = render(message, lang, audience, override=override)
        except CommsError as exc:
            yield Finding(path, step, stage, lang, audience, str(exc))
            continue
        if not rendered.subject.removeprefix("[DRILL]").strip() or not rendered.body.strip():
            problem = "renders no subject or no body"
            if stage is Stage.incident_failed:  # see lifeboat.failure_notice
                problem += ": the run would send the shipped template instead"
            yield Finding(path, step, stage, lang, audience, problem)
            continue
        for part in REQUIRED[stage]:
            if audience != "customers" and part in CUSTOMERS_ONLY:
                continue
            if audience == "customers" and part in INTERNAL_ONLY:
                continue
            if not PARTS[part](rendered, message):
                yield Finding(path, step, stage, lang, audience, f"missing {part}")
        if audience == "customers":
            for name, kind in disclosed(rendered.text, names):
                problem = f"discloses {kind} '{name}' to customers"
                yield Finding(path, step, stage, lang, audience, problem)
