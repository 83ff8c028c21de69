"""The journal's hash chain, walked fast, and explained in words when it breaks.

``walk`` is the fast path: each line is hashed as stored and its ``seq`` and
``prev_sha256`` are read where the journal writes them (first and last field of the
line), with no JSON parsing. Anything unexpected, even a line merely written differently,
stops it; ``diagnose`` then parses the lines and says what happened: which entry was
modified, deleted (one, or several in a row), inserted or moved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from lifeboat.journal import GENESIS

_PREV = b'"prev_sha256":"'
_TAIL = len(_PREV) + 64 + 2  # "prev_sha256":"<64 hex>"}


@dataclass(frozen=True)
class Walked:
    hashes: list[str]  # SHA-256 of every line, in order
    bad: int | None  # first line (1-based) that does not extend the chain, if any


@dataclass(frozen=True)
class Found:
    seq: int | None  # the entry the problem is about
    line: int  # where it shows in the file (1-based)
    words: str


def walk(lines: list[bytes]) -> Walked:
    """Hash every line; check that line N is entry N and records the hash of line N-1."""
    sha256 = hashlib.sha256
    hashes: list[str] = []
    append = hashes.append
    previous = GENESIS.encode()
    for position, line in enumerate(lines, start=1):
        if (
            line[-_TAIL:-66] != _PREV
            or line[-66:-2] != previous
            or line[-2:] != b'"}'
            or not line.startswith(b'{"seq":%d,' % position)
        ):
            hashes.extend(sha256(rest).hexdigest() for rest in lines[position - 1 :])
            return Walked(hashes, position)
        digest = sha256(line).hexdigest()
        append(digest)
        previous = digest.encode()
    return Walked(hashes, None)


def _link(line: bytes) -> tuple[int, str] | None:
    """(seq, prev_sha256) of a line that is a journal entry, else None."""
    try:
        fields = json.loads(line)
        seq, prev = fields["seq"], fields["prev_sha256"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(seq, int) or not isinstance(prev, str):
        return None
    return seq, prev


def run_of(line: bytes) -> str | None:
    try:
        return str(json.loads(line)["run_id"])
    except (ValueError, TypeError, KeyError):
        return None


def diagnose(lines: list[bytes], walked: Walked) -> Found:
    """The first entry that breaks the chain, and what most likely happened to it."""
    scan = _Scan(walked.hashes, [_link(line) for line in lines])
    for position, link in enumerate(scan.links, start=1):
        if link is None:
            return Found(position, position, f"line {position}: not a journal entry (altered)")
        found = scan.misfit(position, *link)
        if found is not None:
            return found
    odd = walked.bad or len(lines)
    return Found(odd, odd, f"entry {odd}: altered (not written as the journal writes it)")


class _Scan:
    def __init__(self, hashes: list[str], links: list[tuple[int, str] | None]) -> None:
        self.hashes, self.links = hashes, links
        self.first_line: dict[int, int] = {}
        for position, link in enumerate(links, start=1):
            if link is not None:
                self.first_line.setdefault(link[0], position)

    def before(self, position: int) -> str:
        """The hash of the line before ``position`` (GENESIS for the first)."""
        return self.hashes[position - 2] if position >= 2 else GENESIS

    def misfit(self, position: int, seq: int, prev: str) -> Found | None:
        if seq == position:
            return None if prev == self.before(position) else self._unlinked(position, prev)
        following = self.links[position] if position < len(self.links) else None
        if following == (position + 1, self.hashes[position - 1]):
            return Found(position, position, f"entry {position}: modified (its seq reads {seq})")
        if seq > position:
            return self._ahead(position, seq)
        return self._repeated(position, seq, prev)

    def _unlinked(self, position: int, prev: str) -> Found:
        """Entry ``position`` is in place, but does not follow the line before it."""
        if position >= 3 and prev == self.before(position - 1):
            words = f"line {position - 1}: inserted (entry {position} follows entry "
            return Found(None, position - 1, words + f"{position - 2} in the chain)")
        if position == 1:
            return Found(1, 1, "entry 1: modified (it does not start the chain)")
        words = f"entry {position - 1}: modified (entry {position} recorded another hash)"
        return Found(position - 1, position - 1, words)

    def _ahead(self, position: int, seq: int) -> Found:
        """A later entry where entry ``position`` belongs: it moved, or it is gone."""
        later = self.first_line.get(position, 0)
        if later > position:
            words = f"entry {position}: out of order (at line {later}; line {position} "
            return Found(position, position, words + f"holds entry {seq})")
        if seq == position + 1:
            return Found(position, position, f"entry {position}: deleted")
        words = f"entries {position}-{seq - 1}: deleted ({seq - position} in a row)"
        return Found(position, position, words)

    def _repeated(self, position: int, seq: int, prev: str) -> Found:
        """An entry that already came: this line, or the one before, was inserted."""
        if position >= 2 and prev == self.before(position - 1):
            words = f"line {position - 1}: inserted (entry {seq} at line {position} follows "
            return Found(None, position - 1, words + f"entry {seq - 1} in the chain)")
        words = f"line {position}: inserted (a second entry {seq}; entry {position} expected)"
        return Found(None, position, words)
