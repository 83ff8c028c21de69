"""Each loader error has its own test: exact message and the file position it points at.

HEADER in conftest is 16 lines long, so the first step given to ``with_steps`` is on line 17.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifeboat.comms.render import CommsError, override_path
from lifeboat.runbook import LoadedRunbook, source
from lifeboat.runbook.model import Stage
from tests.conftest import HEADER

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
        f"{path}:20:5: error: unknown key 'retires' in step 1 'a' (did you mean 'retries'?)"
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
        f"{path}:17:22: error: step 1 'a' retries: Input should be a valid integer, "
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
        f"{at(path, 19, 'high')}: error: step 1 'a' with.port: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def test_with_unknown_key(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - id: a\n    check: tcp.open\n    with: {host: h, port: 1, tls: true}\n")
    assert (
        only(errors_of(path))
        == f"{at(path, 19, 'tls')}: error: unknown key 'tls' in 'with' of step 1 'a'"
    )


def test_with_missing_key(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - id: a\n    check: tcp.open\n    with: {host: h}\n")
    assert (
        only(errors_of(path)) == f"{path}:19:11: error: missing key 'port' in 'with' of step 1 'a'"
    )


def test_with_bad_url(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, check: http.status, with: {url: 'not a url'}}\n")
    (error,) = errors_of(path)
    assert error.startswith(
        f"{path}:17:45: error: step 1 'a' with.url: Input should be a valid URL"
    )


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
        f"{at(path, 17, 'incident.closed')}: error: step 1 'a' notify: Input should be "
        "'maintenance.scheduled', 'incident.opened'"
    )


def test_undefined_parameter_in_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, title: 'port ${{ params.prot }}', check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        at(path, 17, "${{") + ": error: undefined parameter 'prot' in 'params.prot' "
        "(did you mean 'port'?)"
    )


def test_undefined_host_in_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: '${{ hosts.web-c.address }}', port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 17, '${{')}: error: undefined host 'web-c' in 'hosts.web-c.address' "
        "(did you mean 'web-b'?)"
    )


def test_unknown_field_in_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: '${{ sites.par-1.city }}', port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 17, '${{')}: error: 'sites.par-1.city': a site has provider, region, "
        "datacenter, lat, lon"
    )


def test_unclosed_template(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, title: 'x ${{ params.port', check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        at(path, 17, "${{") + ": error: unclosed '${{' in 'x ${{ params.port': "
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
        f"{path}:17:22: error: step 1 'a' timeout: invalid duration '{value}': use a number and "
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
    path = with_steps("  - {id: go, approval: {prompt: Go?, confirm: lon-9}}\n")
    assert only(errors_of(path)) == (
        f"{path}:17:47: error: confirm names 'lon-9', which is neither a site nor a host"
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


def test_escaped_control_character(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        '  - {id: a, title: "bell\\e[2J", check: tcp.open, with: {host: h, port: 1}}\n'
    )
    where = at(path, 17, '"bell')
    assert only(errors_of(path)) == (
        f"{where}: error: a value holds the control character U+001B "
        "(an escape such as \\0 or \\e): runbooks hold printable text"
    )


@pytest.mark.parametrize(
    ("text", "column"),
    [("base: &b {<<: *b}", 11), ("base: &a {<<: &b {<<: *a}}", 19)],
    ids=["itself", "through-another"],
)
def test_merge_into_itself(write: Write, errors_of: Errors, text: str, column: int) -> None:
    path = write(f"id: x\n{text}\n")
    assert only(errors_of(path)) == f"{path}:2:{column}: error: '<<' merges a mapping into itself"


def test_merges_nested_too_deep(write: Write, errors_of: Errors) -> None:
    chain = [f"m{i}: &m{i} {{<<: *m{i - 1}}}" for i in range(1, 66)]  # m65 merges 65 deep
    path = write("\n".join(["id: x", "m0: &m0 {k: v}", *chain]) + "\n")
    assert only(errors_of(path)) == (
        f"{at(path, 3, '<<')}: error: '<<' merges nested deeper than 64 levels"
    )


def test_merge_bomb_counts_toward_the_value_limit(
    write: Write, errors_of: Errors, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Empty mappings merged into each other: no value to copy, but 10**6 merges to walk
    # for a file of 8 lines. Each merge counts as a value.
    levels = [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, 7)]
    path = write("\n".join(["id: x", "m0: &m0 {}", *levels]) + "\n")
    # The work is counted, not timed: walking every merge is only ~2 s of CPU, too close to
    # any time bound a busy machine allows, but 1.2 million mappings walked; refusing walks
    # about MAX_NODES (each one counted), the bound allows twice that.
    walked: list[None] = []
    walk = source._Walker._mapping

    def counted(*args: Any, **kwargs: Any) -> Any:
        walked.append(None)
        return walk(*args, **kwargs)

    monkeypatch.setattr(source._Walker, "_mapping", counted)
    errors = errors_of(path)
    assert len(walked) <= 2 * source.MAX_NODES, (
        f"a merge bomb must be refused, not walked: {len(walked)} mappings walked"
    )
    assert only(errors) == (
        f"{at(path, 2, '&m0')}: error: document expands to more than 100000 values "
        "(a YAML alias bomb?)"
    )


@pytest.mark.parametrize(("digits", "count"), [("1" * 101, 101), ("0x" + "f" * 101, 103)])
def test_integer_with_too_many_digits(
    with_steps: Steps, errors_of: Errors, digits: str, count: int
) -> None:
    path = with_steps(f"  - {{id: a, check: tcp.open, with: {{host: h, port: {digits}}}}}\n")
    assert only(errors_of(path)) == (
        f"{at(path, 17, digits)}: error: integer of {count} digits: a runbook number has at "
        "most 100"
    )


@pytest.mark.parametrize("value", ["36501d", "99999999999999999999w", "9" * 5000 + "s"])
def test_duration_too_long(with_steps: Steps, errors_of: Errors, value: str) -> None:
    path = with_steps(
        f"  - {{id: a, timeout: {value}, check: tcp.open, with: {{host: h, port: 1}}}}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:17:22: error: step 1 'a' timeout: duration '{value}' is too long: "
        "at most 36500d (a century)"
    )


def test_unknown_time_zone_too_long_for_a_file_name(write: Write, errors_of: Errors) -> None:
    zone = "Europe/" + "P" * 300  # the system refuses the name (OSError), not a lookup
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        f"drill: {{schedule: '0 3 * * 1', timezone: {zone}}}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == f"{at(path, 5, 'Europe/')}: error: unknown time zone '{zone}'"


def test_file_over_one_mebibyte_is_not_read_whole(tmp_path: Path, errors_of: Errors) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"id: x\n" + b"# padding\n" * 300_000)  # 3 MB: only 1 MiB + 1 is read
    size = path.stat().st_size
    assert only(errors_of(path)) == (
        f"{path}:1:1: error: file is {size} bytes; a runbook may be at most 1 MiB"
    )


def test_endless_file_is_refused_after_one_mebibyte(errors_of: Errors) -> None:
    path = Path("/dev/zero")  # its size says 0: the bytes read tell
    if not path.exists():
        pytest.skip("no /dev/zero here")
    assert only(errors_of(path)) == (
        f"{path}:1:1: error: file is more than 1 MiB; a runbook may be at most 1 MiB"
    )


UNSAFE = "name a file inside the runbook's folder (relative, no '..' component)"


@pytest.mark.parametrize("script", ["../x.sh", "/etc/shadow", "scripts/../../x.sh"])
def test_script_outside_the_runbook_folder(
    with_steps: Steps, errors_of: Errors, script: str
) -> None:
    path = with_steps(
        "  - {id: ask, approval: {prompt: go?}}\n"
        "  - {id: a, needs: [ask], action: ssh.script,"
        f" with: {{host: web-a, script: {script}}}}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 18, script)}: error: step 2 'a' with.script: unsafe file name "
        f"'{script}': {UNSAFE}"
    )


def test_put_source_outside_the_runbook_folder(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, action: file.put, with: {host: web-a, path: /tmp/x, source: ../../k}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 17, '../../k')}: error: step 1 'a' with.source: unsafe file name "
        f"'../../k': {UNSAFE}"
    )


def test_template_outside_the_runbook_folder(write: Write, errors_of: Errors) -> None:
    text = HEADER.replace("steps:\n", "comms: {templates: {incident.opened: /etc/t.j2}}\nsteps:\n")
    path = write(text + "  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n")
    assert only(errors_of(path)) == (
        f"{at(path, 16, '/etc')}: error: comms.templates.incident.opened: unsafe file name "
        f"'/etc/t.j2': {UNSAFE}"
    )


def test_template_symlink_leading_out_of_the_runbook_folder(
    tmp_path: Path, write: Write, loads: Callable[[Path], LoadedRunbook]
) -> None:
    """A symlink can only be seen when the template is read: the renderer refuses it."""
    (tmp_path / "secret").write_text("{{ not yours }}", encoding="utf-8")
    folder = tmp_path / "rb"
    folder.mkdir()
    (folder / "t.j2").symlink_to(tmp_path / "secret")
    text = HEADER.replace("steps:\n", "comms: {templates: {incident.opened: t.j2}}\nsteps:\n")
    path = folder / "runbook.yaml"
    path.write_text(text + "  - {id: a, notify: incident.opened, to: [oncall]}\n", "utf-8")
    runbook = loads(path).runbook
    with pytest.raises(CommsError) as info:
        override_path(runbook, path, Stage.incident_opened)
    assert str(info.value) == (
        f"template {folder / 't.j2'} leads outside the runbook's folder {folder}: refused"
    )


BACKUP = "backups:\n  db: {protects: web-a, copies: [{uri: 's3://b/', site: par-1}]}\n"
WITH_BACKUP = HEADER.replace("stakeholders:", BACKUP + "stakeholders:")


def test_restore_scratch_climbing_out(write: Write, errors_of: Errors) -> None:
    path = write(
        WITH_BACKUP
        + "  - {id: a, check: backup.restore_test, with: {backup: db, scratch: /tmp/../etc}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 19, '/tmp')}: error: step 1 'a' with.scratch: unsafe path '/tmp/../etc': "
        "no '..' component, no leading '-', not empty"
    )


def test_restore_scratch_must_be_absolute(write: Write, errors_of: Errors) -> None:
    path = write(
        WITH_BACKUP
        + "  - {id: a, check: backup.restore_test, with: {backup: db, scratch: tmp/x}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 19, 'tmp/x')}: error: step 1 'a' with.scratch: String should match pattern '^/'"
    )


def test_did_you_mean_stops_after_twenty_names(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: first, check: tcp.open, with: {host: h, port: 1}}\n"
        + "".join(
            f"  - {{id: s{i}, needs: [frist], check: tcp.open, with: {{host: h, port: 1}}}}\n"
            for i in range(21)
        )
    )
    errors = errors_of(path)
    assert len(errors) == 21
    assert all(e.endswith("undefined step 'frist' (did you mean 'first'?)") for e in errors[:20])
    assert errors[20] == f"{at(path, 38, 'frist')}: error: undefined step 'frist'"


def test_did_you_mean_stops_after_twenty_unknown_keys(write: Write, errors_of: Errors) -> None:
    keys = "".join(f"titl{i}: t\n" for i in range(21))
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        + keys
        + "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"
    )
    errors = errors_of(path)
    assert len(errors) == 21
    assert all(e.endswith("(did you mean 'title'?)") for e in errors[:20])
    assert errors[20] == f"{path}:25:1: error: unknown key 'titl20'"


def test_at_most_ten_dependency_cycles_are_reported(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "".join(
            f"  - {{id: a{i}, needs: [b{i}], check: tcp.open, with: {{host: h, port: 1}}}}\n"
            f"  - {{id: b{i}, needs: [a{i}], check: tcp.open, with: {{host: h, port: 1}}}}\n"
            for i in range(11)
        )
    )
    errors = errors_of(path)
    assert len(errors) == 10
    assert errors[-1] == (
        f"{path}:35:21: error: dependency cycle: a9 -> b9 -> a9 "
        "(and more cycles: only the first 10 are reported)"
    )


def test_long_dependency_cycle_is_shortened(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "".join(
            f"  - {{id: s{i}, needs: [s{(i + 1) % 22}], check: tcp.open, "
            "with: {host: h, port: 1}}\n"
            for i in range(22)
        )
    )
    shown = " -> ".join(f"s{i}" for i in range(20))
    assert only(errors_of(path)) == (
        f"{path}:17:21: error: dependency cycle: {shown} -> ... (2 more) -> s0"
    )
