"""The README opens with the two commands and documents every key the schema accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lifeboat.registry import default_registry
from lifeboat.runbook.schema import runbook_schema

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line]
    assert commands == ["make demo", "make test"]


def property_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            yield from property_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from property_names(item)


def test_every_schema_key_is_documented() -> None:
    names = set(property_names(runbook_schema(default_registry())))
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert not missing, f"README's runbook reference lacks: {missing}"
