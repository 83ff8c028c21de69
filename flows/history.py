"""Prefect's view of past runs, added to what the journals say (``lifeboat audit list``).

Journals are the source of truth; this only adds each run's flow-run state and UI link when
``PREFECT_API_URL`` is set and the API answers within a second. An unreachable or failing
API means no enrichment, never an error: ``audit list`` works offline and on a copy of the
runs directory.
"""

from __future__ import annotations

import os
from uuid import UUID

import httpx

from lifeboat.audit.history import RunRecord

HEALTH_TIMEOUT = 1.0


def enrich(records: list[RunRecord]) -> None:
    """Set ``flow_run_state`` and ``flow_run_url`` on the records Prefect knows, in place."""
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    ids: dict[UUID, RunRecord] = {}
    for record in records:
        try:
            ids[UUID(record.run_id)] = record
        except ValueError:  # not a flow run id (a test or bench run): nothing to ask
            continue
    if not api or not ids:
        return
    try:
        httpx.get(f"{api}/health", timeout=HEALTH_TIMEOUT).raise_for_status()
    except httpx.HTTPError:
        return
    try:
        _ask(ids)
    except Exception:  # enrichment is optional, whatever goes wrong
        return


def _ask(ids: dict[UUID, RunRecord]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.utilities.urls import url_for

    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(ids))), limit=len(ids)
        )
    for flow_run in flow_runs:
        record = ids.get(flow_run.id)
        if record is None:
            continue
        record.flow_run_state = flow_run.state.name if flow_run.state else None
        record.flow_run_url = url_for(flow_run, url_type="ui")
