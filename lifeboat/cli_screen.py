"""What ``lifeboat run`` prints: one line per journal event, in order, and the run's summary.

The screen is read from the journal (``lifeboat.follow``), the record auditors read, so what
the operator sees is what was recorded, in the order it was recorded. It stays calm: a failed
check is one line (its traceback is Prefect's, shown with ``--verbose``), a skipped step says
why, a gate says how to answer it, and a notify step counts its channels sent, skipped in a
drill and failed. Every value is a rich ``Text``, never markup: a summary holding ``[bold]``
or ``:smile:`` prints as written.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from lifeboat.console import print_wrapped
from lifeboat.journal import Entry
from lifeboat.runbook.model import ApprovalStep, Runbook

STYLE = {
    "succeeded": "green",
    "failed": "red",
    "skipped": "yellow",
    "retrying": "magenta",
    "waiting": "bold magenta",
    "refused": "red",
    "rollback": "magenta",
}
WORD_WIDTH = len("succeeded")
#: Event -> the word shown for it (rollbacks say so in their detail).
WORDS = {
    "step.started": "started",
    "step.succeeded": "succeeded",
    "step.failed": "failed",
    "step.retried": "retrying",
    "step.skipped": "skipped",
    "approval.asked": "waiting",
    "rollback.started": "rollback",
    "rollback.succeeded": "rollback",
    "rollback.failed": "rollback",
    "update.sent": "update",
}
DRILL_SKIP = "drill: "  # how the engine words a live-only step skipped in a drill
INDENT = 4  # a wrapped line's continuation: deeper than a summary row's two spaces


@dataclass(frozen=True)
class Gate:
    """What answering one approval step takes, from the runbook."""

    confirm: str | None = None
    approvers: tuple[str, ...] = ()


def gates_of(runbook: Runbook) -> dict[str, Gate]:
    return {
        step.id: Gate(step.approval.confirm, tuple(step.approval.approvers or ()))
        for step in runbook.steps
        if isinstance(step, ApprovalStep)
    }


def channels(deliveries: Iterable[dict[str, Any]]) -> str:
    """``channels: 1 sent, 1 skipped in drill, 1 failed (oncall: json)``, from the receipts
    a notify step journals: a stakeholder left out of a drill on purpose is not a failure."""
    sent = skipped_in_drill = 0
    other_skips: list[str] = []
    failed: list[str] = []
    for receipt in deliveries:
        status, why = receipt.get("status"), str(receipt.get("why") or "")
        if status == "sent":
            sent += 1
        elif status == "skipped" and why.startswith(("drill", "a drill")):
            skipped_in_drill += 1
        elif status == "skipped":
            other_skips.append(f"{receipt.get('stakeholder')}: {why}")
        else:
            failed.append(f"{receipt.get('stakeholder')}: {receipt.get('kind')}")
    text = f"channels: {sent} sent, {skipped_in_drill} skipped in drill, {len(failed)} failed"
    if failed:
        text += f" ({', '.join(failed)})"
    if other_skips:
        text += f", {len(other_skips)} skipped ({'; '.join(other_skips)})"
    return text


def detail(
    kind: str | None, summary: str | None, error: str | None, evidence: dict[str, Any]
) -> str:
    """The words after a step's status: its error, its channel counts, or its summary."""
    if error:
        return error
    deliveries = evidence.get("deliveries")
    if kind == "notify" and isinstance(deliveries, list):
        return channels(deliveries)
    return summary or ""


def skipped(summary: str) -> str:
    """A skipped step's reason, saying whether the drill skipped it (``live_only``)."""
    if summary.startswith(DRILL_SKIP):
        return f"in drill (live only): {summary.removeprefix(DRILL_SKIP)}"
    return summary


def approve_commands(run: str, gate: Gate) -> tuple[str, str]:
    """The exact commands that approve and reject the gate of flow run ``run``."""
    base = f"lifeboat approve {shlex.quote(run)}"
    yes = f"{base} --by NAME"
    if gate.confirm:
        yes += f" --confirm {shlex.quote(gate.confirm)}"
    if gate.approvers:
        yes += f"   (NAME: one of {', '.join(gate.approvers)})"
    return yes, f"{base} --reject --by NAME"


