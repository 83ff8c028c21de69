"""``wait``: let time pass (a service settling, DNS propagating) as a recorded step."""

from __future__ import annotations

import threading
import time

from pydantic import Field

from lifeboat.registry import Params, StepContext, StepOutput, registry
from lifeboat.runbook.types import Duration


class WaitParams(Params):
    duration: Duration = Field(description="How long to wait, e.g. 30s")


@registry.check("wait")
def wait(params: WaitParams, ctx: StepContext) -> StepOutput:
    """Wait for a fixed duration."""
    seconds = params.duration.total_seconds()
    started = time.perf_counter()
    threading.Event().wait(seconds)
    waited = time.perf_counter() - started
    return StepOutput(summary=f"waited {waited:.1f} s", evidence={"seconds": round(waited, 3)})
