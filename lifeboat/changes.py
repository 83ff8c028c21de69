"""What a mutating step changed, as a typed record it journals with its evidence.

Auditors ask of every action: what did it change, from what to what, which exact copy was
put in place (and its checksum), and what was kept aside so it could be undone. Each action
answers with a list of ``Change`` under the ``changes`` key of its evidence (so in the
journal, redacted like every evidence), and the post-incident review shows them as they are:
one vocabulary for every action, built-in or from a third party's package.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

#: The evidence key the changes are journaled under.
KEY = "changes"


class Change(BaseModel):
    """One thing an action changed."""

    what: str = Field(description="The object changed: host:path, a DNS record, a unit")
    before: str | None = Field(None, description="Its state before, in words or values")
    after: str | None = Field(None, description="Its state after")
    source: str | None = Field(None, description="What was put there: the restored object")
    checksum: str | None = Field(None, description="sha256 of what stands there now")
    kept_aside: str | None = Field(
        None, description="Where the previous version was kept for the rollback"
    )


def recorded(*changes: Change) -> dict[str, Any]:
    """The evidence fields that journal ``changes``: ``{**evidence, **recorded(...)}``."""
    return {KEY: [change.model_dump() for change in changes]}


def read(evidence: dict[str, Any]) -> list[Change] | None:
    """The changes an entry's evidence records (None: the step recorded none, e.g. a
    journal written before actions recorded them); rows that do not fit are skipped."""
    rows = evidence.get(KEY)
    if not isinstance(rows, list):
        return None
    found = []
    for row in rows:
        if isinstance(row, dict):
            try:
                found.append(Change.model_validate(row))
            except ValueError:
                continue
    return found
