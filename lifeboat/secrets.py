"""Secrets a runbook names but never contains: ``${{ secrets.NAME }}`` in a channel URL.

Webhook and chat URLs carry tokens; a runbook is a versioned file that many people read.
So a stakeholder channel may say ``json://hooks.example.com/${{ secrets.oncall_token }}``
and the value comes, at send time, from the first place that holds it:

1. the environment variable ``LIFEBOAT_SECRET_ONCALL_TOKEN`` (tests, the sandbox, local
   use: it always wins);
2. the run's ``SecretSource``, when one is installed: a flow run installs one that reads the
   Prefect Secret block ``lifeboat-oncall-token`` (``flows.secrets``; this module knows
   nothing of Prefect, it only asks the source).

Every value, from either place, is handed to the run's ``Redactor`` (``values()``);
journals and reports show the reference only. A secret found in neither place is a
``SecretMissing`` access error naming both places to set it, never a value.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Protocol

from lifeboat.errors import AccessError, ParameterError

PREFIX = "LIFEBOAT_SECRET_"
REFERENCE = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
ANY_REFERENCE = re.compile(r"\$\{\{(.*?)\}\}")


class SecretMissing(AccessError):
    """A channel names a secret that is not set (or whose source could not be read)."""

    code = "access.no_secret"


class SecretSource(Protocol):
    """Where a secret that is not in the environment may be found (one per run).

    ``get`` answers the value, or None when the source does not hold the secret; it raises
    ``SecretMissing`` when the source cannot be read (unreachable, not a string), with a
    message that names the place and never a value. ``where`` names the place an operator
    sets the secret, for the message of a missing one.
    """

    def get(self, name: str) -> str | None: ...

    def where(self, name: str) -> str: ...


_lock = threading.Lock()
_source: SecretSource | None = None
_fetched: set[str] = set()  # every value a source gave in this process: redacted for good


def install(source: SecretSource | None) -> SecretSource | None:
    """Make ``source`` the place secrets not in the environment come from (None: nowhere);
    returns the one it replaces. A run installs a fresh source when it starts."""
    global _source
    with _lock:
        previous, _source = _source, source
    return previous


def installed() -> SecretSource | None:
    return _source


def forget() -> None:
    """No source, and no remembered values (for tests)."""
    install(None)
    with _lock:
        _fetched.clear()


def variable(name: str) -> str:
    """The environment variable holding secret ``name``: ``oncall-token`` -> ..._ONCALL_TOKEN."""
    return PREFIX + name.upper().replace("-", "_")


def lookup(name: str) -> str:
    """The value of secret ``name``: its environment variable, else the installed source."""
    found = os.environ.get(variable(name))
    if found:
        return found
    source = _source
    if source is None:
        raise SecretMissing(f"secret {name!r} is not set ({variable(name)})")
    found = source.get(name)
    if not found:
        raise SecretMissing(
            f"secret {name!r} is not set ({variable(name)} or {source.where(name)})"
        )
    with _lock:
        _fetched.add(found)
    return found


def resolve(text: str) -> str:
    """``text`` with each ``${{ secrets.NAME }}`` replaced by its value."""
    return REFERENCE.sub(lambda match: lookup(match.group(1)), text)


def names(text: str) -> list[str]:
    """The secrets ``text`` refers to, in order."""
    return REFERENCE.findall(text)


def prefetch(texts: Iterable[str]) -> None:
    """Look up every secret ``texts`` refer to now, so that a value from the source is among
    ``values()`` (the run's redactor) before any step runs. One missing or unreadable now
    is left for ``resolve`` to report when a step needs it."""
    for name in dict.fromkeys(n for text in texts for n in names(text)):
        try:
            lookup(name)
        except SecretMissing:
            continue


def problems(text: str) -> list[str]:
    """What is wrong with the references in a channel (for the loader)."""
    return [
        f"only ${{{{ secrets.NAME }}}} may be used in a channel, not ${{{{{ref}}}}}"
        for ref in ANY_REFERENCE.findall(text)
        if not REFERENCE.fullmatch(f"${{{{{ref}}}}}")
    ]


def values() -> list[str]:
    """Every secret value known: set in the environment or given by a source, for redaction."""
    with _lock:
        fetched = sorted(_fetched)
    return [v for k, v in os.environ.items() if k.startswith(PREFIX) and v] + fetched


#: Shorter values are not searched for in parameters: "on" or "1" would match anything.
MIN_SECRET_LENGTH = 6


def refuse_in_parameters(params: Mapping[str, object], known: Iterable[str]) -> None:
    """``ParameterError`` naming the first parameter whose value contains a known secret.

    Parameters are recorded as given: the journal redacts them, but Prefect stores a flow
    run's parameters in clear and shows them in its UI. So a secret must never be one; a
    channel names it as ``${{ secrets.NAME }}`` instead.
    """
    secrets = [value for value in known if len(value) >= MIN_SECRET_LENGTH]
    for name, value in params.items():
        if any(secret in str(value) for secret in secrets):
            raise ParameterError(
                f"parameter {name!r} contains the value of a secret: Prefect stores and "
                "shows parameters as given; name secrets in channels as "
                "${{ secrets.NAME }} instead"
            )
