"""The runbook model: what a runbook file may say, checked field by field.

Every model refuses unknown keys (a typo such as ``retires: 3`` must not be silently
ignored). Rules that need the whole document (references, cycles, ``with:`` against the
step registry) live in ``semantics.py``; this module only knows shapes.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)

from lifeboat import secrets
from lifeboat.runbook.types import Cron, Duration, LocalName, Name, SemVer


class Strict(BaseModel):
    """Base of every runbook model: unknown keys are errors, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Objectives(Strict):
    rto: Duration | None = Field(None, description="Recovery time objective, e.g. 30m")
    rpo: Duration | None = Field(None, description="Recovery point objective, e.g. 24h")


class ParameterType(StrEnum):
    string = "string"
    integer = "integer"
    number = "number"
    boolean = "boolean"


_PYTHON_TYPES: dict[ParameterType, tuple[type, ...]] = {
    ParameterType.string: (str,),
    ParameterType.integer: (int,),
    ParameterType.number: (int, float),
    ParameterType.boolean: (bool,),
}


def value_fits(kind: ParameterType, value: object) -> bool:
    """True when ``value`` (already parsed) is of the declared parameter type."""
    if isinstance(value, bool) and kind is not ParameterType.boolean:
        return False  # YAML's true is an int to Python; not to an SRE.
    return isinstance(value, _PYTHON_TYPES[kind])


