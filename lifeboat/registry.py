"""The step registry: names such as ``http.status`` mapped to plain functions.

A step function takes one typed parameter model (what the runbook's ``with:`` must fit)
and a ``StepContext``, and returns a ``StepOutput`` or raises a ``StepError``::

    @registry.check("tcp.open")
    def tcp_open(params: TcpOpenParams, ctx: StepContext) -> StepOutput: ...

The engine looks names up here; nothing else knows which functions exist. Parameter
fields that name a runbook entity are annotated ``Ref("hosts")`` so the loader can check
the name exists before anything runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, Field

from lifeboat.errors import RegistryError, StepError

if TYPE_CHECKING:
    from lifeboat.runbook.model import Runbook

StepKind = Literal["check", "action"]
EntityKind = Literal["hosts", "sites", "backups", "stakeholders"]


class Params(BaseModel):
    """Base of step parameter models: unknown keys in ``with:`` are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Undo(BaseModel):
    """How to compensate a step, decided by the step from what it saw (a DNS record's
    previous value, the file it replaced). Journaled with the step, so ``--resume`` and a
    later rollback know it even after the process that ran the step is gone."""

    model_config = ConfigDict(populate_by_name=True)

    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class StepOutput(BaseModel):
    """What a step reports: a one-line summary for people and structured evidence."""

    summary: str
    evidence: dict[str, Any] = {}
    undo: Undo | None = None  # a reversible action's compensation, when the runbook gives none


class StepContext(Protocol):
    """What a running step may ask of the engine (grows with the engine)."""

    @property
    def mode(self) -> str: ...

    def log(self, message: str) -> None: ...


def runbook_of(ctx: StepContext) -> Runbook:
    """The running runbook, for steps that read its declarations (sites, hosts, backups)."""
    runbook = getattr(ctx, "runbook", None)
    if runbook is None:
        raise StepError("this step reads the runbook's declarations: run it through the engine")
    return runbook  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Ref:
    """Marks a parameter field whose value must name an entity declared in the runbook."""

    entity: EntityKind


P = TypeVar("P", bound=Params)
StepFunction = Callable[[Any, StepContext], StepOutput]


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: StepKind
    function: StepFunction
    params: type[Params]
    summary: str
    mutating: bool
    reversible: bool

    def references(self) -> Iterator[tuple[str, EntityKind]]:
        """(field name, entity kind) for each field annotated with ``Ref``."""
        for name, info in self.params.model_fields.items():
            for meta in info.metadata:
                if isinstance(meta, Ref):
                    yield name, meta.entity


class StepRegistry:
    """An explicit registry; ``registry`` below is the one the engine uses."""

    def __init__(self) -> None:
        self._specs: dict[str, StepSpec] = {}

    def check(self, name: str) -> Callable[[StepFunction], StepFunction]:
        """Register a read-only check."""
        return self._decorator(name, "check", mutating=False, reversible=True)

    def action(self, name: str, *, reversible: bool) -> Callable[[StepFunction], StepFunction]:
        """Register a mutating action; ``reversible`` says whether a compensation can undo it."""
        return self._decorator(name, "action", mutating=True, reversible=reversible)

    def _decorator(
        self, name: str, kind: StepKind, *, mutating: bool, reversible: bool
    ) -> Callable[[StepFunction], StepFunction]:
        def register(function: StepFunction) -> StepFunction:
            if name in self._specs:
                raise RegistryError(f"step {name!r} is already registered")
            doc = inspect.getdoc(function) or ""
            self._specs[name] = StepSpec(
                name=name,
                kind=kind,
                function=function,
                params=_params_model(name, function),
                summary=doc.splitlines()[0] if doc else "",
                mutating=mutating,
                reversible=reversible,
            )
            return function

        return register

    def get(self, name: str) -> StepSpec | None:
        return self._specs.get(name)

    def names(self, kind: StepKind | None = None) -> list[str]:
        return sorted(n for n, s in self._specs.items() if kind is None or s.kind == kind)

    def __iter__(self) -> Iterator[StepSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))


def _params_model(name: str, function: StepFunction) -> type[Params]:
    hints = get_type_hints(function)
    first = next(iter(inspect.signature(function).parameters), None)
    model = hints.get(first) if first else None
    if not (isinstance(model, type) and issubclass(model, Params)):
        raise RegistryError(f"step {name!r}: first parameter must be annotated with a Params model")
    return model


registry = StepRegistry()


def default_registry() -> StepRegistry:
    """The registry with every built-in step loaded (importing ``checks`` registers them)."""
    import checks  # noqa: F401  (import for its registrations)
    import lifeboat.actions  # noqa: F401

    return registry
