"""Read a runbook file into plain Python data plus a map from data paths to file positions.

Guards come first because the file is untrusted input: size, encoding, YAML syntax,
nesting depth and alias expansion (a "billion laughs" document is a few hundred bytes
that expand to gigabytes once aliases are copied out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from lifeboat.errors import Diagnostic, RunbookInvalid

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # a real runbook has a few hundred; an alias bomb has billions
MAX_DEPTH = 64

Path = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line and column


@dataclass
class Source:
    """A parsed YAML document and where each of its values and keys stands in the file."""

    path: str
    text: str
    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)

    def position(self, loc: Path, *, key: bool = False) -> Position:
        """Position of the deepest known prefix of ``loc`` (a missing key has none of its own)."""
        for end in range(len(loc), -1, -1):
            prefix = loc[:end]
            if key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def diagnostic(self, loc: Path, message: str, *, key: bool = False) -> Diagnostic:
        line, column = self.position(loc, key=key)
        return Diagnostic(self.path, line, column, message)


def _fail(path: str, line: int, column: int, message: str) -> RunbookInvalid:
    return RunbookInvalid([Diagnostic(path, line, column, message)])


def _line_col(text: str, index: int) -> Position:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def decode(path: str, raw: bytes) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(path, 1, 1, f"file is {len(raw)} bytes; a runbook may be at most 1 MiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8", "replace")
        line, column = _line_col(before, len(before))
        raise _fail(path, line, column, f"file is not UTF-8 (byte 0x{raw[exc.start]:02x})") from exc


def parse(path: str, raw: bytes) -> Source:
    """Bytes of a runbook file -> ``Source``; raises ``RunbookInvalid`` on unreadable input."""
    text = decode(path, raw)
    yaml = YAML(typ="rt", pure=True)
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise _fail(path, line, column, f"YAML syntax: {problem}") from exc
    except ReaderError as exc:
        line, column = _line_col(text, exc.position)
        raise _fail(path, line, column, f"YAML syntax: {exc.reason}") from exc
    except YAMLError as exc:
        raise _fail(path, 1, 1, f"YAML syntax: {exc}") from exc
    except RecursionError as exc:
        raise _fail(path, 1, 1, f"YAML is nested too deeply (limit {MAX_DEPTH})") from exc
    if document is None:
        raise _fail(path, 1, 1, "file is empty: a runbook is a mapping with id, version, steps")
    if not isinstance(document, CommentedMap):
        kind = "a list" if isinstance(document, CommentedSeq) else f"a {type(document).__name__}"
        raise _fail(path, 1, 1, f"a runbook must be a mapping of keys, not {kind}")
    source = Source(path, text, None)
    source.data = _Walker(source).plain(document, (), (1, 1))
    return source


class _Walker:
    """Copies ruamel's round-trip nodes into plain dicts/lists, recording positions."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.nodes = 0

    def plain(self, node: Any, loc: Path, position: Position) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(
                self.source.path,
                *position,
                f"document expands to more than {MAX_NODES} values (a YAML alias bomb?)",
            )
        if len(loc) > MAX_DEPTH:
            raise _fail(self.source.path, *position, f"nested deeper than {MAX_DEPTH} levels")
        self.source.values[loc] = position
        if isinstance(node, CommentedMap):
            return self._mapping(node, loc)
        if isinstance(node, CommentedSeq):
            return [
                self.plain(item, (*loc, i), _pos(node.lc.item(i), position))
                for i, item in enumerate(node)
            ]
        return _scalar(node)

    def _mapping(self, node: CommentedMap, loc: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in node.items():
            plain_key = (
                _scalar(key) if not isinstance(key, CommentedMap | CommentedSeq) else str(key)
            )
            child = (*loc, plain_key)
            start = self.source.values[loc]
            self.source.keys[child] = _pos(_safe(node.lc.key, key), start)
            out[plain_key] = self.plain(value, child, _pos(_safe(node.lc.value, key), start))
        return out


def _safe(getter: Any, key: Any) -> Any:
    try:
        return getter(key)
    except (KeyError, TypeError, AttributeError):  # merged keys (<<: *x) have no own position
        return None


def _pos(lc: Any, fallback: Position) -> Position:
    if not lc:
        return fallback
    return lc[0] + 1, lc[1] + 1


def _scalar(node: Any) -> Any:
    """ruamel's ScalarFloat, ScalarInt, ... back to built-in types; strings stay strings."""
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node
