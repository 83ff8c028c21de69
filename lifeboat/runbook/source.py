"""Read a runbook file into plain Python data plus a map from data paths to file positions.

Guards come first because the file is untrusted input: size, encoding, YAML syntax,
nesting depth and alias expansion (a "billion laughs" document is a few hundred bytes
that expand to gigabytes once aliases are copied out).

The document is built from libyaml's event stream (PyYAML's C parser) by an iterative
composer of our own, for three reasons: speed (the pure-Python round-trip parser took
25 ms a file), safety (we stop at depth 64 before libyaml has read the rest), and
semantics (YAML 1.2 core scalars, so ``no`` stays a string and ``1:30`` is not 90;
duplicate keys are reported, not silently overwritten).

Depth is ours to refuse, whatever libyaml is installed: since PyYAML 6.0.4, libyaml stops
flow nesting itself at 1,000 levels, and it does so while scanning ahead, before the parser
has handed us the events of level 65. When libyaml gives up that way, the text up to where
it stopped is composed again: nesting is then shallow enough for libyaml, and our own check
refuses the document at the same line and column, with the same words, as under 6.0.3.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from lifeboat.errors import Diagnostic, RunbookInvalid
from lifeboat.runbook import scalar_text
from lifeboat.runbook.indentation import diagnose
from lifeboat.runbook.yaml12 import ScalarError, resolve_scalar

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # a real runbook has a few hundred; an alias bomb has billions
MAX_DEPTH = 64
#: What YAML refuses raw in a file, refused here when a double-quoted escape writes it
#: (``"\0"``, ``"\e"``, ``"\x1b"``): a NUL truncates a C string (sshd drops a command
#: with one), an escape sequence rewrites the terminal that prints a plan or a diagnostic.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")

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
    problems: list[Diagnostic] = field(default_factory=list)  # e.g. duplicate keys

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

    @functools.cached_property
    def line_starts(self) -> list[int]:
        return scalar_text.line_starts(self.text)

    def inner_position(self, loc: Path, needle: str, nth: int, count: int) -> Position:
        """Where the ``nth`` of the ``count`` ``needle`` in the string at ``loc`` is written;
        the string's own position when its text in the file cannot tell."""
        if loc not in self.values:
            return self.position(loc)
        start = scalar_text.offset_of(self.line_starts, *self.values[loc])
        index = scalar_text.nth_in_scalar(self.text, start, needle, nth, count)
        if index is None:
            return self.values[loc]
        return scalar_text.position_of(self.line_starts, index)


def _fail(path: str, line: int, column: int, message: str) -> RunbookInvalid:
    return RunbookInvalid([Diagnostic(path, line, column, message)])


def _fail_at(path: str, position: Position, message: str) -> RunbookInvalid:
    return _fail(path, position[0], position[1], message)


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
    root = _compose(path, text)
    if root is None or (root.kind == "scalar" and root.value is None):
        raise _fail(
            path,
            1,
            1,
            "file is empty: a runbook is a mapping with id, version, title, owner and steps",
        )
    if root.kind != "map":
        kind = "a list" if root.kind == "seq" else f"a {type(root.value).__name__}"
        raise _fail_at(path, root.position, f"a runbook must be a mapping of keys, not {kind}")
    source = Source(path, text, None)
    source.data = _Walker(source).plain(root, ())
    return source


@dataclass(eq=False)
class _Node:
    kind: str  # "map", "seq" or "scalar"
    position: Position
    value: Any = None  # scalar value, list of nodes, or list of (key node, value node)
    plain_merge_key: bool = False  # a plain '<<' scalar: a merge key


#: The problem libyaml (PyYAML >= 6.0.4) reports when nesting exceeds its own limit.
LIBYAML_DEPTH_PROBLEM = "exceeded maximum nesting depth"


def _compose(path: str, text: str) -> _Node | None:
    """Build the node graph from libyaml events; our depth limit, whoever notices first."""
    try:
        return _compose_events(path, text)
    except RunbookInvalid as exc:
        if not isinstance(exc.__cause__, yaml.MarkedYAMLError):
            raise
        mark = exc.__cause__.problem_mark
        if exc.__cause__.problem != LIBYAML_DEPTH_PROBLEM or mark is None:
            raise
        # Shallower than libyaml's limit, deeper than ours: our check fires before the end.
        _compose_events(path, text[: _offset(text, mark.line, mark.column)])
        raise  # unreachable while MAX_DEPTH is below libyaml's limit; never hide the error


def _offset(text: str, line: int, column: int) -> int:
    """Index in ``text`` of a 0-based line and column (libyaml counts characters)."""
    start = 0
    for _ in range(line):
        start = text.index("\n", start) + 1
    return start + column


