"""Turn pydantic's ``ValidationError`` into positioned diagnostics an SRE can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from lifeboat.errors import Diagnostic
from lifeboat.runbook.model import STEP_KINDS
from lifeboat.runbook.source import Path, Source

#: "Did you mean" hints per pass: each compares a name with every candidate, so a file of
#: thousands of unknown names (generated, or hostile) would take minutes to validate.
MAX_SUGGESTIONS = 20


def dotted(loc: Path) -> str:
    """``('steps', 2, 'with', 'url')`` -> ``steps[2].with.url``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def model_keys(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every key (alias first) a model and the models inside it accept, for suggestions."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        keys.add(info.alias or name)
        for inner in _models_in(info.annotation):
            keys |= model_keys(inner, seen)
    return keys


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _models_in(arg)
    for meta in getattr(annotation, "__metadata__", ()) or ():
        yield from _models_in(meta)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        yield from _models_in(origin)


def _strip_step_tag(loc: Path) -> Path:
    """A discriminated union puts the step kind into the location; the file has no such level."""
    if len(loc) >= 3 and loc[0] == "steps" and isinstance(loc[1], int) and loc[2] in STEP_KINDS:
        return (*loc[:2], *loc[3:])
    return loc


def _raw_at(data: Any, loc: Path) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def pydantic_diagnostics(
    source: Source,
    exc: ValidationError,
    prefix: Path = (),
    *,
    known_keys: set[str] | None = None,
    skip: set[str] | None = None,
    kind_message: Any = None,
) -> Iterator[Diagnostic]:
    """One diagnostic per pydantic error, at the file position of the offending value.

    ``prefix`` places a sub-document (a step's ``with:``); ``skip`` names top-level keys
    whose errors are deferred; ``kind_message(raw_step)`` explains a step with no kind.
    """
    hints = 0
    for error in exc.errors(include_url=False):
        inner = tuple(error["loc"])
        if skip and inner and inner[0] in skip:
            continue
        loc = _strip_step_tag((*prefix, *inner))
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            hint = []
            if hints < MAX_SUGGESTIONS:
                hints += 1
                hint = difflib.get_close_matches(key, sorted(known_keys or ()), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            where = f" in {dotted(loc[:-1])}" if loc[:-1] else ""
            yield source.diagnostic(loc, f"unknown key '{key}'{where}{suggestion}", key=True)
        elif kind == "missing":
            where = f" in {dotted(loc[:-1])}" if loc[:-1] else ""
            yield source.diagnostic(loc, f"missing key '{loc[-1]}'{where}")
        elif kind == "step_kind" and kind_message is not None:
            yield source.diagnostic(loc, kind_message(_raw_at(source.data, loc)))
        elif loc and loc[-1] == "[key]":
            yield source.diagnostic(
                loc[:-1], f"invalid name '{loc[-2]}': {_message(error)}", key=True
            )
        else:
            yield source.diagnostic(loc, f"{dotted(loc)}: {_message(error)}")


def _message(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "string_pattern_mismatch" and "NAME" not in message:
        pattern = error.get("ctx", {}).get("pattern", "")
        if pattern.startswith("^[A-Za-z_]"):
            return "use letters, digits, '_' and '-', starting with a letter or '_'"
    return message
