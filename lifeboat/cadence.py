"""Keep the promise of the next update: ``comms.updates_every`` sends one on time.

Every update tells its readers when the next one comes ("next update by 14:30"). A restore
that takes an hour, or an approval nobody answers, must not turn that promise into
silence. Once a notify step has opened the incident for some stakeholders (an
``incident.opened`` or ``incident.update`` sent to them), a timer runs: when
``updates_every`` passes with no update to those stakeholders, the run sends them an
``incident.update`` from the run's state (steps done, what failed, the revised ETA), and
the timer starts again. Any update the runbook sends itself resets it; ``incident.resolved``
or ``incident.postmortem`` stops it, and so does the end of the run.

An automatic update is journaled as ``update.sent`` (its step id ``update-<n>``, not one of
the runbook's steps): it is neither a step of the plan nor counted in its progress, and a
resumed run never replays it. Its delivery follows the same rules as a notify step's:
receipts, retries, drills reaching ``in_drills`` stakeholders only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from lifeboat.runbook.model import NotifyStep, Stage

_log = logging.getLogger(__name__)
OPENING = (Stage.incident_opened, Stage.incident_update)
CLOSING = (Stage.incident_resolved, Stage.incident_postmortem)


class Cadence:
    """A timer thread that calls ``send`` with an automatic update step when one is due."""

    def __init__(self, every: timedelta, send: Callable[[NotifyStep], None]) -> None:
        self.every = every.total_seconds()
        self._send = send
        self._wake = threading.Condition()
        self._due: float | None = None  # monotonic time of the next automatic update
        self._audience: list[str] = []
        self._stopped = False
        self.sent_count = 0
        self._thread = threading.Thread(target=self._loop, name="lifeboat-cadence", daemon=True)

    def __enter__(self) -> Cadence:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def sent(self, step: NotifyStep) -> None:
        """A notify step was delivered: restart the timer, or stop it on resolution."""
        with self._wake:
            if step.notify in CLOSING:
                self._due = None
            elif step.notify in OPENING:
                self._audience = sorted({*self._audience, *step.to})
                self._due = time.monotonic() + self.every
            self._wake.notify_all()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (self._due is None or time.monotonic() < self._due):
                    wait = None if self._due is None else self._due - time.monotonic()
                    self._wake.wait(wait)
                if self._stopped:
                    return
                self.sent_count += 1
                step = NotifyStep(
                    id=f"update-{self.sent_count}",
                    title="Automatic update (comms.updates_every)",
                    notify=Stage.incident_update,
                    to=list(self._audience),
                )
                self._due = time.monotonic() + self.every
            try:
                self._send(step)  # outside the lock: a slow channel must not block sent()
            except Exception:  # the sender records its failures; the timer goes on
                _log.exception("automatic update %s failed", step.id)
