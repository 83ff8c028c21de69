"""Property: whatever bytes arrive, the loader answers with a runbook or with our error.

Never a ruamel, pydantic, Recursion or Type error escaping to the user as a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifeboat.errors import Diagnostic, RunbookInvalid
from lifeboat.registry import default_registry
from lifeboat.runbook.loader import LoadedRunbook, load_bytes

REPO = Path(__file__).resolve().parents[3]
VALID = (REPO / "runbooks" / "webapp-failover.yaml").read_bytes()
NAME = Path("fuzz.yaml")
REGISTRY = default_registry()
VOCABULARY = [
    "id",
    "version",
    "title",
    "owner",
    "steps",
    "check",
    "action",
    "notify",
    "with",
    "needs",
    "approval",
    "to",
    "hosts",
    "sites",
    "parameters",
    "timeout",
    "retries",
    "http.status",
    "tcp.open",
    "${{ params.x }}",
    "${{ hosts.a.address }}",
    "1.0.0",
    "30m",
    "incident.opened",
    "<<",
    "on_failure",
    "rollback",
    "live_only",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(VOCABULARY),
)
keys = st.one_of(st.sampled_from(VOCABULARY), st.text(min_size=1, max_size=10))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=40,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def answer(raw: bytes) -> LoadedRunbook | list[Diagnostic]:
    try:
        return load_bytes(raw, NAME, registry=REGISTRY)
    except RunbookInvalid as exc:
        assert exc.diagnostics, "an invalid runbook must say why"
        for diagnostic in exc.diagnostics:
            assert diagnostic.path == str(NAME) and diagnostic.line >= 1 and diagnostic.column >= 1
            assert diagnostic.message
        return exc.diagnostics


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data).encode()


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    answer(raw)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("{}[]-:,&*!|>'\"#%@ \n\tab1.$")), max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    answer(text.encode())


@FUZZ
@given(documents)
def test_arbitrary_yaml_documents(data: Any) -> None:
    answer(dump(data))


@FUZZ
@given(st.data())
def test_mutations_of_a_valid_runbook(data: st.DataObject) -> None:
    document = yaml.safe_load(VALID)
    target: Any = document
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        if isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target, key=str)))
            if data.draw(st.booleans()) and isinstance(target[key], dict | list):
                target = target[key]
                continue
            target[key] = data.draw(documents)
        elif isinstance(target, list) and target:
            index = data.draw(st.integers(min_value=0, max_value=len(target) - 1))
            target[index] = data.draw(documents)
        break
    answer(dump(document))


def test_the_unmutated_runbook_loads() -> None:
    assert isinstance(answer(VALID), LoadedRunbook)
