"""One sorted listing of a large S3 prefix, read several "folders" at a time.

ListObjectsV2 returns 1,000 keys a page and each page needs the previous one's token: one
listing of 100,000 keys is 100 round trips in a row. Keys under a folder (a common prefix
for the delimiter "/") form one contiguous run in key order, so a first listing with the
delimiter names the folders, and each folder is listed by a lane of its own, ``lanes`` at a
time, ahead of the reader. The runs are then read in order: the result is the same sorted
stream as one plain listing, and memory is one queue per lane whatever the object count.

This is how ``rclone check`` walks a bucket (``--checkers 8``). It also spares the server
work: a store that filters a prefix by scanning its whole key space (moto does) sorts a
folder's keys per page instead of the bucket's.

A flat prefix (no folders) is one lane, exactly the plain listing. A prefix holding a single
folder and nothing else is descended into, so ``s3://bucket/`` over ``db/<n>/...`` splits
on the ``<n>``.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Generator
from typing import Any

from lifeboat import storage
from lifeboat.storage import ObjectInfo, S3Location

LANES = 8  # folders listed at once, as rclone's default --checkers
LANE_QUEUE = 1000  # listed objects a lane holds ahead of the reader: one page
_DESCEND = 4  # lone folders descended into before splitting gives up
_END = object()


def sorted_objects(
    location: S3Location, region: str | None = None, *, lanes: int = LANES
) -> Generator[ObjectInfo]:
    """Every object under the prefix, in key order, ``lanes`` folders listed at once.

    Close the iterator (or let it be collected) to stop every lane early; a lane's error
    is raised here, in the reader's thread, when its run is reached.
    """
    stop = threading.Event()
    ahead: deque[ObjectInfo | _Lane] = deque()  # read from the listing, not yet yielded
    running = 0  # lanes in ``ahead``
    entries = _entries(location, region)
    try:
        while True:
            # Read ahead until ``lanes`` lanes run, or a page's worth of objects waits.
            while running < lanes and len(ahead) < LANE_QUEUE:
                if (entry := next(entries, None)) is None:
                    break
                if isinstance(entry, str):
                    ahead.append(_Lane(location, entry, region, stop))
                    running += 1
                else:
                    ahead.append(entry)
            if not ahead:
                return
            first = ahead.popleft()
            if isinstance(first, ObjectInfo):
                yield first
            else:
                running -= 1
                yield from first.drain()
    finally:
        stop.set()


def _entries(location: S3Location, region: str | None) -> Generator[ObjectInfo | str]:
    """The objects and folders (relative, ending in "/") directly under the prefix, in key
    order; a lone folder is replaced by its own entries."""
    under = ""
    for _ in range(_DESCEND):
        level = storage.list_level(location, region, under=under)
        head = list(itertools.islice(level, 2))
        if len(head) == 1 and isinstance(head[0], str):
            under = head[0]  # a lone folder: split inside it instead
            continue
        yield from head
        yield from level
        return
    yield under


def put_unless_stopped(q: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    """Wait while the queue is full, but give up (False) once ``stop`` is set."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Lane:
    """A thread listing one folder into a bounded queue, until read or stopped."""

    def __init__(
        self, location: S3Location, under: str, region: str | None, stop: threading.Event
    ) -> None:
        self.items: queue.Queue[object] = queue.Queue(LANE_QUEUE)
        self.stop = stop
        self.thread = threading.Thread(
            target=self._list, args=(location, under, region), name="listing", daemon=True
        )
        self.thread.start()

    def _list(self, location: S3Location, under: str, region: str | None) -> None:
        try:
            for item in storage.list_objects(location, region, under=under):
                if not self._put(item):
                    return
        except Exception as exc:  # raised in the reader's thread by drain()
            self._put(exc)
            return
        self._put(_END)

    def _put(self, item: object) -> bool:
        return put_unless_stopped(self.items, item, self.stop)

    def drain(self) -> Generator[ObjectInfo]:
        while True:
            item = self.items.get()
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, ObjectInfo)
            yield item
