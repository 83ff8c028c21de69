"""Rules that need the whole runbook: references, the step DAG, ``with:`` against the registry.

They run on the raw YAML data, not on the validated model, so that a file with a typo
in one section still has every other section checked: the author gets all errors in one
pass. Each rule yields ``Diagnostic`` objects and trusts nothing about shapes.
"""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from lifeboat.errors import Diagnostic
from lifeboat.registry import StepRegistry, StepSpec
from lifeboat.runbook import templates
from lifeboat.runbook.model import STEP_KINDS, Host, Parameter, Site, value_fits
from lifeboat.runbook.placement import belongs
from lifeboat.runbook.source import Path, Source
from lifeboat.runbook.validation_messages import MAX_SUGGESTIONS, pydantic_diagnostics

UNRESOLVED = "<unresolved parameter>"
#: Dependency cycles reported per file, and step ids shown per cycle: a generated file can
#: hold thousands of cycles thousands of steps long (gigabytes of messages otherwise).
MAX_CYCLES = 10
MAX_CYCLE_IDS = 20


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _with_defaults(model: type[BaseModel], raw: Any) -> dict[str, Any]:
    """A declaration with its defaults (a host's port 22), or as written when it is invalid."""
    try:
        return model.model_validate(raw).model_dump()
    except ValidationError:
        return _mapping(raw)


