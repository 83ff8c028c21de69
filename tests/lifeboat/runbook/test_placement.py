"""A key one level off says where it belongs; steps are named as ``plan`` numbers them.

HEADER in conftest is 16 lines long, so the first step given to ``with_steps`` is on line 17.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lifeboat.runbook.placement import step_name
from tests.conftest import HEADER

Steps = Callable[[str], Path]
Write = Callable[..., Path]
Errors = Callable[[Path], list[str]]


def only(errors: list[str]) -> str:
    assert len(errors) == 1, errors
    return errors[0]


def test_key_dedented_out_of_its_block(with_steps: Steps, errors_of: Errors) -> None:
    # Before: "unknown key 'confirm' in steps[0] (did you mean 'confirm'?)"
    path = with_steps("  - id: go\n    approval:\n      prompt: Fail over?\n    confirm: fra-1\n")
    assert only(errors_of(path)) == (
        f"{path}:20:5: error: 'confirm' belongs inside 'approval:' "
        "(it is indented like the keys of step 1 'go')"
    )


def test_key_indented_into_a_block_belongs_one_level_up(
    with_steps: Steps, errors_of: Errors
) -> None:
    path = with_steps("  - id: go\n    approval:\n      prompt: Fail over?\n      retries: 2\n")
    assert only(errors_of(path)) == (
        f"{path}:20:7: error: 'retries' belongs beside 'approval:', one level up "
        "(it is indented like the keys of 'approval:' in step 1 'go')"
    )


def test_parameter_dedented_out_of_with(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - id: probe\n    check: tcp.open\n    with:\n      host: web-a\n    port: 22\n"
    )
    assert errors_of(path) == [
        f"{path}:20:7: error: missing key 'port' in 'with' of step 1 'probe'",
        f"{path}:21:5: error: 'port' belongs inside 'with:' "
        "(it is indented like the keys of step 1 'probe')",
    ]


def test_step_key_indented_into_with(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - id: a\n    check: tcp.open\n    with: {host: h, port: 1}\n"
        "  - id: b\n    check: tcp.open\n    with:\n      host: h\n      port: 2\n"
        "      needs: [a]\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:25:7: error: 'needs' belongs beside 'with:', one level up "
        "(it is indented like the keys of 'with:' in step 2 'b')"
    )


def test_rollback_parameter_dedented_out_of_its_with(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - id: go\n    approval: {prompt: go?}\n"
        "  - id: switch\n    action: dns.switch\n    with: {zone: z, record: www, to: web-b}\n"
        "    rollback:\n      action: dns.switch\n      with: {zone: z, record: www}\n"
        "      to: web-a\n"
    )
    assert (
        f"{path}:25:7: error: 'to' belongs inside 'with:' "
        "(it is indented like the keys of 'rollback:' in step 2 'switch')"
    ) in errors_of(path)


def test_unknown_key_is_never_its_own_suggestion(write: Write, errors_of: Errors) -> None:
    # 'confirm' is a key of approvals: known, but nowhere near the top level.
    text = HEADER.replace("steps:\n", "confirm: fra-1\nsteps:\n")
    path = write(text + "  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n")
    assert only(errors_of(path)) == f"{path}:16:1: error: unknown key 'confirm'"


def test_steps_are_counted_from_one_and_named(with_steps: Steps, errors_of: Errors) -> None:
    # Before: "steps[6].retries: ..." for what `lifeboat plan` shows as step 7.
    steps = "".join(
        f"  - {{id: s{i}, check: tcp.open, with: {{host: h, port: 1}}}}\n" for i in range(6)
    )
    path = with_steps(
        steps + "  - {id: restore, check: tcp.open, with: {host: h, port: 1}, retries: many}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:23:71: error: step 7 'restore' retries: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def test_step_without_an_id_is_named_by_its_number(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {check: tcp.open, with: {host: h, port: 1}, retries: x}\n")
    assert errors_of(path) == [
        f"{path}:17:5: error: missing key 'id' in step 1",
        f"{path}:17:58: error: step 1 retries: Input should be a valid integer, unable to "
        "parse string as an integer",
    ]


def test_long_step_id_is_cut() -> None:
    data = {"steps": [{"id": "a" * 64}]}
    assert step_name(data, 0) == f"step 1 '{'a' * 40}...'"
