"""Turn pydantic's ``ValidationError`` into positioned diagnostics an SRE can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from lifeboat.errors import Diagnostic
from lifeboat.runbook.model import STEP_KINDS
from lifeboat.runbook.placement import Belongs, inside, named, raw_at
from lifeboat.runbook.source import Path, Source

#: "Did you mean" hints per pass: each compares a name with every candidate, so a file of
#: thousands of unknown names (generated, or hostile) would take minutes to validate.
MAX_SUGGESTIONS = 20


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


def pydantic_diagnostics(
    source: Source,
    exc: ValidationError,
    prefix: Path = (),
    *,
    known_keys: set[str] | None = None,
    skip: set[str] | None = None,
    kind_message: Any = None,
    belongs: Belongs | None = None,
) -> Iterator[Diagnostic]:
    """One diagnostic per pydantic error, at the file position of the offending value.

    ``prefix`` places a sub-document (a step's ``with:``); ``skip`` names top-level keys
    whose errors are deferred; ``kind_message(raw_step)`` explains a step with no kind;
    ``belongs(loc)`` says where an unknown key belongs, when it is known one level off.
    """
    data = source.data
    hints = 0
    for error in exc.errors(include_url=False):
        inner = tuple(error["loc"])
        if skip and inner and inner[0] in skip:
            continue
        loc = _strip_step_tag((*prefix, *inner))
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown key '{key}'{inside(data, loc[:-1])}"
            if hints < MAX_SUGGESTIONS:  # both hints cost: bounded per pass
                hints += 1
                if place := belongs(loc) if belongs is not None else None:
                    message = place
                else:
                    others = sorted(k for k in known_keys or () if k != key)
                    close = difflib.get_close_matches(key, others, n=1)
                    message += f" (did you mean '{close[0]}'?)" if close else ""
            yield source.diagnostic(loc, message, key=True)
        elif kind == "missing":
            yield source.diagnostic(loc, f"missing key '{loc[-1]}'{inside(data, loc[:-1])}")
        elif kind == "step_kind" and kind_message is not None:
            yield source.diagnostic(loc, kind_message(raw_at(data, loc)))
        elif loc and loc[-1] == "[key]":
            yield source.diagnostic(
                loc[:-1], f"invalid name '{loc[-2]}': {_message(error)}", key=True
            )
        else:
            yield source.diagnostic(loc, f"{named(data, loc)}: {_message(error)}")


def _message(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "string_pattern_mismatch" and "NAME" not in message:
        pattern = error.get("ctx", {}).get("pattern", "")
        if pattern.startswith("^[A-Za-z_]"):
            return "use letters, digits, '_' and '-', starting with a letter or '_'"
    return message