@dataclass
class Screen:
    """Prints each journal entry of one run as it arrives (``on_entry``)."""

    console: Console
    step_ids: list[str]
    gates: dict[str, Gate]
    ui_url: Callable[[str], str | None]
    flow_run: str | None = None  # the Prefect flow run (a resumed run's differs from its id)
    answered_in_advance: bool = False  # --yes: a gate needs no instructions
    _width: int = field(init=False)

    def __post_init__(self) -> None:
        self._width = max((len(s) for s in self.step_ids), default=8)

    def on_entry(self, entry: Entry) -> None:
        if entry.event == "run.started":
            self._started(entry)
        elif entry.event == "run.resumed":
            self.flow_run = str(entry.inputs.get("resumed_by_flow_run") or entry.run_id)
            said = (entry.summary or "").removeprefix("resumed: ")
            self._say(f"run {entry.run_id} resumed by flow run {self.flow_run}: {said}")
            self._link(self.flow_run)
        elif entry.event == "approval.answered":
            word = "refused" if entry.error else "answered"
            who = f"by {entry.actor}: " if entry.actor else ""
            self._line(entry, word, who + (entry.error or entry.summary or ""))
        elif entry.event == "approval.asked":
            self._gate(entry)
        elif entry.event in WORDS and entry.step_id:
            self._line(entry, WORDS[entry.event], self._detail(entry))

    def _detail(self, entry: Entry) -> str:
        if entry.event == "step.skipped":
            return skipped(entry.summary or "")
        if entry.event == "step.started" and entry.kind == "notify":
            to = ", ".join(map(str, entry.inputs.get("to") or []))
            return f"{entry.inputs.get('stage', 'message')} to {to}"
        said = detail(entry.kind, entry.summary, entry.error, entry.evidence)
        if entry.event.startswith("rollback."):
            return entry.event.removeprefix("rollback.") + (f": {said}" if said else "")
        if entry.event == "update.sent":
            return f"sent on its own: {said}"
        if entry.duration_ms is not None and entry.event != "step.retried":
            said += f" ({entry.duration_ms / 1000:.2f}s)"
        return said

    def _started(self, entry: Entry) -> None:
        inputs = entry.inputs
        self.flow_run = self.flow_run or entry.run_id
        facts = [f"{entry.runbook.id} {entry.runbook.version}", f"{inputs.get('mode')} run"]
        if inputs.get("incident"):
            facts.append(f"incident {inputs['incident']}")
        if inputs.get("detected_at"):
            facts.append(f"detected at {inputs['detected_at']}")
        self._say(f"run {entry.run_id} started: {', '.join(facts)}  (times in UTC)")
        self._link(self.flow_run)

    def _gate(self, entry: Entry) -> None:
        step = entry.step_id or ""
        prompt = str(entry.inputs.get("prompt") or "")
        self._line(entry, "waiting", f"for approval: {prompt}")
        if self.answered_in_advance:
            return
        pad = " " * (10 + self._width + 2 + WORD_WIDTH + 2)
        yes, no = approve_commands(self.flow_run or entry.run_id, self.gates.get(step, Gate()))
        for label, text in (("approve:", yes), ("reject: ", no)):
            print_wrapped(Text(f"{pad}{label} {text}"), len(pad) + 9, self.console)
        url = self.ui_url(self.flow_run or entry.run_id)
        if url:
            print_wrapped(Text(f"{pad}or in the Prefect UI: {url}"), len(pad), self.console)

    def _line(self, entry: Entry, word: str, said: str) -> None:
        stamp = entry.ts.strftime("%H:%M:%S")
        head = Text.assemble(
            f"{stamp}  {entry.step_id or '':{self._width}}  ",
            (f"{word:{WORD_WIDTH}}", STYLE.get(word, "")),
            "  ",
        )
        print_wrapped(head + Text(said), len(head), self.console)

    def _say(self, text: str) -> None:
        print_wrapped(Text(text), INDENT, self.console)

    def _link(self, flow_run: str) -> None:
        url = self.ui_url(flow_run)
        if url:
            print_wrapped(Text(f"Prefect UI: {url}"), INDENT, self.console)


def summary(console: Console, outcome: Any, journal: Path) -> None:
    """The run's outcome, one line per step (commands whole), its RTO, its journal."""
    failed = outcome.failed_step
    took = (outcome.ended - outcome.started).total_seconds()
    head = f"{outcome.runbook_id} {outcome.version}: {outcome.mode} run {outcome.status.value}"
    head += f" at {failed.step_id}" if failed else ""
    print_wrapped(Text(f"{head}, {took:.1f}s", style="bold"), INDENT, console)
    steps = [*outcome.steps, *outcome.rollbacks]
    width = max((len(s.step_id) for s in steps), default=8)
    for step in steps:
        word = step.status.value + (" (tolerated)" if step.tolerated else "")
        if step.status.value == "skipped":
            said, took_s = skipped(step.summary), ""
        else:
            said = detail(step.kind, step.summary, step.error, step.evidence)
            took_s = f"{step.duration_ms / 1000:.2f}s"
        row = Text.assemble(
            f"  {step.step_id:{width}}  ",
            (f"{word:{WORD_WIDTH}}", STYLE.get(step.status.value, "")),
            f"  {took_s:>8}  ",
        )
        print_wrapped(row + Text(said), len(row), console)
    rto = _rto(journal)
    if rto:
        print_wrapped(Text(rto), INDENT, console)
    console.print(f"journal: {journal}", markup=False)


def _rto(journal: Path) -> str | None:
    """The RTO the review measures (from ``--detected-at`` when given), in one line."""
    from lifeboat.audit.review import build

    try:
        rto = build(journal).rto
    except (ValueError, OSError):  # no review, no RTO line: the journal line still says where
        return None
    measured = f"{rto.achieved}, {rto.basis}" if rto.achieved else rto.basis
    objective = f"; objective {rto.target}: {rto.verdict}" if rto.target else ""
    return f"RTO: {measured}{objective}"
