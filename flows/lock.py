"""One live run per system: the runbook's ``lock`` as a Prefect global concurrency limit.

A live run takes the one slot of the limit ``lifeboat:<lock>`` (created with limit 1 if
missing) without waiting, and holds it until the engine is done, across approval pauses:
a paused flow run keeps its process, and that process keeps renewing the slot's lease. A
second live run of the same lock is refused at once with ``LockHeld``, naming the holder.

A drill takes no slot (a drill must never block a real failover), but does not start while
a live run holds the lock: drills wait. A live run may start while a drill runs.

The holder is found through a tag: once it holds the slot, a live run tags its own flow
run ``lifeboat-lock:<lock>`` (and ``lifeboat-runbook:<id>``, ``lifeboat-mode:live``,
``lifeboat-by:<initiator>``), so the refusal can name it and the Prefect UI filter by it. A
drill that may start is tagged with its runbook and mode (not the lock: it holds none).
Tags are what a person filters on: the lease id, which only ``--resume`` needs, is kept in
the run's flow run input ``lifeboat-lease`` instead.

If the process of a live run dies, its lease expires after ``LEASE_S`` and the server frees
the slot (a full ``prefect server`` sweeps expired leases every 15 s; an ephemeral one does
not); ``lifeboat run --resume`` of that run takes its lock over at once. An operator can
also deactivate the limit in the Prefect UI to switch the lock off.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.concurrency.context import ConcurrencyContext
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectHTTPStatusError
from prefect.runtime import flow_run

from lifeboat.context import RunContext
from lifeboat.errors import LockHeld, StepError

FLOW_NAME = "lifeboat-runbook"  # flows.run.FLOW_NAME (not imported: run.py imports this)
LEASE_S = 60.0  # Prefect's minimum; renewed every 45 s while the run lives, paused or not
FIND_HOLDER_S = 3.0  # the holder tags its run right after taking the slot: allow for that
LEASE_KEY = "lifeboat-lease"  # the flow run input that keeps a holder's lease id


def limit_name(lock: str) -> str:
    return f"lifeboat:{lock}"


def lock_tag(lock: str) -> str:
    return f"lifeboat-lock:{lock}"


@contextmanager
def hold(ctx: RunContext) -> Iterator[None]:
    """Hold the runbook's lock while the body runs (live), or check nobody holds it (drill)."""
    lock = ctx.runbook.lock_name
    name = limit_name(lock)
    me = UUID(flow_run.id)  # this flow run: a resumed run keeps the first run's ctx.run_id
    if ctx.mode != "live":
        with get_client(sync_client=True) as client:
            if _active_slots(client, name):
                holder = _holder(client, lock, me)
                raise LockHeld(
                    f"a live run of {lock} holds the lock: run {_describe(holder)}; drills wait"
                )
            _tag(client, me, ctx, None)
        yield
        return
    held = ExitStack()
    with _released_at_exit(held, ctx, name):
        with get_client(sync_client=True) as client:
            _ensure_limit(client, name)
            lease = _acquire(client, held, ctx, me)
            _tag(client, me, ctx, lease)  # on failure, leaving ``held`` releases the slot
        ctx.log(f"holding the lock {lock} (Prefect global concurrency limit {name})")
        yield  # leaving ``held`` releases the slot, also when the body raised


@contextmanager
def _released_at_exit(held: ExitStack, ctx: RunContext, name: str) -> Iterator[None]:
    """Release the slot in ``held`` when the body ends, raised or not. A release that fails
    (the Prefect server is down or restarting as the run ends) is logged, not raised: the
    steps are done and journaled, and raising would report a finished failover as a crashed
    flow. Prefect keeps the lease and tries again as the flow run ends; failing that, the
    server frees the slot when the lease expires (within ``LEASE_S``)."""
    try:
        yield
    finally:
        try:
            held.close()
        except Exception as exc:
            ctx.warn(
                f"could not release the lock {name} now ({type(exc).__name__}: {exc}): "
                "Prefect tries again as the flow run ends; failing that, the server frees "
                f"it when its lease expires, within {LEASE_S:g} s"
            )


def _acquire(client: SyncPrefectClient, held: ExitStack, ctx: RunContext, me: UUID) -> UUID | None:
    """Take the slot without waiting and return its lease id, or raise ``LockHeld``.

    One exception: ``lifeboat run --resume RUN`` continues RUN, which was killed (resuming
    asserts that already: it appends to RUN's journal). If RUN still holds the lock, its
    lease is no longer renewed but would only expire after ``LEASE_S`` (and never on an
    ephemeral Prefect server, which does not sweep expired leases), so the resumed run
    releases RUN's lease (its id is in RUN's tags) and takes the slot in its place.
    """
    lock = ctx.runbook.lock_name
    if _take(held, lock, me):
        return _lease_id()
    holder = _holder(client, lock, me)
    resumed = UUID(ctx.run_id) if UUID(ctx.run_id) != me else None
    dead = _lease_of(client, holder.id) if holder and holder.id == resumed else None
    if dead is None:
        raise _refusal(lock, holder)
    ctx.log(f"run {resumed} is resumed here: taking over its lock {lock} (lease {dead})")
    client.release_concurrency_slots_with_lease(dead)
    if _take(held, lock, me):
        return _lease_id()
    raise _refusal(lock, _holder(client, lock, me))  # another run was quicker


