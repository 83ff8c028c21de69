"""The runbook JSON Schema, with each registered step's ``with:`` model folded in.

Editors (via ``# yaml-language-server: $schema=...``) then complete and check ``with:``
keys as the loader will. The committed ``runbook.schema.json`` is kept equal to this
output by a test.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from lifeboat.registry import StepKind, StepRegistry
from lifeboat.runbook.model import ActionStep, CheckStep, Runbook

TEMPLATE_SCHEMA = {"type": "string", "pattern": r"^\s*\$\{\{.*\}\}\s*$"}
SCHEMA_ID = "https://lifeboat.dev/runbook.schema.json"


def runbook_schema(registry: StepRegistry) -> dict[str, Any]:
    schema = Runbook.model_json_schema(by_alias=True, mode="validation")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **{k: v for k, v in schema.items() if k != "$schema"},
    }
    defs = schema.setdefault("$defs", {})
    kinds: tuple[tuple[type[BaseModel], StepKind], ...] = (
        (CheckStep, "check"),
        (ActionStep, "action"),
    )
    for step_model, kind in kinds:
        definition = defs[step_model.__name__]
        names = registry.names(kind)
        if names:
            definition["properties"][kind]["enum"] = names
        rules = []
        for name in names:
            spec = registry.get(name)
            assert spec is not None
            params = spec.params.model_json_schema(by_alias=True, mode="validation")
            for inner_name, inner in params.pop("$defs", {}).items():
                defs.setdefault(inner_name, inner)
            params["description"] = spec.summary
            for field_name, field_schema in params.get("properties", {}).items():
                # Any value may be a ${{ ... }} reference, resolved and re-checked at run time.
                params["properties"][field_name] = {"anyOf": [field_schema, TEMPLATE_SCHEMA]}
            rules.append(
                {
                    "if": {"properties": {kind: {"const": name}}},
                    "then": {"properties": {"with": params}},
                }
            )
        if rules:
            definition["allOf"] = rules
    return schema


def schema_text(registry: StepRegistry) -> str:
    return json.dumps(runbook_schema(registry), indent=2, sort_keys=True) + "\n"
