"""Small value types of the runbook language: durations, semantic versions, cron, names.

Each is an ``Annotated`` pydantic type, so the same rule validates YAML, feeds the JSON
Schema, and serialises back to the text a person wrote.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from croniter import croniter
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^(\d+(ms|s|m|h|d|w))+$"
#: The longest duration a runbook may write: a century (36500d). Longer ones overflow
#: ``timedelta`` or, as timeouts, the waits of ``threading``; no recovery plan needs them.
MAX_DURATION = timedelta(days=36500)


def parse_duration(text: object) -> timedelta:
    """``"1h30m"`` -> ``timedelta(hours=1, minutes=30)``. Bare numbers are refused on purpose:
    ``timeout: 30`` is ambiguous (seconds? minutes?) at 3 a.m."""
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str) or not re.fullmatch(DURATION_PATTERN, text.strip()):
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d, w), "
            "e.g. 90s, 30m, 26h, 1h30m"
        )
    try:
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
        value: timedelta | None = timedelta(seconds=seconds)
    except (ValueError, OverflowError):  # more digits than int() reads, or than timedelta holds
        value = None
    if value is None or value > MAX_DURATION:
        raise ValueError(f"duration {text!r} is too long: at most 36500d (a century)")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest text that ``parse_duration`` reads back as ``value``."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    # Days and weeks only when exact: "26h" reads better than "1d2h" for an RPO.
    for unit in ("w", "d"):
        size = round(_UNIT_SECONDS[unit] * 1000)
        if millis % size == 0:
            return f"{millis // size}{unit}"
    parts = []
    for unit in ("h", "m", "s", "ms"):
        size = round(_UNIT_SECONDS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "1h30m"]}),
]

# semver.org's own regular expression, anchored.
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def _check_semver(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(SEMVER_PATTERN, value):
        raise ValueError(
            f"invalid version {value!r}: use semantic versioning MAJOR.MINOR.PATCH, e.g. 2.1.0"
        )
    return value


SemVer = Annotated[
    str,
    BeforeValidator(_check_semver),
    WithJsonSchema({"type": "string", "pattern": SEMVER_PATTERN, "examples": ["2.1.0"]}),
]


def _check_cron(value: str) -> str:
    if not croniter.is_valid(value) or len(value.split()) != 5:
        raise ValueError(
            f"invalid cron expression {value!r}: use five fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * 1'"
        )
    return value


Cron = Annotated[
    str,
    AfterValidator(_check_cron),
    WithJsonSchema({"type": "string", "examples": ["0 3 * * 1"]}),
]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
# Step names, hosts, sites, backups, stakeholders, parameters: letters, digits, '_' and '-'.
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


def _local_name(name: str) -> str:
    if not name or "\0" in name or name.startswith("/") or ".." in name.split("/"):
        raise ValueError(
            f"unsafe file name {name!r}: name a file inside the runbook's folder "
            "(relative, no '..' component)"
        )
    return name


#: A file of the runbook's own folder (``scripts/``, ``files/``, a message template), named
#: relative to it: an absolute name or a ``..`` component is a validation error, so that
#: a runbook cannot read the orchestrator's files (``/etc/shadow``, ``~/.aws/credentials``)
#: into a host or a message. A symlink leading out of the folder can only be seen when the
#: file is read; the readers refuse it then.
LocalName = Annotated[str, AfterValidator(_local_name)]
