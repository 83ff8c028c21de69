"""Secrets a runbook names but never contains: ``${{ secrets.NAME }}`` in a channel URL.

Webhook and chat URLs carry tokens; a runbook is a versioned file that many people read.
So a stakeholder channel may say ``json://hooks.example.com/${{ secrets.oncall_token }}``
and the value comes, at send time, from the environment variable
``LIFEBOAT_SECRET_ONCALL_TOKEN`` (Prefect Secret blocks are the next source). Every such
value is handed to the run's ``Redactor``; journals and reports show the reference only.
"""

from __future__ import annotations

import os
import re

from lifeboat.errors import AccessError

PREFIX = "LIFEBOAT_SECRET_"
REFERENCE = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
ANY_REFERENCE = re.compile(r"\$\{\{(.*?)\}\}")


class SecretMissing(AccessError):
    """A channel names a secret that is not set."""

    code = "access.no_secret"


def variable(name: str) -> str:
    """The environment variable holding secret ``name``: ``oncall-token`` -> ..._ONCALL_TOKEN."""
    return PREFIX + name.upper().replace("-", "_")


def resolve(text: str) -> str:
    """``text`` with each ``${{ secrets.NAME }}`` replaced by its value."""

    def value(match: re.Match[str]) -> str:
        found = os.environ.get(variable(match.group(1)))
        if not found:
            raise SecretMissing(
                f"secret {match.group(1)!r} is not set ({variable(match.group(1))})"
            )
        return found

    return REFERENCE.sub(value, text)


def problems(text: str) -> list[str]:
    """What is wrong with the references in a channel (for the loader)."""
    return [
        f"only ${{{{ secrets.NAME }}}} may be used in a channel, not ${{{{{ref}}}}}"
        for ref in ANY_REFERENCE.findall(text)
        if not REFERENCE.fullmatch(f"${{{{{ref}}}}}")
    ]


def values() -> list[str]:
    """Every secret value set in the environment, for redaction."""
    return [v for k, v in os.environ.items() if k.startswith(PREFIX) and v]
