"""Durations, versions and cron expressions as the runbook language reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifeboat.runbook.types import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("26h", timedelta(hours=26)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_format_keeps_hours_unless_whole_days() -> None:
    assert format_duration(timedelta(hours=26)) == "26h"
    assert format_duration(timedelta(hours=48)) == "2d"
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"


@given(st.integers(min_value=0, max_value=10**10))
def test_format_then_parse_is_identity(millis: int) -> None:
    value = timedelta(milliseconds=millis)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("text", ["", "30", "m", "1.5h", "-1m", "1 h", "1y", 30])
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
