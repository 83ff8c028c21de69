"""Run parameters: ``-p key=value`` text turned into typed values the runbook declared."""

from __future__ import annotations

import difflib
from typing import Any

from lifeboat.errors import ParameterError
from lifeboat.runbook.model import Parameter, ParameterType, Runbook
from lifeboat.runbook.source import CONTROL

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"parameter {item!r}: write NAME=VALUE")
        out[name.strip()] = value
    return out


def coerce(name: str, declared: Parameter, value: Any) -> Any:
    """A value given as text (CLI) or already typed (UI form), checked against its type."""
    kind = declared.type
    if isinstance(value, str):
        check_text(name, value)
    if isinstance(value, str) and kind is not ParameterType.string:
        value = _from_text(name, kind, value)
    if kind is ParameterType.number and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    expected = {
        ParameterType.string: str,
        ParameterType.integer: int,
        ParameterType.number: float,
        ParameterType.boolean: bool,
    }[kind]
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise ParameterError(f"parameter {name!r}: {value!r} is not of type {kind.value}")
    if declared.enum is not None and value not in declared.enum:
        choices = ", ".join(map(str, declared.enum))
        raise ParameterError(f"parameter {name!r}: {value!r} is not one of {choices}")
    return value


def check_text(name: str, text: str) -> None:
    """Refuse what the loader refuses in a runbook: control characters (a NUL, a terminal
    escape), and lone surrogates (``-p`` bytes that were not UTF-8, a JSON ``"\\ud800"``),
    which no journal, command line or message can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise ParameterError(
            f"parameter {name!r}: the value is not valid text (U+{bad:04X} at character "
            f"{exc.start + 1}; give it in UTF-8)"
        ) from None
    if control := CONTROL.search(text):
        raise ParameterError(
            f"parameter {name!r}: the value holds the control character "
            f"U+{ord(control.group()):04X} at character {control.start() + 1}"
        )


def _from_text(name: str, kind: ParameterType, text: str) -> Any:
    try:
        if kind is ParameterType.integer:
            return int(text)
        if kind is ParameterType.number:
            return float(text)
    except ValueError:
        raise ParameterError(f"parameter {name!r}: {text!r} is not of type {kind.value}") from None
    lowered = text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ParameterError(f"parameter {name!r}: {text!r} is not a boolean (true or false)")


def resolve(runbook: Runbook, given: dict[str, Any]) -> dict[str, Any]:
    """Every declared parameter with its value: given, else default; unknown or missing fail."""
    unknown = sorted(set(given) - set(runbook.parameters))
    if unknown:
        names = ", ".join(sorted(runbook.parameters)) or "none"
        close = difflib.get_close_matches(unknown[0], sorted(runbook.parameters), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ParameterError(f"unknown parameter {unknown[0]!r} ({hint}declared: {names})")
    values: dict[str, Any] = {}
    for name, declared in runbook.parameters.items():
        if name in given:
            values[name] = coerce(name, declared, given[name])
        elif declared.default is not None:
            values[name] = declared.default
        else:
            raise ParameterError(f"parameter {name!r} is required: pass -p {name}=VALUE")
    return values
