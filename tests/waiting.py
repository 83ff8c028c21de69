"""Wait for the thing a test needs to see, never for a length of time.

A test that sleeps 0.2 s "because the form is created right after the pause" bets on the
machine's speed: on a busy CI box the bet is lost and the red run teaches nobody anything.
``wait_until`` polls for the observable fact instead (the form exists, the file appears, the
mail arrived) and, when it never comes, fails naming that fact and how long it waited.

The deadline is a guard against a hang, not a speed target: give it ten times what the
thing normally takes, or more (speed targets live in ``bench/``). The poll interval is the
only sleep here; it paces the polling and bounds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: The usual deadline: far above anything that is merely slow, short enough to end a hang.
DEADLINE = 30.0


class NeverHappened(AssertionError):
    """What a test waited for did not happen before its deadline."""


def wait_until(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float = DEADLINE,
    every: float = 0.02,
) -> T:
    """Poll ``check`` until it returns something truthy, and return it.

    ``what`` names the awaited fact in the words of the test ("the approval form exists");
    after ``timeout`` seconds the test fails with it.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise NeverHappened(f"never happened within {timeout:g} s: {what}")
        time.sleep(every)  # paces the polling; not a synchronisation


def stays_false(check: Callable[[], object], what: str, *, within: float) -> None:
    """Fail if ``check`` becomes truthy during ``within`` seconds.

    For the absence of an event (no second message, no extra retry): no observable fact
    marks "it will never come", so the test watches for a bounded time and says so.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            raise AssertionError(f"happened, and should not have: {what}")
        time.sleep(0.02)  # paces the watching; the window itself is the thing under test
