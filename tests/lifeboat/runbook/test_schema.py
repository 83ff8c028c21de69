"""The JSON Schema editors use agrees with the loader on the shipped runbooks."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from lifeboat.registry import default_registry
from lifeboat.runbook.loader import discover
from lifeboat.runbook.schema import runbook_schema

REPO = Path(__file__).resolve().parents[3]


def test_committed_schema_is_current() -> None:
    committed = json.loads((REPO / "runbook.schema.json").read_text())
    assert committed == runbook_schema(default_registry()), "run 'make schema' and commit it"


@pytest.mark.parametrize("path", sorted(discover([REPO / "runbooks"])), ids=lambda p: p.name)
def test_shipped_runbooks_fit_the_schema(path: Path) -> None:
    schema = runbook_schema(default_registry())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(path.read_bytes()), schema)


def test_schema_knows_with_of_each_registered_check() -> None:
    schema = runbook_schema(default_registry())
    rules = schema["$defs"]["CheckStep"]["allOf"]
    by_name = {r["if"]["properties"]["check"]["const"]: r["then"] for r in rules}
    assert set(by_name) >= {"http.status", "tcp.open"}
    port = by_name["tcp.open"]["properties"]["with"]["properties"]["port"]
    assert port["anyOf"][0]["type"] == "integer"


def test_schema_rejects_unknown_top_level_key() -> None:
    schema = runbook_schema(default_registry())
    document = yaml.safe_load((REPO / "runbooks" / "backup-drill.yaml").read_bytes())
    document["colour"] = "blue"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
