"""Run parameters: text from ``-p`` and typed values from a UI form, against declarations."""

from __future__ import annotations

import pytest

from lifeboat.errors import ParameterError
from lifeboat.runbook.model import Runbook
from lifeboat.runbook.params import parse_assignments, resolve

RUNBOOK = Runbook.model_validate(
    {
        "id": "p",
        "version": "1.0.0",
        "title": "t",
        "owner": "o",
        "parameters": {
            "count": {"type": "integer", "default": 3},
            "ratio": {"type": "number", "default": 0.5},
            "dry": {"type": "boolean", "default": False},
            "region": {"type": "string", "enum": ["eu-west-3", "eu-central-1"]},
        },
        "steps": [{"id": "a", "check": "tcp.open", "with": {"host": "h", "port": 1}}],
    }
)


def test_text_values_are_typed() -> None:
    given = parse_assignments(["count=7", "ratio=2", "dry=yes", "region=eu-central-1"])
    assert resolve(RUNBOOK, given) == {
        "count": 7,
        "ratio": 2.0,
        "dry": True,
        "region": "eu-central-1",
    }


def test_defaults_fill_the_rest() -> None:
    assert resolve(RUNBOOK, {"region": "eu-west-3"}) == {
        "count": 3,
        "ratio": 0.5,
        "dry": False,
        "region": "eu-west-3",
    }


def test_value_may_contain_equals() -> None:
    assert parse_assignments(["region=a=b"]) == {"region": "a=b"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"region": "eu-west-3", "colour": "x"},
            "unknown parameter 'colour' (declared: count, dry, ratio, region)",
        ),
        (
            {"region": "eu-west-3", "regoin": "x"},
            "unknown parameter 'regoin' (did you mean 'region'? declared: count, dry, ratio, "
            "region)",
        ),
        ({}, "parameter 'region' is required: pass -p region=VALUE"),
        (
            {"region": "us-east-1"},
            "parameter 'region': 'us-east-1' is not one of eu-west-3, eu-central-1",
        ),
        (
            {"region": "eu-west-3", "count": "many"},
            "parameter 'count': 'many' is not of type integer",
        ),
        (
            {"region": "eu-west-3", "dry": "maybe"},
            "parameter 'dry': 'maybe' is not a boolean (true or false)",
        ),
        ({"region": "eu-west-3", "count": True}, "parameter 'count': True is not of type integer"),
    ],
)
def test_bad_parameters_are_refused(given: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError) as info:
        resolve(RUNBOOK, given)
    assert str(info.value) == message


def test_assignment_without_equals() -> None:
    with pytest.raises(ParameterError, match="write NAME=VALUE"):
        parse_assignments(["region"])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"region": "eu-west-3\ud800"},
            "parameter 'region': the value is not valid text (U+D800 at character 10; "
            "give it in UTF-8)",
        ),
        (
            {"region": "eu-\x1b[2Jwest-3"},
            "parameter 'region': the value holds the control character U+001B at character 4",
        ),
        (
            {"region": "eu-west-3", "count": "7\x00"},
            "parameter 'count': the value holds the control character U+0000 at character 2",
        ),
    ],
    ids=["lone-surrogate", "escape", "nul-before-typing"],
)
def test_parameter_text_is_printable_utf8(given: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError) as info:
        resolve(RUNBOOK, given)
    assert str(info.value) == message
