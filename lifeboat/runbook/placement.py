"""Where a misplaced key belongs, and how to name a place in the file (error path only).

A key indented one level too shallow or too deep is valid YAML, so the model sees an
unknown key; "did you mean 'confirm'?" for ``confirm`` helps nobody. When a block beside
the key (``approval:``, ``with:``) accepts it, or the mapping one level up does, the
message says where it belongs. Steps are named as ``lifeboat plan`` numbers them, from 1,
with their id: "step 7 'restore'", not ``steps[6]``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

from lifeboat.registry import StepRegistry
from lifeboat.runbook.model import Runbook, step_kind
from lifeboat.runbook.source import Path

#: A step id longer than this is cut in messages (a generated file can have huge ones).
MAX_ID_CHARS = 40

Belongs = Callable[[Path], str | None]


def dotted(loc: Path) -> str:
    """``('sites', 'par-1', 'lat')`` -> ``sites.par-1.lat``; list indexes as ``[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_step(loc: Path) -> bool:
    return len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int)


def step_name(data: Any, index: int) -> str:
    """``step 7 'restore'``: counted from 1, as ``lifeboat plan`` numbers steps."""
    steps = data.get("steps") if isinstance(data, dict) else None
    step = steps[index] if isinstance(steps, list) and 0 <= index < len(steps) else None
    step_id = step.get("id") if isinstance(step, dict) else None
    if not isinstance(step_id, str) or not step_id:
        return f"step {index + 1}"
    shown = step_id if len(step_id) <= MAX_ID_CHARS else step_id[:MAX_ID_CHARS] + "..."
    return f"step {index + 1} '{shown}'"


def named(data: Any, loc: Path) -> str:
    """A value's place: ``step 2 'probe' with.port``, ``drill.schedule``."""
    if _is_step(loc):
        rest = dotted(loc[2:])
        return step_name(data, int(loc[1])) + (f" {rest}" if rest else "")
    return dotted(loc)


def inside(data: Any, loc: Path) -> str:
    """Where keys are: `` in step 2 'probe'``, `` in 'with' of step 1 'a'``, `` in drill``."""
    if _is_step(loc):
        rest = dotted(loc[2:])
        step = step_name(data, int(loc[1]))
        return f" in '{rest}' of {step}" if rest else f" in {step}"
    return f" in {dotted(loc)}" if loc else ""


def raw_at(data: Any, loc: Path) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _unwrap(annotation: Any, raw: Any) -> Any:
    """The type a value of ``annotation`` has: optional and annotated types opened, the
    step union resolved by the raw step's kind."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
            kind = step_kind(raw)
            tagged = [
                get_args(a)[0]
                for a in options
                if get_origin(a) is Annotated
                and any(isinstance(m, Tag) and m.tag == kind for m in get_args(a)[1:])
            ]
            return tagged[0] if tagged else None
        else:
            return annotation


def _model_at(data: Any, loc: Path) -> type[BaseModel] | None:
    """The model a mapping of the file is checked against (None: free keys, or unknown)."""
    current: Any = Runbook
    for depth, part in enumerate(loc):
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = [f for n, f in current.model_fields.items() if (f.alias or n) == part]
            if not fields:
                return None
            current = fields[0].annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
        current = _unwrap(current, raw_at(data, loc[: depth + 1]))
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def keys_at(data: Any, loc: Path, registry: StepRegistry) -> set[str] | None:
    """The keys the mapping at ``loc`` accepts; a step's ``with:`` those of its check or
    action (and of its rollback's action); None when unknown or free."""
    if loc and loc[-1] == "with":
        owner = raw_at(data, loc[:-1])
        kinds = ("check", "action") if _is_step(loc[:-1]) and len(loc) == 3 else ("action",)
        names = [owner.get(k) for k in kinds] if isinstance(owner, dict) else []
        specs = [registry.get(n) for n in names if isinstance(n, str)]
        return next((set(_keys(s.params)) for s in specs if s is not None), None)
    model = _model_at(data, loc)
    return set(_keys(model)) if model is not None else None


def _described(data: Any, loc: Path) -> str:
    """Whose keys a mapping holds: ``the keys of step 2 'go'``, ``the runbook's top-level keys``."""
    if not loc:
        return "the runbook's top-level keys"
    if _is_step(loc) and len(loc) == 2:
        return f"the keys of {step_name(data, int(loc[1]))}"
    if isinstance(loc[-1], str):
        where = f" in {named(data, loc[:-1])}" if loc[:-1] else ""
        return f"the keys of '{loc[-1]}:'{where}"
    return f"the keys of {named(data, loc)}"


def belongs(data: Any, registry: StepRegistry, loc: Path) -> str | None:
    """Where the unknown key at ``loc`` belongs when a block beside it, or the mapping one
    level up, accepts it; None otherwise."""
    key, parent = loc[-1], loc[:-1]
    mapping = raw_at(data, parent)
    if not isinstance(key, str) or not isinstance(mapping, dict):
        return None
    model = _model_at(data, parent)
    blocks = [n for n in _keys(model) if n in mapping] if model is not None else []
    for name in blocks:  # dedented out of a block: ``approval:`` emptied is None
        if mapping[name] is None or isinstance(mapping[name], dict):
            accepted = keys_at(data, (*parent, name), registry)
            if accepted and key in accepted:
                return (
                    f"'{key}' belongs inside '{name}:' "
                    f"(it is indented like {_described(data, parent)})"
                )
    if parent and isinstance(parent[-1], str):
        accepted = keys_at(data, parent[:-1], registry)
        if accepted and key in accepted:
            return (
                f"'{key}' belongs beside '{parent[-1]}:', one level up "
                f"(it is indented like {_described(data, parent)})"
            )
    return None
