"""The approver's side of a gate (``lifeboat approve``): find the run, wait for its form,
answer, and wait for the gate's verdict.

Everything goes through the Prefect API, so it works from any machine that reaches the
server, whichever machine runs the flow (the journal may live elsewhere). The gate says what
it asks and what it made of the answer in flow run inputs of its own (``flows.approval``):
the verdict is read from there, not guessed from the resume having gone through.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import (
    FlowPauseTimeout,
    NotPausedError,
    ObjectNotFound,
    PrefectHTTPStatusError,
)
from prefect.flow_runs import resume_flow_run

from flows.approval import extra_key, form_exists
from flows.lock import FLOW_NAME

FORM_WAIT_S = 60.0  # Prefect saves the form just after the pause: normally well under 1 s
VERDICT_WAIT_S = 120.0  # the gate looks every second (flows.approval.POLL_INTERVAL_S)
POLL_S = 0.25  # one API call a poll: spares the server, adds nothing a person notices
PAUSED_LISTED = 200  # runs waiting at a gate at once: far more than any team has


class NoGate(Exception):
    """No such run, or it is not waiting at a gate (``lifeboat approve`` exits 2)."""


class NoVerdict(Exception):
    """The answer went in, but the gate said nothing of it in time (exits 1)."""


@dataclass(frozen=True)
class Gate:
    """A run waiting at a gate whose form exists: what ``lifeboat approve`` answers."""

    run: FlowRun
    keyset: dict[str, str]  # Prefect's keys of the pause's form, answer and description
    step: str  # the gate's step id ("" from a gate that does not say)
    confirm: str  # the word the gate needs to approve ("" for none)


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    step: str
    why: str = ""  # why the answer was refused
    again: bool = False  # after a refusal: the gate asks again (its time is not up)


def find_run(client: SyncPrefectClient, given: str, journaled: Iterable[str]) -> UUID:
    """The flow run ``given`` names: a run id, or a prefix of one naming a single run.

    Prefixes match, as in ``lifeboat audit show``, the runs journaled on this machine
    (``journaled``) and, from the Prefect API, the runs waiting at a gate. A run resumed
    with ``lifeboat run --resume`` keeps its first run id in its journal: that id names
    the flow run that resumed it.
    """
    if not given.strip():
        raise NoGate("give a run id (or a prefix of one)")
    waiting = _paused(client)
    try:
        return _run_of(client, UUID(given), waiting)
    except ValueError:
        pass  # a prefix
    names = {n for run in waiting for n in _names(run)} | set(journaled)
    found = sorted(n for n in names if n.startswith(given))
    if not found:
        raise NoGate(f"no run {given!r} waits at an approval gate or has a journal here")
    if len(found) > 1:
        raise NoGate(f"{given!r} names several runs: {', '.join(found)}; give more of the id")
    return _run_of(client, UUID(found[0]), waiting)


def _names(run: FlowRun) -> set[str]:
    resumed = run.parameters.get("resume")
    return {str(run.id), *([resumed] if isinstance(resumed, str) and resumed else [])}


def _paused(client: SyncPrefectClient) -> list[FlowRun]:
    return client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
        ),
        limit=PAUSED_LISTED,
    )


def _run_of(client: SyncPrefectClient, run_id: UUID, waiting: list[FlowRun]) -> UUID:
    """``run_id`` itself when it waits at a gate, else the run that resumed it and waits."""
    if any(run.id == run_id for run in waiting):
        return run_id
    resumer = next((run.id for run in waiting if str(run_id) in _names(run)), None)
    if resumer is not None:
        return resumer
    try:
        state = client.read_flow_run(run_id).state
    except ObjectNotFound:
        raise NoGate(f"no run {run_id} on the Prefect server") from None
    raise NoGate(
        f"run {run_id} is not waiting at an approval gate "
        f"(state: {state.name if state else 'unknown'})"
    )


def wait_for_gate(client: SyncPrefectClient, run_id: UUID, timeout: float = FORM_WAIT_S) -> Gate:
    """The run's gate once its form exists; answering before that fails in Prefect ("Run
    input schema not found"), so this waits for it, ``timeout`` seconds at most."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(run_id)
        state = run.state
        if state is None or not state.is_paused():
            name = state.name if state else "unknown"
            raise NoGate(f"run {run_id} is not waiting at an approval gate (state: {name})")
        keyset = state.state_details.run_input_keyset
        if not keyset:
            raise NoGate(f"run {run_id} is paused, but not at an approval gate (no form)")
        if form_exists(client, run):
            asks = _read(client, run_id, extra_key(keyset["response"], "asks")) or {}
            return Gate(run, keyset, str(asks.get("step", "")), str(asks.get("confirm", "")))
        if time.monotonic() >= deadline:
            raise NoGate(f"run {run_id} is paused, but its approval form never appeared")
        time.sleep(POLL_S)  # paces the polling of the API


