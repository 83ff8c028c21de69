"""Sending one message to one channel through Apprise: retried, and saying why it failed.

Apprise's ``notify()`` only answers True or False; the reason is in what Apprise logs on
its ``apprise`` logger. Each try listens there, for its own thread only (channels are sent
concurrently, and one channel's error must not become another's), and keeps the last
warning or error line as the reason. A channel is tried up to ``attempts`` times, waiting
``backoff`` seconds before the second try and twice as long before each next one; a channel
that cannot be tried at all (Apprise cannot use its URL) is not retried. Channels are
independent: a failing one delays only itself.

While channels are sent, every record on the ``apprise`` logger is passed through the
caller's ``redact`` first: what Apprise logs (an unusable URL in full, say) reaches no log
handler, and no reason, with a secret of the run in clear.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import apprise

#: Channels sent at the same time, at most.
MAX_PARALLEL = 8
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def kind(url: str) -> str:
    """The channel's kind: its URL scheme (``mailto``, ``json``, ``slack``, ...)."""
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else "unknown"


@dataclass(frozen=True)
class Retry:
    attempts: int = 3
    backoff: float = 0.5

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (2, 3, ...)."""
        return float(self.backoff * 2 ** (attempt - 2))


@dataclass(frozen=True)
class Sent:
    """How one channel's delivery went: ``attempts`` counts the tries that reached Apprise."""

    ok: bool
    attempts: int
    why: str | None = None


@dataclass(frozen=True)
class Job:
    url: str  # secrets resolved: never recorded
    subject: str
    body: str


class _LastProblem(logging.Handler):
    """Keeps the last warning or error Apprise logs from one thread."""

    def __init__(self, thread: int) -> None:
        super().__init__(logging.WARNING)
        self.thread = thread
        self.line: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.line = " ".join(record.getMessage().split())


#: Where every Apprise plugin logs.
_APPRISE = logging.getLogger("apprise")


class _Redacting(logging.Filter):
    """Rewrites each record's message through ``redact`` before any handler sees it."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        return True


@contextmanager
def _redacting(redact: Callable[[str], str]) -> Iterator[None]:
    apprise_filter = _Redacting(redact)
    _APPRISE.addFilter(apprise_filter)
    try:
        yield
    finally:
        _APPRISE.removeFilter(apprise_filter)


@contextmanager
def _listening() -> Iterator[_LastProblem]:
    handler = _LastProblem(threading.get_ident())
    _APPRISE.addHandler(handler)
    try:
        yield handler
    finally:
        _APPRISE.removeHandler(handler)


def _try(job: Job) -> tuple[bool, bool, str | None]:
    """One try: (delivered, tried at all, why not)."""
    with _listening() as heard:
        sender = apprise.Apprise()
        if not sender.add(job.url):
            why = heard.line or "Apprise cannot use this URL"
            return False, False, f"unusable channel URL: {why}"
        try:
            # TEXT: the body is plain text. Apprise otherwise reads it as HTML in e-mail,
            # joining its lines and letting a '<' in an incident reference become markup.
            delivered = sender.notify(
                title=job.subject, body=job.body, body_format=apprise.NotifyFormat.TEXT
            )
        except Exception as exc:  # a plugin bug: still one failed try of one channel
            return False, True, f"{type(exc).__name__}: {exc}"
    if delivered:
        return True, True, None
    return False, True, heard.line or "the channel did not accept the message (no reason given)"


def send(job: Job, retry: Retry, sleep: Callable[[float], None] = time.sleep) -> Sent:
    """Deliver ``job``, trying up to ``retry.attempts`` times."""
    why: str | None = None
    tries = 0
    for attempt in range(1, retry.attempts + 1):
        if attempt > 1:
            sleep(retry.delay(attempt))
        delivered, tried, why = _try(job)
        tries += tried
        if delivered:
            return Sent(ok=True, attempts=tries)
        if not tried:
            break
    return Sent(ok=False, attempts=tries, why=why)


def send_all(jobs: Sequence[Job], retry: Retry, redact: Callable[[str], str]) -> list[Sent]:
    """Every job's result, in order; the channels are sent at the same time."""
    if not jobs:
        return []
    with (
        _redacting(redact),
        ThreadPoolExecutor(
            max_workers=min(len(jobs), MAX_PARALLEL), thread_name_prefix="lifeboat-notify"
        ) as pool,
    ):
        return list(pool.map(lambda job: send(job, retry), jobs))