def _refusal(lock: str, holder: FlowRun | None) -> LockHeld:
    return LockHeld(
        f"live run of {lock} already in progress: run {_describe(holder)}; wait for it or stop it"
    )


def _take(held: ExitStack, lock: str, me: UUID) -> bool:
    """One attempt at the slot, without waiting: False when it is taken (HTTP 423)."""
    try:
        held.enter_context(
            concurrency(
                limit_name(lock),
                occupy=1,
                strict=True,  # the limit must exist: never run unguarded
                max_retries=0,  # no free slot (HTTP 423): raise at once, do not wait
                timeout_seconds=30,  # a server that does not answer is not a lock
                lease_duration=LEASE_S,
                holder=ConcurrencyLeaseHolder(type="flow_run", id=me),
                # A renewal failing once the run is under way must not kill a
                # half-done failover: Prefect logs a warning and the run goes on.
                raise_on_lease_renewal_failure=False,
            )
        )
    except Exception as exc:
        if _locked(exc):
            return False
        raise StepError(
            f"could not take the lock {limit_name(lock)}: {exc}", code="lock.error"
        ) from exc
    return True


def _lease_id() -> UUID | None:
    """The lease just granted: Prefect records it in the flow run's ConcurrencyContext."""
    context = ConcurrencyContext.get()
    return context.cleanup_lease_ids[-1] if context and context.cleanup_lease_ids else None


class _QuietWhenTaken(logging.Filter):
    """Drop Prefect's ERROR line for a slot that was taken (HTTP 423): ``hold`` reports that
    itself, as one ``LockHeld`` naming the holder. Every other acquisition failure still logs.

    Prefect's acquisition service logs "Service ... failed to process item (..., future)"
    for each failed attempt; the item's last element is the future, already failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        item = args[1] if len(args) == 2 and isinstance(args[1], tuple) else ()
        future = item[-1] if item else None
        if not isinstance(future, concurrent.futures.Future) or not future.done():
            return True
        return future.cancelled() or not _locked_http(future.exception())


logging.getLogger("prefect._internal.concurrency").addFilter(_QuietWhenTaken())


def _locked_http(exc: BaseException | None) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 423


def _locked(exc: BaseException) -> bool:
    """True when acquiring failed because the slot is taken (HTTP 423), not for other reasons."""
    return _locked_http(exc.__cause__)


def _ensure_limit(client: SyncPrefectClient, name: str) -> None:
    try:
        client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        with suppress(ObjectAlreadyExists):  # another run created it a moment ago (409)
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


def _active_slots(client: SyncPrefectClient, name: str) -> int:
    try:
        limit = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return 0
    return limit.active_slots if limit.active else 0


def _tag(client: SyncPrefectClient, run_id: UUID, ctx: RunContext, lease: UUID | None) -> None:
    """Tag a run that goes ahead with its runbook and mode, and a live one with its lock
    (which ``_holder`` looks for); keep the lease, for ``--resume``, out of the tags."""
    current = client.read_flow_run(run_id).tags
    ours = [f"lifeboat-runbook:{ctx.runbook.id}", f"lifeboat-mode:{ctx.mode}"]
    if ctx.mode == "live":
        ours += [lock_tag(ctx.runbook.lock_name), f"lifeboat-by:{ctx.initiator}"]
    client.update_flow_run(run_id, tags=[*current, *(t for t in ours if t not in current)])
    if lease is not None:
        client.create_flow_run_input(run_id, LEASE_KEY, json.dumps(str(lease)))


def _lease_of(client: SyncPrefectClient, run_id: UUID) -> UUID | None:
    """The lease a live run took (``_tag``), None when it recorded none."""
    try:
        return UUID(json.loads(client.read_flow_run_input(run_id, LEASE_KEY)))
    except PrefectHTTPStatusError as error:
        if error.response.status_code == 404:
            return None
        raise


def _holder(client: SyncPrefectClient, lock: str, me: UUID) -> FlowRun | None:
    """The live run holding ``lock``: the newest running or paused run tagged with it."""
    deadline = time.monotonic() + FIND_HOLDER_S
    while True:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(not_any_=[me]),
                tags=FlowRunFilterTags(all_=[lock_tag(lock)]),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PAUSED])
                ),
            ),
            # newest first: a run whose process was killed stays RUNNING in Prefect, but
            # its lease expired before any later run could take the slot
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        if runs or time.monotonic() >= deadline:
            return runs[0] if runs else None
        time.sleep(0.2)


def _describe(run: FlowRun | None) -> str:
    """'<id> (<runbook> started by <who>)', from the tags the holder set."""
    if run is None:
        return "unknown (no running or paused run carries the lock's tag)"

    runbook = _tagged(run, "lifeboat-runbook:") or "runbook unknown"
    who = _tagged(run, "lifeboat-by:")
    return f"{run.id} ({runbook}{f' started by {who}' if who else ''})"


def _tagged(run: FlowRun, prefix: str) -> str | None:
    return next((t.removeprefix(prefix) for t in run.tags if t.startswith(prefix)), None)
