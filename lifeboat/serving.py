"""What ``lifeboat serve`` publishes for one runbook, and what a failed drill tells on-call.

No Prefect here: ``flows/serve.py`` turns a :class:`DeploymentSpec` into a Prefect deployment.
Every runbook gets its own parameter form, generated as a pydantic model: the run's mode,
reason, incident reference and detection time, and the runbook's own parameters, typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from lifeboat.runbook import LoadedRunbook
from lifeboat.runbook.model import (
    ActionStep,
    Parameter,
    ParameterType,
    Runbook,
)
from lifeboat.runbook.types import format_duration

TAG = "lifeboat"
DRILL_TAG = "drill-scheduled"
_TYPES: dict[ParameterType, type] = {
    ParameterType.string: str,
    ParameterType.integer: int,
    ParameterType.number: float,
    ParameterType.boolean: bool,
}


@dataclass(frozen=True)
class DeploymentSpec:
    """One runbook's deployment: the flow runs ``runbook_path`` with the form's values."""

    name: str
    runbook_path: str
    version: str
    description: str
    tags: list[str]
    parameter_schema: dict[str, Any]  # Prefect's ParameterSchema: properties, required, ...
    cron: str | None = None
    timezone: str = "UTC"
    drill_parameters: dict[str, Any] = field(default_factory=dict)


def version_of(loaded: LoadedRunbook) -> str:
    """``2.1.0+1a2b3c4d``: the runbook's semver and the first 8 hex digits of its sha256."""
    return f"{loaded.runbook.version}+{loaded.sha256[:8]}"


def describe(runbook: Runbook) -> str:
    objectives = [
        f"{name.upper()} {format_duration(value)}"
        for name, value in (("rto", runbook.objectives.rto), ("rpo", runbook.objectives.rpo))
        if value is not None
    ]
    lines = [runbook.title, "", f"Owner: {runbook.owner}"]
    if objectives:
        lines.append("Objectives: " + ", ".join(objectives))
    if runbook.description:
        lines += ["", runbook.description]
    return "\n".join(lines)


def _field(name: str, declared: Parameter) -> tuple[Any, Any]:
    kind: Any = _TYPES[declared.type]
    if declared.enum is not None:
        kind = Literal[tuple(declared.enum)]
    default = ... if declared.default is None else declared.default
    info = Field(default, alias=name, title=name, description=declared.description or None)
    return kind, info


def parameters_model(runbook: Runbook) -> type[BaseModel]:
    """The runbook's own parameters as a model: one typed field each (aliased to its name)."""
    fields = {f"p{i}": _field(name, p) for i, (name, p) in enumerate(runbook.parameters.items())}
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        "RunbookParameters",
        __config__=ConfigDict(title=f"Parameters of {runbook.id}", extra="forbid"),
        **fields,
    )
    return model


def mode_description(runbook: Runbook) -> str:
    """What choosing live changes for this runbook, next to a drill of it."""
    actions = [s for s in runbook.steps if isinstance(s, ActionStep)]
    live = [f"{s.id} ({s.action})" for s in actions if s.live_only]
    both = [f"{s.id} ({s.action})" for s in actions if not s.live_only]
    quiet = [name for name, who in runbook.stakeholders.items() if not who.in_drills]
    if live:
        said = [
            f"live changes production: {', '.join(live)}; "
            "a drill plans and reports these steps without running them."
        ]
    else:
        said = ["live runs what a drill runs: this runbook has no live-only action."]
    if both:
        said.append(f"Both modes run {', '.join(both)}.")
    if quiet:
        said.append(f"Only live runs tell {', '.join(quiet)}.")
    return " ".join(said)


def form_model(runbook: Runbook) -> type[BaseModel]:
    """The Prefect form of one runbook's deployment (its fields are the flow's parameters)."""
    fields: dict[str, Any] = {
        "mode": (
            Literal["drill", "live"],
            Field("drill", title="Mode", description=mode_description(runbook)),
        ),
        "reason": (str, Field("", title="Reason", description="Why this run is started")),
        "incident": (
            str,
            Field("", title="Incident reference", description="e.g. INC-1234; empty in drills"),
        ),
        # A plain date-time field: the flow's ``datetime | None`` would make the UI show
        # a type switch ("Property is type None"); leaving the field empty means "not given".
        "detected_at": (
            Annotated[datetime | None, WithJsonSchema({"type": "string", "format": "date-time"})],
            Field(
                None,
                title="Detected at",
                description="When the outage was detected (for the achieved RTO); empty: unknown",
                json_schema_extra=_no_default,
            ),
        ),
    }
    if runbook.parameters:
        required = any(p.required for p in runbook.parameters.values())
        defaults = {n: p.default for n, p in runbook.parameters.items()}
        fields["params"] = (
            parameters_model(runbook),
            Field(
                ... if required else defaults,
                title="Runbook parameters",
                description=f"The inputs declared by runbook {runbook.id}",
            ),
        )
    model: type[BaseModel] = create_model("LifeboatRunForm", **fields)
    return model


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def parameter_schema(loaded: LoadedRunbook) -> dict[str, Any]:
    """The deployment's ``parameter_openapi_schema``: the form a person fills in.

    The runbook file is not in it: the deployment fixes it (its ``parameters``), and the
    flow refuses a run of any other file (``flows.serve.run_served``).
    """
    schema = form_model(loaded.runbook).model_json_schema(ref_template="#/definitions/{model}")
    properties: dict[str, Any] = {}
    for position, (name, prop) in enumerate(schema["properties"].items()):
        properties[name] = {**prop, "position": position}
    return {
        "title": "Parameters",
        "type": "object",
        "properties": properties,
        "required": schema.get("required", []),
        "definitions": schema.get("$defs", {}),
    }


def spec(loaded: LoadedRunbook) -> DeploymentSpec:
    rb = loaded.runbook
    tags = [TAG, rb.id] + ([DRILL_TAG] if rb.drill else [])
    return DeploymentSpec(
        name=rb.id,
        runbook_path=str(loaded.path),
        version=version_of(loaded),
        description=describe(rb),
        tags=tags,
        parameter_schema=parameter_schema(loaded),
        cron=rb.drill.schedule if rb.drill else None,
        timezone=rb.drill.timezone if rb.drill else "UTC",
        drill_parameters=dict(rb.drill.parameters) if rb.drill else {},
    )
