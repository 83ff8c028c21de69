"""Each loader error has its own test: exact message and the file position it points at.

HEADER in conftest is 16 lines long, so the first step given to ``with_steps`` is on line 17.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Steps = Callable[[str], Path]
Write = Callable[..., Path]
Errors = Callable[[Path], list[str]]


def at(path: Path, line: int, token: str) -> str:
    """``PATH:LINE:COL`` of the first ``token`` on that line: where an error must point."""
    text = path.read_text(encoding="utf-8").splitlines()[line - 1]
    return f"{path}:{line}:{text.index(token) + 1}"


def only(errors: list[str]) -> str:
    assert len(errors) == 1, errors
    return errors[0]


def test_unknown_top_level_key_suggests_the_right_one(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\ntitel: t\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:5:1: error: unknown key 'titel' (did you mean 'title'?)"
    )


def test_unknown_key_in_step(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - id: a\n    check: tcp.open\n    with: {host: h, port: 1}\n    retires: 3\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:20:5: error: unknown key 'retires' in steps[0] (did you mean 'retries'?)"
    )


def test_missing_key(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\nowner: o\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == f"{path}:1:1: error: missing key 'title'"


def test_bad_type(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, retries: many, check: tcp.open, with: {host: h, port: 1}}\n")
    assert only(errors_of(path)) == (
        f"{path}:17:22: error: steps[0].retries: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def test_duplicate_step_ids(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
        "  - {id: a, check: tcp.open, with: {host: h, port: 2}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 18, 'a, check')}: error: duplicate step id 'a' (first defined on line 17)"
    )


def test_unknown_step_kind(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, probe: http.status}\n")
    assert only(errors_of(path)) == (
        f"{path}:17:5: error: unknown step kind 'probe': expected one of "
        "check, action, notify, approval"
    )


def test_step_with_two_kinds(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, check: tcp.open, notify: incident.opened, to: [oncall]}\n")
    assert f"{path}:17:5: error: a step has exactly one kind, this one has 2: check, notify" in (
        errors_of(path)
    )


def test_step_without_kind(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, title: nothing to do}\n")
    assert only(errors_of(path)) == (
        f"{path}:17:5: error: step has no kind: add one of check, action, notify, approval"
    )


def test_unknown_check_suggests(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, check: http.stats, with: {url: 'http://127.0.0.1/'}}\n")
    assert only(errors_of(path)) == (
        f"{at(path, 17, 'http.stats')}: error: "
        "unknown check 'http.stats' (did you mean 'http.status'?)"
    )


def test_check_used_as_action(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, action: tcp.open, with: {host: h, port: 1}}\n")
    assert (
        only(errors_of(path))
        == f"{at(path, 17, 'tcp.open')}: error: 'tcp.open' is a check, not an action"
    )


def test_with_bad_type(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - id: a\n    check: tcp.open\n    with: {host: h, port: high}\n")
    assert only(errors_of(path)) == (
        f"{at(path, 19, 'high')}: error: steps[0].with.port: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def test_with_unknown_key(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - id: a\n    check: tcp.open\n    with: {host: h, port: 1, tls: true}\n")
    assert (
        only(errors_of(path)) == f"{at(path, 19, 'tls')}: error: unknown key 'tls' in steps[0].with"
    )


def test_with_missing_key(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - id: a\n    check: tcp.open\n    with: {host: h}\n")
    assert only(errors_of(path)) == f"{path}:19:11: error: missing key 'port' in steps[0].with"


def test_with_bad_url(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, check: http.status, with: {url: 'not a url'}}\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:17:45: error: steps[0].with.url: Input should be a valid URL")


def test_undefined_site_of_host(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\nsites: {par-1: {provider: ovh, "
        "region: gra}}\nhosts: {web: {site: par-2, address: 10.0.0.1}}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 6, 'par-2')}: error: undefined site 'par-2' (did you mean 'par-1'?)"
    )


def test_undefined_host_protected_by_backup(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "backups:\n  db: {protects: db-a, copies: [{uri: 's3://b/', region: eu-west-1}]}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == f"{path}:6:18: error: undefined host 'db-a'"


def test_backup_copy_needs_a_location(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "backups:\n  db:\n    protects: db-a\n    copies: [{uri: 's3://b/'}]\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    errors = errors_of(path)
    assert (
        f"{path}:8:14: error: backups.db.copies[0]: a backup copy needs a 'site' or a 'region'"
    ) in errors


def test_undefined_stakeholder(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, notify: incident.opened, to: [oncall, customers]}\n")
    assert (
        only(errors_of(path))
        == f"{at(path, 17, 'customers')}: error: undefined stakeholder 'customers'"
    )


def test_unknown_notify_stage(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, notify: incident.closed, to: [oncall]}\n")
    (error,) = errors_of(path)
    assert error.startswith(
        f"{at(path, 17, 'incident.closed')}: error: steps[0].notify: Input should be "
        "'maintenance.scheduled', 'incident.opened'"
    )


def test_undefined_parameter_in_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, title: 'port ${{ params.prot }}', check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        at(path, 17, "'port") + ": error: undefined parameter 'prot' in 'params.prot'"
    )


def test_undefined_host_in_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: '${{ hosts.web-c.address }}', port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:17:43: error: undefined host 'web-c' in 'hosts.web-c.address'"
    )


def test_unknown_field_in_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: '${{ sites.par-1.city }}', port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:17:43: error: 'sites.par-1.city': a site has provider, region, datacenter, "
        "lat, lon"
    )


def test_unclosed_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, title: 'x ${{ params.port', check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        at(path, 17, "'x ") + ": error: unclosed '${{' in 'x ${{ params.port': "
        "write ${{ params.NAME }}"
    )


def test_undefined_step_in_needs(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: first, check: tcp.open, with: {host: h, port: 1}}\n"
        "  - {id: b, needs: [frist], check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:18:21: error: undefined step 'frist' (did you mean 'first'?)"
    )


def test_step_needing_itself(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, needs: [a], check: tcp.open, with: {host: h, port: 1}}\n")
    assert only(errors_of(path)) == f"{path}:17:21: error: step 'a' needs itself"


def test_dependency_cycle_is_named(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, needs: [c], check: tcp.open, with: {host: h, port: 1}}\n"
        "  - {id: b, needs: [a], check: tcp.open, with: {host: h, port: 1}}\n"
        "  - {id: c, needs: [b], check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == f"{path}:17:20: error: dependency cycle: a -> c -> b -> a"


@pytest.mark.parametrize("value", ["30 minutes", "30", "-5m", "1.5h", "m30"])
def test_bad_duration(with_steps: Steps, errors_of: Errors, value: str) -> None:
    path = with_steps(
        f"  - {{id: a, timeout: '{value}', check: tcp.open, with: {{host: h, port: 1}}}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:17:22: error: steps[0].timeout: invalid duration '{value}': use a number and "
        "a unit (ms, s, m, h, d, w), e.g. 90s, 30m, 26h, 1h30m"
    )


@pytest.mark.parametrize("value", ["2.1", "v2.1.0", "2.1.0.4", "01.2.3"])
def test_bad_semver(write: Write, errors_of: Errors, value: str) -> None:
    path = write(
        f"id: x\nversion: '{value}'\ntitle: t\nowner: o\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:2:10: error: version: invalid version '{value}': use semantic versioning "
        "MAJOR.MINOR.PATCH, e.g. 2.1.0"
    )


@pytest.mark.parametrize("value", ["0 3 * *", "61 3 * * 1", "every monday", "0 3 * * 1 2026"])
def test_bad_cron(write: Write, errors_of: Errors, value: str) -> None:
    path = write(
        f"id: x\nversion: 1.0.0\ntitle: t\nowner: o\ndrill: {{schedule: '{value}'}}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:5:19: error: drill.schedule: invalid cron expression '{value}': use five "
        "fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * 1'"
    )


def test_unknown_time_zone(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "drill: {schedule: '0 3 * * 1', timezone: Europe/Pariss}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert (
        only(errors_of(path))
        == f"{at(path, 5, 'Europe/Pariss')}: error: unknown time zone 'Europe/Pariss'"
    )


def test_drill_parameter_undefined(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "drill: {schedule: '0 3 * * 1', parameters: {reason: weekly}}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == f"{path}:5:45: error: undefined parameter 'reason'"


def test_parameter_default_of_wrong_type(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "parameters: {port: {type: integer, default: '443'}}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:5:20: error: parameters.port: value '443' is not of type integer"
    )


def test_approval_confirm_names_unknown_target(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: go, approval: {prompt: Go?, confirm: ams-1}}\n")
    assert only(errors_of(path)) == (
        f"{path}:17:47: error: confirm names 'ams-1', which is neither a site nor a host"
    )


def test_unknown_rollback_action(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - id: a\n    check: tcp.open\n    with: {host: h, port: 1}\n"
        "  - id: b\n    notify: incident.update\n    to: [oncall]\n"
    )
    assert errors_of is not None and path.exists()  # a valid file: the baseline for the next
    bad = with_steps("  - id: a\n    action: dns.swich\n    rollback: {action: dns.swich}\n")
    errors = errors_of(bad)
    hint = " (did you mean 'dns.switch'?)"
    assert f"{bad}:18:13: error: unknown action 'dns.swich'{hint}" in errors
    assert f"{bad}:19:24: error: unknown action 'dns.swich'{hint}" in errors


def test_invalid_name(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "sites: {'par 1': {provider: ovh, region: gra}}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:5:9: error: invalid name 'par 1': use letters, digits, '_' and '-', "
        "starting with a letter or '_'"
    )


def test_a_channel_may_reference_only_secrets(write: Write, errors_of: Errors) -> None:
    from tests.conftest import HEADER

    text = HEADER.replace('"json://127.0.0.1:9/hook"', '"json://h/${{ params.path }}"')
    path = write(text + "  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n")
    line = text.splitlines().index('  oncall: {channels: ["json://h/${{ params.path }}"]}') + 1
    where = at(path, line, '"json')
    assert only(errors_of(path)) == (
        f"{where}: error: stakeholders.oncall.channels[0]: only ${{{{ secrets.NAME }}}} "
        "may be used in a channel, "
        "not ${{ params.path }}"
    )


def test_an_irreversible_action_needs_an_approval_before_it(
    with_steps: Steps, errors_of: Errors
) -> None:
    path = with_steps(
        "  - {id: ask, approval: {prompt: go?}}\n"
        "  - {id: a, action: ssh.run, with: {host: web-a, argv: [uptime]}}\n"
        "  - {id: b, action: ssh.run, with: {host: web-a, argv: [uptime]}, needs: []}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 19, 'ssh.run')}: error: ssh.run cannot be undone and has no rollback: an "
        "approval step must come before it (in its needs, directly or through other steps)"
    )
