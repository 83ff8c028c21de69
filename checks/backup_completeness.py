"""Prove each backup copy holds every object of the primary, with the same content.

A copy that exists, is fresh and is far away can still be useless: a sync that stopped
half-way, a lifecycle rule that expired last month's dumps, a truncated upload. This check
compares every other copy with the primary, object by object. Missing and mismatched objects
fail it. Extra objects (dumps the primary already pruned) and objects whose equality cannot
be proven (see ``completeness``) are reported but never fail it: a normal retention skew or
a copy made by another upload tool must not page anyone.

100,000 objects must not mean 100,000 objects in memory. Listings arrive sorted (S3 sorts
keys in UTF-8 binary order, which is also Python's code-point order of ``str``), so one
thread per listing feeds a bounded queue and a merger walks two queues side by side. Memory
is a page per lister, the queues and the samples, whatever the object count.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from checks.backup import BackupParams
from lifeboat import listing, storage
from lifeboat.errors import CheckFailed
from lifeboat.listing import put_unless_stopped
from lifeboat.registry import StepContext, StepOutput, registry, runbook_of
from lifeboat.storage import ObjectHead, ObjectInfo, S3Location

_QUEUE = 2000  # listed objects buffered per merger input: two pages
# HeadObject/GetObject calls in flight (storage.client() pools 32 connections). 16, as rclone
# check --download (8 checkers, each reading both sides): against S3 a request is mostly
# waiting, so concurrency is throughput. Against moto on 2 CPUs, 6 and 16 measure the same.
_WORKERS = 16
_WINDOW = 4 * _WORKERS  # undecided pairs a merger lets wait before it stops to collect them
_END = object()
_KINDS = ("missing", "mismatched", "extra", "unverifiable")


class CompletenessParams(BackupParams):
    samples: int = Field(10, ge=0, description="Example keys shown per copy and kind")
    deep: bool = Field(False, description="Download and hash objects no checksum can compare")
    content: bool = Field(
        False,
        description="Download and hash every object of every copy (a full read, like rclone "
        "check --download)",
    )


@dataclass(frozen=True)
class Verdict:
    """How one pair compares: "ok" with the proof, or "mismatched"/"unverifiable" and why."""

    kind: str
    detail: str  # "etag", "checksum" or "sha256" when ok, else the reason


@dataclass
class Tally:
    """One copy against the primary: counts, and the first ``limit`` keys of each kind."""

    uri: str
    limit: int
    objects: int = 0  # of the primary
    bytes: int = 0  # of the primary
    verified: Counter[str] = field(default_factory=Counter)  # by proof
    counts: Counter[str] = field(default_factory=Counter)  # by kind
    samples: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in _KINDS})

    def note(self, kind: str, key: str, reason: str | None = None) -> None:
        self.counts[kind] += 1
        if len(self.samples[kind]) < self.limit:
            self.samples[kind].append({"key": key, "reason": reason} if reason else key)

    def record(self, key: str, verdict: Verdict) -> None:
        if verdict.kind == "ok":
            self.verified[verdict.detail] += 1
        else:
            self.note(verdict.kind, key, verdict.detail)

    @property
    def complete(self) -> bool:
        return not (self.counts["missing"] or self.counts["mismatched"])

    def evidence(self) -> dict[str, Any]:
        row: dict[str, Any] = {"uri": self.uri, "objects": self.objects, "bytes": self.bytes}
        row |= {k: {"count": self.counts[k], "samples": self.samples[k]} for k in _KINDS}
        return row | {"verified": dict(self.verified), "complete": self.complete}

    def problems(self) -> str:
        said = []
        for kind in ("missing", "mismatched"):
            if self.counts[kind]:
                first = self.samples[kind][:1]
                key = [s if isinstance(s, str) else s["key"] for s in first]
                said.append(f"{self.counts[kind]:,} {kind}" + "".join(f" (e.g. {k})" for k in key))
        return f"{self.uri}: {', '.join(said)}"


@registry.check("backup.completeness")
def completeness(params: CompletenessParams, ctx: StepContext) -> StepOutput:
    """Require every other copy to hold each object of the primary, same size and content.

    Fails on missing or mismatched objects only. Reported, never failures: objects extra in
    a copy, and "unverifiable" ones (same size, yet neither a common checksum nor MD5 ETags:
    multipart uploads of other part sizes, SSE-KMS), which ``deep`` downloads and hashes.
    ``content`` downloads and hashes every pair of equal size: a full read of every copy.
    """
    runbook = runbook_of(ctx)
    backup = runbook.backups[params.backup]
    home = runbook.hosts[backup.protects].site  # the primary is the first copy there
    first = next((i for i, copy in enumerate(backup.copies) if copy.site == home), 0)
    primary = S3Location.parse(backup.copies[first].uri)
    others = [S3Location.parse(c.uri) for i, c in enumerate(backup.copies) if i != first]
    started = time.monotonic()
    tallies = compare(
        primary, others, samples=params.samples, deep=params.deep, content=params.content
    )
    objects, size = (tallies[0].objects, tallies[0].bytes) if tallies else (0, 0)
    seconds = round(time.monotonic() - started, 3)
    evidence = {"backup": params.backup, "primary": str(primary), "deep": params.deep}
    evidence["content"] = params.content
    evidence |= {"objects": objects, "bytes": size, "seconds": seconds}
    evidence["copies"] = [t.evidence() for t in tallies]
    for tally in tallies:
        counts = ", ".join(f"{tally.counts[k]:,} {k}" for k in _KINDS if tally.counts[k])
        ctx.log(f"{tally.uri}: {tally.objects:,} objects compared; {counts or 'complete'}")
    broken = [t.problems() for t in tallies if not t.complete]
    if broken:
        corrupted = any(t.counts["mismatched"] for t in tallies)
        code = "data.corrupted" if corrupted else "data.missing"
        raise CheckFailed("; ".join(broken), target=params.backup, evidence=evidence, code=code)
    if not tallies:
        summary = f"{params.backup}: a single copy ({primary}), nothing to compare it with"
        return StepOutput(summary=summary, evidence=evidence)
    copies = f"{len(tallies)} cop{'ies' if len(tallies) > 1 else 'y'}"
    total = f"{objects:,} object{'s' * (objects != 1)}, {human_bytes(size)}"
    summary = f"{params.backup}: {copies} complete against {primary} ({total})"
    for kind in ("unverifiable", "extra"):
        if count := sum(t.counts[kind] for t in tallies):
            summary += f"; {count:,} {kind}"
    return StepOutput(summary=summary, evidence=evidence)


def compare(
    primary: S3Location,
    copies: list[S3Location],
    *,
    samples: int = 10,
    deep: bool = False,
    content: bool = False,
) -> list[Tally]:
    """Compare each copy with the primary; every listing is read once, all concurrently.

    With ``content``, listings only pair objects and rule out other sizes: every pair of
    equal size is downloaded on both sides and decided by SHA-256, whatever ETags say.

    The primary's lister feeds one queue per copy, so the slowest copy paces it (back
    pressure) instead of a queue growing. The first error stops every thread and is raised.
    """
    if not copies:
        return []
    storage.client()  # built here, once: listers starting together would each build one
    stop = threading.Event()
    tallies = [Tally(str(copy), samples) for copy in copies]
    fans: list[queue.Queue[Any]] = [queue.Queue(_QUEUE) for _ in copies]
    with (
        ThreadPoolExecutor(1 + 2 * len(copies), thread_name_prefix="completeness") as threads,
        ThreadPoolExecutor(_WORKERS, thread_name_prefix="completeness-object") as pool,
    ):
        jobs = [threads.submit(_pump, listing.sorted_objects(primary), fans, stop)]
        for copy, fan, tally in zip(copies, fans, tallies, strict=True):
            feed: queue.Queue[Any] = queue.Queue(_QUEUE)
            jobs.append(threads.submit(_pump, listing.sorted_objects(copy), [feed], stop))

            def settle(a: ObjectInfo, b: ObjectInfo, copy: S3Location = copy) -> Verdict:
                if content:
                    return _by_content(primary, copy, a.key)
                return _settle(primary, copy, a, b, deep=deep)

            mine, theirs = _drain(fan, stop, str(primary)), _drain(feed, stop, str(copy))
            merge = functools.partial(_merge, content=content)
            jobs.append(threads.submit(merge, mine, theirs, tally, settle, pool))
        done, _ = wait(jobs, return_when=FIRST_EXCEPTION)
        for job in done:
            if (error := job.exception()) is not None:
                stop.set()  # unblocks the other threads; the executors then wait for them
                pool.shutdown(wait=False, cancel_futures=True)  # no more downloads either
                raise error
    return tallies


def _pump(
    objects: Generator[ObjectInfo], queues: list[queue.Queue[Any]], stop: threading.Event
) -> None:
    """Lister thread: a listing into queues, then _END, or the error that ended it."""
    with contextlib.closing(objects):  # closing a sorted listing stops its lanes
        try:
            for item in objects:
                if not all(put_unless_stopped(q, item, stop) for q in queues):
                    return  # stopped: nobody reads any more
        except Exception as exc:
            for q in queues:
                put_unless_stopped(q, exc, stop)
            raise
    for q in queues:
        put_unless_stopped(q, _END, stop)


def _drain(q: queue.Queue[Any], stop: threading.Event, uri: str) -> Iterator[ObjectInfo]:
    """A queue as a listing, checked to be strictly sorted: the merge is wrong otherwise."""
    previous: str | None = None
    while not stop.is_set():
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is _END:
            return
        if isinstance(item, Exception):
            raise item
        if previous is not None and item.key <= previous:
            order = "listed twice" if item.key == previous else "out of order"
            raise storage.StorageError(
                f"cannot check: the store listed {item.key!r} after {previous!r} "
                f"({order}: the store is at fault, not the backup)",
                target=uri,
                code="access.failed",
            )
        previous = item.key
        yield item


def _merge(
    mine: Iterator[ObjectInfo],
    theirs: Iterator[ObjectInfo],
    tally: Tally,
    settle: Callable[[ObjectInfo, ObjectInfo], Verdict],
    pool: ThreadPoolExecutor,
    *,
    content: bool = False,
) -> None:
    """Walk two sorted listings side by side; pairs size and ETag cannot decide go to ``pool``.

    Verdicts are recorded in key order (samples are the first keys), and at most _WINDOW
    pairs wait: memory stays bounded even when every pair needs a request.
    """
    pending: deque[tuple[str, Future[Verdict] | Verdict]] = deque()
    a, b = next(mine, None), next(theirs, None)
    while a is not None:
        if b is not None and b.key < a.key:
            tally.note("extra", b.key)
            b = next(theirs, None)
            continue
        tally.objects += 1
        tally.bytes += a.size
        if b is None or a.key < b.key:
            tally.note("missing", a.key)
        else:
            pending.append((a.key, _cheap(a, b, content) or pool.submit(settle, a, b)))
            b = next(theirs, None)
        a = next(mine, None)
        while pending and (len(pending) > _WINDOW or _ready(pending[0][1])):
            _collect(tally, *pending.popleft())
    while b is not None:
        tally.note("extra", b.key)
        b = next(theirs, None)
    while pending:
        _collect(tally, *pending.popleft())


def _ready(outcome: Future[Verdict] | Verdict) -> bool:
    return isinstance(outcome, Verdict) or outcome.done()


def _collect(tally: Tally, key: str, outcome: Future[Verdict] | Verdict) -> None:
    tally.record(key, outcome if isinstance(outcome, Verdict) else outcome.result())


def _cheap(a: ObjectInfo, b: ObjectInfo, content: bool = False) -> Verdict | None:
    """Decide from the listings alone when possible (never a match if ``content``)."""
    if a.size != b.size:
        return Verdict("mismatched", f"size {a.size:,} ≠ {b.size:,} bytes")
    if content:
        return None
    if a.etag and a.etag == b.etag:  # an MD5, or an MD5 of part MD5s: equal means same bytes
        return Verdict("ok", "etag")
    return None


def _settle(
    primary: S3Location, copy: S3Location, a: ObjectInfo, b: ObjectInfo, *, deep: bool
) -> Verdict:
    """Same size, ETags differ or are multipart: ask for checksums, else hash if ``deep``."""
    reason = "multipart ETag, no common checksum"
    common = a.checksum_algorithm is not None and a.checksum_algorithm == b.checksum_algorithm
    if common or ("-" not in a.etag and "-" not in b.etag):  # a HeadObject can tell
        mine, theirs = storage.head(primary, a.key), storage.head(copy, b.key)
        verdict = _by_head(mine, theirs)
        if verdict is not None:
            return verdict
        reason = _why(mine, theirs)
    if not deep:
        return Verdict("unverifiable", reason)
    return _by_content(primary, copy, a.key)


def _by_content(primary: S3Location, copy: S3Location, key: str) -> Verdict:
    """Read both objects in full: equal SHA-256s prove the same bytes, whatever the ETags."""
    same = storage.sha256(primary, key) == storage.sha256(copy, key)
    return Verdict("ok", "sha256") if same else Verdict("mismatched", "content differs (sha256)")


def _by_head(mine: ObjectHead, theirs: ObjectHead) -> Verdict | None:
    """The strongest checksum both keep decides (a composite one only when equal), else
    MD5 ETags, else nothing can."""
    for algorithm in storage.CHECKSUM_ALGORITHMS:
        one, other = mine.checksums.get(algorithm), theirs.checksums.get(algorithm)
        if one is None or other is None:
            continue
        if one == other:
            return Verdict("ok", "checksum")
        if _whole(mine, one) and _whole(theirs, other):
            return Verdict("mismatched", f"{algorithm} differs")
    if not (mine.etag_is_md5 and theirs.etag_is_md5):
        return None
    same = mine.etag == theirs.etag
    return Verdict("ok", "etag") if same else Verdict("mismatched", "MD5 (ETag) differs")


def _whole(head: ObjectHead, checksum: str) -> bool:
    """Whether a checksum is of the content itself, not of the parts of a multipart upload.

    A multipart object's checksum is per part (COMPOSITE) unless the store says FULL_OBJECT.
    S3 marks composite values with "-N"; moto does not, hence the ETag test.
    """
    if "-" in checksum or head.checksum_type == "COMPOSITE":
        return False
    return "-" not in head.etag or head.checksum_type == "FULL_OBJECT"


def _why(mine: ObjectHead, theirs: ObjectHead) -> str:
    """Why neither checksums nor ETags settle a pair: the "unverifiable" reason."""
    shared = set(mine.checksums) & set(theirs.checksums)
    checksums = "composite checksums of other part sizes" if shared else "no common checksum"
    if "-" in mine.etag + theirs.etag:
        return f"multipart ETag, {checksums}"
    encryption = theirs.encryption if mine.etag_is_md5 else mine.encryption
    return f"ETag is not an MD5 ({encryption}), {checksums}"


def human_bytes(size: float) -> str:
    """Decimal units with one decimal, as in "5.6 MB": a summary is read, not parsed."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:,.0f} B" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"
