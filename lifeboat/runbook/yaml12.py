"""YAML 1.2 core-schema scalars, so that runbooks mean what they say.

PyYAML resolves scalars by YAML 1.1: ``no`` and ``off`` become False (a Norwegian
stakeholder's ``language: no`` turns into a boolean), ``1:30`` becomes 90, ``010`` is
octal. YAML 1.2's core schema has none of these, and neither do runbooks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_TAG = "tag:yaml.org,2002:"
#: Digits an integer may have: a port or a count needs a few; Python refuses to convert
#: decimal text beyond 4300 digits (with a ValueError of its own), and nothing needs more.
MAX_INT_DIGITS = 100


class ScalarError(ValueError):
    """A scalar the loader will not turn into a value (our message, positioned by the caller)."""


class UnsupportedTag(ScalarError):
    """An explicit tag other than the core schema's (``!!python/object`` and friends)."""


def _integer(text: str, base: int) -> int:
    digits = text.lstrip("+-")
    if len(digits) > MAX_INT_DIGITS:
        raise ScalarError(
            f"integer of {len(digits)} digits: a runbook number has at most {MAX_INT_DIGITS}"
        )
    return int(text if base == 10 else text[2:], base)


def resolve_scalar(text: str, tag: str | None, *, plain: bool) -> Any:
    """The value of one scalar: quoted text stays text; plain text is resolved."""
    if tag and tag != "!":
        return _tagged(text, tag)
    if not plain:
        return text
    if text in _BOOL:
        return _BOOL[text]
    for pattern, convert in _PLAIN:
        if pattern.match(text):
            return convert(text)
    return text


_PLAIN: list[tuple[re.Pattern[str], Callable[[str], Any]]] = [
    (_NULL, lambda _: None),
    (_INT, lambda t: _integer(t, 10)),
    (_OCT, lambda t: _integer(t, 8)),
    (_HEX, lambda t: _integer(t, 16)),
    (_FLOAT, float),
    (_INF, lambda t: float("-inf") if t.startswith("-") else float("inf")),
    (_NAN, lambda _: float("nan")),
]


def _tagged(text: str, tag: str) -> Any:
    name = tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag
    if name == "str":
        return text
    resolved = resolve_scalar(text, None, plain=True)
    expected = {"int": int, "float": float, "bool": bool, "null": type(None)}.get(name)
    if expected is None:
        raise UnsupportedTag(f"unsupported YAML tag '{tag}': runbooks use plain values")
    if expected is float and isinstance(resolved, int) and not isinstance(resolved, bool):
        return float(resolved)
    if not isinstance(resolved, expected) or (expected is int and isinstance(resolved, bool)):
        raise UnsupportedTag(f"'{text}' is not a valid !!{name}")
    return resolved