def _compose_events(path: str, text: str) -> _Node | None:
    """Build the node graph from libyaml events, iteratively (no recursion on input depth)."""
    anchors: dict[str, _Node] = {}
    stack: list[_Node] = []
    root: _Node | None = None
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
                continue
            if isinstance(event, yaml.DocumentStartEvent) and root is not None:
                raise _fail_at(path, _mark(event), "a runbook file holds one YAML document")
            node = _node_of(path, event, anchors)
            if node is None:
                continue
            if stack:
                stack[-1].value.append(node)
            elif root is None:
                root = node
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:  # stop now: libyaml has not read the rest yet
                    raise _fail_at(path, node.position, f"nested deeper than {MAX_DEPTH} levels")
                stack.append(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        # libyaml's words name its state, not the author's mistake: most often one line
        # indented like the wrong siblings, which is worth a few parses of a window to name.
        if mark and problem != LIBYAML_DEPTH_PROBLEM and (hint := diagnose(text, mark.line)):
            line, column, problem = hint.line, hint.column, hint.message
        raise _fail(path, line, column, f"YAML syntax: {problem}") from exc
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        line, column = _line_col(text, position) if isinstance(position, int) else (1, 1)
        reason = getattr(exc, "reason", None) or str(exc)
        raise _fail(path, line, column, f"YAML syntax: {reason}") from exc
    return root


def _mark(event: Any) -> Position:
    return event.start_mark.line + 1, event.start_mark.column + 1


def _node_of(path: str, event: Any, anchors: dict[str, _Node]) -> _Node | None:
    """The node an event opens or is; None for events that open nothing."""
    if isinstance(event, yaml.AliasEvent):
        if event.anchor not in anchors:
            raise _fail_at(path, _mark(event), f"undefined alias '*{event.anchor}'")
        return anchors[event.anchor]
    if isinstance(event, yaml.ScalarEvent):
        if control := CONTROL.search(event.value):
            raise _fail_at(
                path,
                _mark(event),
                f"a value holds the control character U+{ord(control.group()):04X} "
                "(an escape such as \\0 or \\e): runbooks hold printable text",
            )
        try:
            value = resolve_scalar(event.value, event.tag, plain=event.implicit[0])
        except ScalarError as exc:  # an unsupported tag, an integer too long
            raise _fail_at(path, _mark(event), str(exc)) from exc
        node = _Node(
            "scalar", _mark(event), value, plain_merge_key=event.value == "<<" and event.implicit[0]
        )
    elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
        kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
        node = _Node(kind, _mark(event), [])
    else:
        return None
    if event.anchor:
        anchors[event.anchor] = node
    return node


class _Walker:
    """Copies the node graph into plain dicts/lists, recording positions, counting nodes."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.nodes = 0

    def _count(self, node: _Node) -> None:
        """Count one more value copied out (merged mappings too: ``<<`` can bomb as well)."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail_at(
                self.source.path,
                node.position,
                f"document expands to more than {MAX_NODES} values (a YAML alias bomb?)",
            )

    def plain(self, node: _Node, loc: Path) -> Any:
        self._count(node)
        if len(loc) > MAX_DEPTH:  # aliases can nest deeper than the text does
            raise _fail_at(
                self.source.path, node.position, f"nested deeper than {MAX_DEPTH} levels"
            )
        self.source.values[loc] = node.position
        if node.kind == "map":
            return self._mapping(node, loc)
        if node.kind == "seq":
            return [self.plain(item, (*loc, i)) for i, item in enumerate(node.value)]
        return node.value

    def _mapping(self, node: _Node, loc: Path, merging: tuple[_Node, ...] = ()) -> dict[Any, Any]:
        """``merging``: the mappings whose ``<<`` led here (a merge chain, outermost first)."""
        pairs = list(zip(node.value[::2], node.value[1::2], strict=True))
        # '<<: *base' first, so that explicit keys override merged ones, positions included.
        merged: dict[Any, Any] = {}
        for key_node, value_node in pairs:
            if key_node.plain_merge_key:
                for source_node in value_node.value if value_node.kind == "seq" else [value_node]:
                    if source_node.kind != "map":
                        raise _fail_at(
                            self.source.path, source_node.position, "'<<' merges mappings only"
                        )
                    if source_node is node or source_node in merging:
                        raise _fail_at(
                            self.source.path, key_node.position, "'<<' merges a mapping into itself"
                        )
                    if len(merging) >= MAX_DEPTH:
                        raise _fail_at(
                            self.source.path,
                            key_node.position,
                            f"'<<' merges nested deeper than {MAX_DEPTH} levels",
                        )
                    self._count(source_node)
                    for key, value in self._mapping(source_node, loc, (*merging, node)).items():
                        merged.setdefault(key, value)
        out: dict[Any, Any] = {}
        for key_node, value_node in pairs:
            if key_node.plain_merge_key:
                continue
            key = key_node.value if key_node.kind == "scalar" else f"<{key_node.kind}>"
            child = (*loc, key)
            if key in out:
                first = self.source.keys[child][0]
                self.source.problems.append(
                    Diagnostic(
                        self.source.path,
                        key_node.position[0],
                        key_node.position[1],
                        f"duplicate key '{key}' (first on line {first})",
                    )
                )
                continue
            self.source.keys[child] = key_node.position
            out[key] = self.plain(value_node, child)
        return {**merged, **out}