def answer(client: SyncPrefectClient, gate: Gate, run_input: dict[str, Any]) -> None:
    """Give ``run_input`` to the gate. Another answer may have come first: then this gate is
    no longer waiting (``NoGate``), or waits again with a new form, which is a new question
    (a refused answer asks again): this one was not seen, it must not be answered blind."""
    state = client.read_flow_run(gate.run.id).state
    if state is None or state.state_details.run_input_keyset != gate.keyset:
        raise NoGate(f"run {gate.run.id} is no longer waiting: it was answered first")
    try:
        resume_flow_run(gate.run.id, run_input=run_input)
    except (NotPausedError, FlowPauseTimeout):
        raise NoGate(f"run {gate.run.id} is no longer waiting: it was answered first") from None
    except RuntimeError as exc:  # Prefect refused the answer itself (e.g. the form's types)
        raise NoVerdict(str(exc)) from None


def wait_for_verdict(
    client: SyncPrefectClient, gate: Gate, timeout: float = VERDICT_WAIT_S
) -> Verdict:
    """What the gate made of the answer, once it has recorded it in the run's journal."""
    key = extra_key(gate.keyset["response"], "verdict")
    deadline = time.monotonic() + timeout
    while True:
        said = _read(client, gate.run.id, key)
        if said is not None:
            return Verdict(
                accepted=said.get("accepted") is True,
                step=str(said.get("step", "")),
                why=str(said.get("why", "")),
                again=said.get("again") is True,
            )
        state = client.read_flow_run(gate.run.id).state
        if state is not None and state.is_final() and _read(client, gate.run.id, key) is None:
            raise NoVerdict(
                f"the run ended ({state.name}) before its gate said what it made of the answer"
            )
        if time.monotonic() >= deadline:
            raise NoVerdict(
                f"the answer was given, but the gate said nothing of it within {timeout:g} s: "
                "see the run's journal (lifeboat audit show) or its log"
            )
        time.sleep(POLL_S)  # paces the polling of the API


def asks_again(client: SyncPrefectClient, gate: Gate, timeout: float = FORM_WAIT_S) -> bool:
    """After a refused answer the gate asks again, unless its time is up: True once it waits
    with its new form (an approver who answers at once then finds it), False otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(gate.run.id)
        state = run.state
        if state is None or state.is_final():
            return False
        keyset = state.state_details.run_input_keyset if state.is_paused() else None
        if keyset and keyset != gate.keyset and form_exists(client, run):
            return True
        time.sleep(POLL_S)  # paces the polling of the API
    return False


def _read(client: SyncPrefectClient, run_id: UUID, key: str) -> dict[str, Any] | None:
    try:
        value = client.read_flow_run_input(run_id, key)
    except PrefectHTTPStatusError as error:
        if error.response.status_code == 404:
            return None
        raise
    decoded = json.loads(value)
    return decoded if isinstance(decoded, dict) else None
