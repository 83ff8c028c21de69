""" "Did you mean" for misspelt parameters, hosts, sites and stakeholders, wherever named.

HEADER in conftest is 16 lines long, so the first step given to ``with_steps`` is on line 17.
It declares parameters port and path, sites par-1 and fra-1, hosts web-a and web-b, and
the stakeholder oncall.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import HEADER

Steps = Callable[[str], Path]
Write = Callable[..., Path]
Errors = Callable[[Path], list[str]]


def at(path: Path, line: int, token: str) -> str:
    text = path.read_text(encoding="utf-8").splitlines()[line - 1]
    return f"{path}:{line}:{text.index(token) + 1}"


def only(errors: list[str]) -> str:
    assert len(errors) == 1, errors
    return errors[0]


def test_misspelt_site_in_a_reference(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, title: 'in ${{ sites.par-2.region }}', check: tcp.open, "
        "with: {host: h, port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 17, '${{')}: error: undefined site 'par-2' in 'sites.par-2.region' "
        "(did you mean 'par-1'?)"
    )


def test_misspelt_drill_parameter(write: Write, errors_of: Errors) -> None:
    text = HEADER.replace("steps:\n", "drill: {schedule: '0 3 * * 1', parameters: {prot: 80}}\n")
    path = write(text + "steps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n")
    assert only(errors_of(path)) == (
        f"{at(path, 16, 'prot')}: error: undefined parameter 'prot' (did you mean 'port'?)"
    )


def test_misspelt_confirm_target(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: go, approval: {prompt: Go?, confirm: fra-2}}\n")
    assert only(errors_of(path)) == (
        f"{at(path, 17, 'fra-2')}: error: confirm names 'fra-2', which is neither a site nor "
        "a host (did you mean 'fra-1'?)"
    )


def test_misspelt_stakeholder(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps("  - {id: a, notify: incident.opened, to: [on-call]}\n")
    assert only(errors_of(path)) == (
        f"{at(path, 17, 'on-call')}: error: undefined stakeholder 'on-call' "
        "(did you mean 'oncall'?)"
    )


def test_did_you_mean_in_references_stops_after_twenty(
    with_steps: Steps, errors_of: Errors
) -> None:
    path = with_steps(
        "".join(
            f"  - {{id: s{i}, title: '${{{{ params.prot }}}}', check: tcp.open, "
            "with: {host: h, port: 1}}\n"
            for i in range(21)
        )
    )
    errors = errors_of(path)
    assert len(errors) == 21
    assert all(e.endswith("(did you mean 'port'?)") for e in errors[:20])
    assert errors[20].endswith("error: undefined parameter 'prot' in 'params.prot'")