def _suggest(name: str, choices: Iterable[Any]) -> str:
    """A "did you mean" hint among the string ``choices`` (a YAML key can be a number)."""
    close = difflib.get_close_matches(name, [c for c in choices if isinstance(c, str)], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Checker:
    """Collects the diagnostics of one document. ``params`` overrides defaults (``plan -p``)."""

    def __init__(
        self, source: Source, registry: StepRegistry, params: dict[str, Any] | None = None
    ) -> None:
        self.source = source
        self.registry = registry
        self.hints = 0  # "did you mean" hints given so far, at most MAX_SUGGESTIONS
        data = _mapping(source.data)
        self.data = data
        self.sites = _mapping(data.get("sites"))
        self.hosts = _mapping(data.get("hosts"))
        self.backups = _mapping(data.get("backups"))
        self.stakeholders = _mapping(data.get("stakeholders"))
        self.parameters = _mapping(data.get("parameters"))
        self.steps = [s for s in _list(data.get("steps"))]
        values = {n: _mapping(p).get("default") for n, p in self.parameters.items()}
        values.update(params or {})
        self.scope = templates.Scope(
            params={n: UNRESOLVED if v is None else v for n, v in values.items()},
            hosts={n: _with_defaults(Host, h) for n, h in self.hosts.items()},
            sites={n: _with_defaults(Site, s) for n, s in self.sites.items()},
            # Only the mode is known before a run; fields using the others are checked then.
            run={
                "mode": "drill",
                **dict.fromkeys(("reason", "incident", "detected_at", "id"), UNRESOLVED),
            },
        )

    def error(self, loc: Path, message: str, *, key: bool = False) -> Diagnostic:
        return self.source.diagnostic(loc, message, key=key)

    def suggest(self, name: str, choices: Iterable[Any]) -> str:
        """``_suggest``, for the first ``MAX_SUGGESTIONS`` names only (bounded time)."""
        if self.hints >= MAX_SUGGESTIONS:
            return ""
        self.hints += 1
        return _suggest(name, choices)

    def run(self) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        for rule in (
            self.entities,
            self.drill,
            self.step_ids,
            self.steps_each,
            self.cycles,
            self.gated,
        ):
            found.extend(rule())
        return found

    # -- declarations ---------------------------------------------------------------------

    def _ref(self, loc: Path, name: Any, table: dict[Any, Any], noun: str) -> Iterator[Diagnostic]:
        if isinstance(name, str) and name not in table:
            yield self.error(loc, f"undefined {noun} '{name}'{self.suggest(name, table)}")

    def entities(self) -> Iterator[Diagnostic]:
        for name, host in self.hosts.items():
            yield from self._ref(
                ("hosts", name, "site"), _mapping(host).get("site"), self.sites, "site"
            )
        for name, raw_backup in self.backups.items():
            backup = _mapping(raw_backup)
            yield from self._ref(
                ("backups", name, "protects"), backup.get("protects"), self.hosts, "host"
            )
            for index, copy in enumerate(_list(backup.get("copies"))):
                yield from self._ref(
                    ("backups", name, "copies", index, "site"),
                    _mapping(copy).get("site"),
                    self.sites,
                    "site",
                )

    def drill(self) -> Iterator[Diagnostic]:
        drill = _mapping(self.data.get("drill"))
        zone = drill.get("timezone")
        if isinstance(zone, str):
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long
                yield self.error(("drill", "timezone"), f"unknown time zone '{zone}'")
        for name, value in _mapping(drill.get("parameters")).items():
            loc = ("drill", "parameters", name)
            if name not in self.parameters:
                hint = self.suggest(str(name), self.parameters)
                yield self.error(loc, f"undefined parameter '{name}'{hint}", key=True)
                continue
            kind = _mapping(self.parameters[name]).get("type", "string")
            try:
                ok = value_fits(Parameter(type=kind).type, value)
            except ValidationError:
                ok = True  # the parameter's own declaration is already reported
            if not ok:
                yield self.error(loc, f"value {value!r} is not of type {kind}")

    # -- steps ----------------------------------------------------------------------------

    def step_ids(self) -> Iterator[Diagnostic]:
        first_seen: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            step_id = _mapping(step).get("id")
            if not isinstance(step_id, str):
                continue
            if step_id in first_seen:
                line = self.source.position(("steps", first_seen[step_id], "id"))[0]
                yield self.error(
                    ("steps", index, "id"),
                    f"duplicate step id '{step_id}' (first defined on line {line})",
                )
            else:
                first_seen[step_id] = index

    def steps_each(self) -> Iterator[Diagnostic]:
        ids = [_mapping(s).get("id") for s in self.steps]
        choices = [i for i in ids if isinstance(i, str)]
        known = set(choices)
        for index, raw in enumerate(self.steps):
            step = _mapping(raw)
            loc: Path = ("steps", index)
            yield from self.templates(loc, step)
            for position, need in enumerate(_list(step.get("needs"))):
                if need == step.get("id"):
                    yield self.error((*loc, "needs", position), f"step '{need}' needs itself")
                elif isinstance(need, str) and need not in known:
                    yield self.error(
                        (*loc, "needs", position),
                        f"undefined step '{need}'{self.suggest(need, choices)}",
                    )
            for position, who in enumerate(_list(step.get("to"))):
                yield from self._ref((*loc, "to", position), who, self.stakeholders, "stakeholder")
            confirm = _mapping(step.get("approval")).get("confirm")
            if isinstance(confirm, str) and confirm not in self.sites | self.hosts:
                hint = self.suggest(confirm, [*self.sites, *self.hosts])
                yield self.error(
                    (*loc, "approval", "confirm"),
                    f"confirm names '{confirm}', which is neither a site nor a host{hint}",
                )
            for kind in ("check", "action"):
                if isinstance(step.get(kind), str):
                    yield from self.registered(loc, kind, step[kind], step.get("with"))
            rollback = _mapping(step.get("rollback"))
            if isinstance(rollback.get("action"), str):
                yield from self.registered(
                    (*loc, "rollback"), "action", rollback["action"], rollback.get("with")
                )

    def templates(self, loc: Path, step: dict[str, Any]) -> Iterator[Diagnostic]:
        for sub, text in templates.strings(step, loc):
            try:
                expressions = templates.references(text)
            except templates.TemplateError as exc:
                yield self._at_reference(sub, text, exc.offset or 0, str(exc))
                continue
            for number, expression in enumerate(expressions):
                try:
                    templates.check(expression, self.scope)
                except templates.TemplateError as exc:
                    hint = self.suggest(exc.undefined, exc.choices) if exc.undefined else ""
                    offset = templates.offsets(text)[number]
                    yield self._at_reference(sub, text, offset, f"{exc}{hint}")

    def _at_reference(self, loc: Path, text: str, offset: int, message: str) -> Diagnostic:
        """At the reference's own ``${{`` in the file, not at the start of its string."""
        nth, count = text.count(templates.OPEN, 0, offset), text.count(templates.OPEN)
        line, column = self.source.inner_position(loc, templates.OPEN, nth, count)
        return Diagnostic(self.source.path, line, column, message)

    def registered(self, loc: Path, kind: str, name: str, with_: Any) -> Iterator[Diagnostic]:
        spec = self.registry.get(name)
        if spec is None:
            hint = self.suggest(name, self.registry.names(kind))  # type: ignore[arg-type]
            yield self.error((*loc, kind), f"unknown {kind} '{name}'{hint}")
        elif spec.kind != kind:
            yield self.error((*loc, kind), f"'{name}' is {_a(spec.kind)}, not {_a(kind)}")
        elif with_ is None or isinstance(with_, dict):
            yield from self.fits(spec, (*loc, "with"), with_ or {})

    def fits(self, spec: StepSpec, loc: Path, with_: dict[str, Any]) -> Iterator[Diagnostic]:
        """``with:`` against the step's parameter model, templates rendered first."""
        try:
            rendered = templates.render(with_, self.scope)
        except templates.TemplateError:
            return  # already reported by self.templates
        # A field that uses a parameter with no value yet is checked by `plan -p` / `run`.
        deferred = {k for k, v in rendered.items() if UNRESOLVED in str(v)}
        try:
            spec.params.model_validate(rendered)
        except ValidationError as exc:
            yield from pydantic_diagnostics(
                self.source,
                exc,
                loc,
                known_keys=set(spec.params.model_fields),
                skip=deferred,
                belongs=functools.partial(belongs, self.data, self.registry),
            )
        for field, entity in spec.references():
            if field not in deferred:
                table = _mapping(self.data.get(entity))
                yield from self._ref((*loc, field), rendered.get(field), table, entity[:-1])

    def gated(self) -> Iterator[Diagnostic]:
        """An irreversible action with no rollback needs an approval step before it.

        Nothing that cannot be undone may run in a live run without a person's yes. The
        approval must be an ancestor through ``needs`` (a cycle is reported on its own).
        """
        graph = dependency_graph(self.steps)
        ids = [_mapping(s).get("id") for s in self.steps if "approval" in _mapping(s)]
        approvals = {i for i in ids if isinstance(i, str)}  # an id can be any YAML value
        approved = _downstream(graph, approvals)
        for index, raw in enumerate(self.steps):
            step = _mapping(raw)
            spec = (
                self.registry.get(step["action"]) if isinstance(step.get("action"), str) else None
            )
            if spec is None or spec.reversible or step.get("rollback") is not None:
                continue
            step_id = step.get("id")
            if not (isinstance(step_id, str) and step_id in approved):
                yield self.error(
                    ("steps", index, "action"),
                    f"{spec.name} cannot be undone and has no rollback: an approval step must "
                    "come before it (in its needs, directly or through other steps)",
                )

    def cycles(self) -> Iterator[Diagnostic]:
        graph = dependency_graph(self.steps)
        cycles = find_cycles(graph, limit=MAX_CYCLES + 1)
        more = len(cycles) > MAX_CYCLES
        for number, cycle in enumerate(cycles[:MAX_CYCLES], 1):
            index = next(i for i, s in enumerate(self.steps) if _mapping(s).get("id") == cycle[0])
            shown = cycle
            if len(cycle) > MAX_CYCLE_IDS:
                shown = [*cycle[:MAX_CYCLE_IDS], f"... ({len(cycle) - MAX_CYCLE_IDS} more)"]
            message = "dependency cycle: " + " -> ".join([*shown, cycle[0]])
            if more and number == MAX_CYCLES:  # say so: a silent cut looks like the last one
                message += f" (and more cycles: only the first {MAX_CYCLES} are reported)"
            yield self.error(("steps", index, "needs"), message)


def dependency_graph(steps: list[Any]) -> dict[str, list[str]]:
    """step id -> ids it needs; a step without ``needs`` needs the previous step."""
    graph: dict[str, list[str]] = {}
    previous: str | None = None
    for raw in steps:
        step = _mapping(raw)
        step_id = step.get("id")
        if not isinstance(step_id, str) or step_id in graph:
            continue  # a duplicate id is reported on its own; the first definition counts
        needs = step.get("needs")
        if isinstance(needs, list):
            graph[step_id] = [n for n in needs if isinstance(n, str) and n != step_id]
        else:
            graph[step_id] = [previous] if previous else []
        previous = step_id
    return graph


def _downstream(graph: dict[str, list[str]], starts: set[str]) -> set[str]:
    """Every step that needs one of ``starts``, directly or through other steps.

    One pass over the graph: asking each step for its ancestors was quadratic, minutes
    for a generated file of ten thousand chained steps.
    """
    dependents: dict[str, list[str]] = {}
    for step_id, needs in graph.items():
        for need in needs:
            dependents.setdefault(need, []).append(step_id)
    seen: set[str] = set()
    todo = [d for start in starts for d in dependents.get(start, [])]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(dependents.get(node, []))
    return seen


def find_cycles(graph: dict[str, list[str]], limit: int | None = None) -> list[list[str]]:
    """Each elementary cycle found by depth-first search, reported once; the first
    ``limit`` only when given."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []
    for start, first_needs in graph.items():
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(first_needs))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif child in graph and state.get(child) == 1:
                cycles.append(path[path.index(child) :])
                if limit is not None and len(cycles) >= limit:
                    return cycles
            elif child in graph and not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph[child])))
    return cycles


def kind_message(raw_step: Any) -> str:
    """Why a step has no single kind, in the author's terms."""
    step = _mapping(raw_step)
    kinds = [k for k in STEP_KINDS if k in step]
    if len(kinds) > 1:
        return f"a step has exactly one kind, this one has {len(kinds)}: {', '.join(kinds)}"
    known = {
        "id",
        "title",
        "needs",
        "live_only",
        "retries",
        "retry_delay",
        "timeout",
        "on_failure",
        "rollback",
        "with",
        "to",
    }
    unknown = [str(k) for k in step if k not in known]
    if unknown:
        return f"unknown step kind '{unknown[0]}': expected one of {', '.join(STEP_KINDS)}"
    return f"step has no kind: add one of {', '.join(STEP_KINDS)}"