class Parameter(Strict):
    type: ParameterType = ParameterType.string
    description: str = ""
    default: str | int | float | bool | None = None
    enum: list[str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> Parameter:
        for value in [*(self.enum or []), *([self.default] if self.default is not None else [])]:
            if not value_fits(self.type, value):
                raise ValueError(f"value {value!r} is not of type {self.type.value}")
        if self.enum is not None and self.default is not None and self.default not in self.enum:
            raise ValueError(f"default {self.default!r} is not one of {self.enum}")
        return self

    @property
    def required(self) -> bool:
        return self.default is None


_ENDPOINT = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"


def _endpoint(value: str) -> str:
    if not re.fullmatch(_ENDPOINT, value):
        raise ValueError(
            f"{value!r} is not an endpoint: give its host and optional port, "
            "e.g. s3.gra.io.cloud.ovh.net or 127.0.0.1:9000 (no scheme, no path)"
        )
    return value.lower()


#: An S3 endpoint's host and optional port, as the store is reached (no scheme, no path).
Endpoint = Annotated[
    str, AfterValidator(_endpoint), WithJsonSchema({"type": "string", "pattern": _ENDPOINT})
]


class Site(Strict):
    provider: str = Field(description="ovh, aws, gcp, azure, scaleway, hetzner, onprem, ...")
    region: str = Field(description="The provider's region name, e.g. eu-central-1, gra")
    datacenter: str | None = Field(None, description="Building or availability zone")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    endpoint: Endpoint | None = Field(
        None,
        description="Host (and port) of the S3 endpoint of this site's object store, e.g. "
        "s3.gra.io.cloud.ovh.net: when the store does not report a bucket's region, a bucket "
        "read through this endpoint is placed at this site (declared by the runbook, not "
        "reported by the store)",
    )

    @model_validator(mode="after")
    def _both_coordinates(self) -> Site:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class Host(Strict):
    site: Name
    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str | None = None
    identity_file: str | None = None


class BackupCopy(Strict):
    uri: str = Field(pattern=r"^[a-z][a-z0-9+.-]*://", description="e.g. s3://bucket/prefix/")
    site: Name | None = None
    region: str | None = None

    @model_validator(mode="after")
    def _located(self) -> BackupCopy:
        if self.site is None and self.region is None:
            raise ValueError("a backup copy needs a 'site' or a 'region'")
        return self


class BackupPolicy(Strict):
    min_offsite_copies: int = Field(1, ge=0)
    min_distance_km: float = Field(0, ge=0)
    distinct_provider: bool = False
    distinct_datacenter: bool = True


class Backup(Strict):
    protects: Name = Field(description="The host whose data this backup set protects")
    copies: list[BackupCopy] = Field(min_length=1)
    max_age: Duration | None = Field(None, description="Newest copy must be younger (RPO)")
    policy: BackupPolicy = Field(default_factory=BackupPolicy)


def _channel(url: str) -> str:
    if found := secrets.problems(url):
        raise ValueError(found[0])
    return url


#: An Apprise URL; a token in it is written ``${{ secrets.NAME }}``, never in clear.
Channel = Annotated[str, AfterValidator(_channel)]


class Stakeholder(Strict):
    language: Literal["en", "fr", "nl"] = "en"
    channels: list[Channel] = Field(
        min_length=1,
        description="Apprise URLs (mailto://, json://, ...); tokens as ${{ secrets.NAME }}",
    )
    in_drills: bool = Field(False, description="Also receive drill messages, marked [DRILL]")
    audience: Literal["customers", "internal"] = Field(
        "internal",
        description="customers: plain words, no internal names; internal: technical details",
    )
    required: bool = Field(
        False,
        description="A failed delivery to this stakeholder fails the step; "
        "otherwise it is recorded and the run goes on",
    )


class Support(Strict):
    email: str | None = None
    phone: str | None = None
    hours: str | None = None
    url: str | None = None


class Drill(Strict):
    schedule: Cron
    timezone: str = "UTC"
    parameters: dict[str, Any] = Field(default_factory=dict)


class OnFailure(StrEnum):
    abort = "abort"
    continue_ = "continue"
    rollback = "rollback"


class Rollback(Strict):
    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class StepBase(Strict):
    id: Name
    title: str | None = None
    needs: list[Name] | None = Field(
        None, description="Steps that must succeed first. Default: the previous step."
    )
    live_only: bool = Field(False, description="Planned and reported, not executed, in drills")
    retries: int = Field(0, ge=0, le=100)
    retry_delay: Duration | None = None
    timeout: Duration | None = None
    on_failure: OnFailure = OnFailure.abort


class CheckStep(StepBase):
    check: str = Field(description="A registered check, e.g. http.status")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class ActionStep(StepBase):
    action: str = Field(description="A registered action, e.g. ssh.run")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    rollback: Rollback | None = None


class Stage(StrEnum):
    maintenance_scheduled = "maintenance.scheduled"
    incident_opened = "incident.opened"
    incident_update = "incident.update"
    incident_resolved = "incident.resolved"
    incident_postmortem = "incident.postmortem"
    provider_escalation = "provider.escalation"
    #: Sent by the run itself when it fails, to every stakeholder it already informed
    #: (``lifeboat.failure_notice``); a runbook may reword it, never send it from a step.
    incident_failed = "incident.failed"


def _sent_by_steps(stage: Stage) -> Stage:
    if stage is Stage.incident_failed:
        raise ValueError(
            "incident.failed is sent by the run itself when it fails, to every stakeholder "
            "already informed: a step cannot send it (reword it with comms.templates)"
        )
    return stage


class StatusPage(Strict):
    """A public status page (HTML, JSON Feed, Atom) kept in a folder or an S3 bucket."""

    path: str | None = Field(None, description="A folder, relative to the runbook or absolute")
    uri: str | None = Field(
        None, pattern=r"^s3://[^/]+(/.*)?$", description="Or an S3 location: s3://bucket/prefix/"
    )
    title: str = Field("Service status", min_length=1, description="The page's title")
    language: Literal["en", "fr", "nl"] = Field(
        "en", description="The language of the customer messages the page shows"
    )
    services: list[str] = Field(
        default_factory=list,
        description="Services listed with their status; default: comms.service",
    )

    @model_validator(mode="after")
    def _one_destination(self) -> StatusPage:
        if (self.path is None) == (self.uri is None):
            raise ValueError("a status page needs exactly one of 'path' or 'uri'")
        return self


class Comms(Strict):
    """What stakeholder messages say that the run cannot know."""

    service: str | None = Field(
        None, description="The service name customers know, e.g. 'the web shop'"
    )
    affected: str | None = Field(
        None, description="What customers cannot do meanwhile, e.g. 'place orders'"
    )
    workaround: str | None = Field(
        None, description="How to keep working meanwhile; null: messages say there is none"
    )
    compensation: str | None = Field(
        None, description="The compensation offered, if any, e.g. 'one month free'"
    )
    updates_every: Duration | None = Field(
        None,
        description="Promise an update this often: while the incident is open, the run sends "
        "an incident.update on time when no step did (messages announce the next one)",
    )
    templates: dict[Stage, LocalName] = Field(
        default_factory=dict,
        description="Stage -> template file (relative to the runbook) replacing the shipped one",
    )
    status_page: StatusPage | None = Field(
        None, description="Publish customer updates (never drills) to a static status page"
    )


#: The stages a ``notify`` step may send: all but ``incident.failed``.
StepStage = Annotated[
    Stage,
    AfterValidator(_sent_by_steps),
    WithJsonSchema(
        {"type": "string", "enum": [s.value for s in Stage if s is not Stage.incident_failed]}
    ),
]


class NotifyStep(StepBase):
    notify: StepStage
    to: list[Name] = Field(min_length=1, description="Stakeholder names")


class Approval(Strict):
    prompt: str
    timeout: Duration | None = None
    approvers: list[str] | None = Field(None, description="Who may approve; default: anyone")
    distinct_approver: bool = Field(False, description="Refuse the run's initiator")
    confirm: Name | None = Field(None, description="A site or host the approver must type")


class ApprovalStep(StepBase):
    approval: Approval


STEP_KINDS = ("check", "action", "notify", "approval")


def step_kind(value: Any) -> str | None:
    """The kind of a raw or parsed step: the one kind key it carries, else None."""
    if isinstance(value, dict):
        kinds = [k for k in STEP_KINDS if k in value]
    else:
        kinds = [k for k in STEP_KINDS if getattr(value, k, None) is not None]
    return kinds[0] if len(kinds) == 1 else None


Step = Annotated[
    Annotated[CheckStep, Tag("check")]
    | Annotated[ActionStep, Tag("action")]
    | Annotated[NotifyStep, Tag("notify")]
    | Annotated[ApprovalStep, Tag("approval")],
    Discriminator(
        step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one of: check, action, notify, approval",
    ),
]


class Runbook(Strict):
    """A versioned recovery plan."""

    model_config = ConfigDict(
        title="Lifeboat runbook",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    id: Name
    version: SemVer
    title: str
    description: str = ""
    owner: str
    lock: Name | None = Field(
        None,
        description="The system this runbook acts on: one live run per lock at a time "
        "(default: the runbook's id). Runbooks that touch the same system share a lock.",
    )
    objectives: Objectives = Field(default_factory=Objectives)
    parameters: dict[Name, Parameter] = Field(default_factory=dict)
    sites: dict[Name, Site] = Field(default_factory=dict)
    hosts: dict[Name, Host] = Field(default_factory=dict)
    backups: dict[Name, Backup] = Field(default_factory=dict)
    stakeholders: dict[Name, Stakeholder] = Field(default_factory=dict)
    support: Support | None = None
    comms: Comms = Field(
        default_factory=Comms,
        description="Facts for stakeholder messages: service, what is affected, workaround",
    )
    drill: Drill | None = None
    steps: list[Step] = Field(min_length=1)

    @property
    def lock_name(self) -> str:
        return self.lock or self.id

    def step(self, step_id: str) -> CheckStep | ActionStep | NotifyStep | ApprovalStep:
        return next(s for s in self.steps if s.id == step_id)
