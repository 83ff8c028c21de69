"""``comms lint``: missing parts per stage, and internal names disclosed to customers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.comms.lint import disclosed, internal_names, lint
from lifeboat.runbook import LoadedRunbook, load

REPO = Path(__file__).resolve().parents[3]
Write = Callable[..., Path]
Loads = Callable[[Path], LoadedRunbook]

BASE = """\
id: comms-test
version: 1.0.0
title: Fail over from Strasbourg
owner: sre@example.com
objectives: {rto: 30m}
sites:
  sbg: {provider: ovh, region: sbg, datacenter: sbg-2}
hosts:
  web-a: {site: sbg, address: web-a.sbg.example.net}
stakeholders:
  customers: {language: fr, audience: customers, channels: ["json://127.0.0.1:9/c"]}
  oncall: {channels: ["json://127.0.0.1:9/o"]}
"""
SUPPORT = 'support: {email: support@example.com, phone: "+33 1 23 45 67 89"}\n'
STEPS = "steps:\n  - {id: announce, notify: incident.opened, to: [customers, oncall]}\n"


def findings(path: Path) -> list[str]:
    return [str(f) for f in lint(load(path).runbook, path)]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "runbooks").glob("*.yaml")))
def test_shipped_runbooks_lint_clean(name: str) -> None:
    assert findings(REPO / "runbooks" / name) == []


def test_shipped_runbooks_tell_customers_as_customers() -> None:
    for name in ("webapp-failover", "planned-switchover", "failback"):
        rb = load(REPO / "runbooks" / f"{name}.yaml").runbook
        assert rb.stakeholders["customers"].audience == "customers"
        assert rb.comms.service


def test_clean_runbook(write: Write) -> None:
    assert findings(write(BASE + SUPPORT + STEPS)) == []


def test_missing_support_contact_is_named_for_customers_only(write: Write) -> None:
    path = write(BASE + STEPS)
    assert findings(path) == [
        f"{path}: step announce (incident.opened, fr, customers): missing a support contact",
        f"{path}: when the run fails (incident.failed, fr, customers): missing a support contact",
    ]


def test_template_without_apology_nor_eta(write: Write, tmp_path: Path) -> None:
    (tmp_path / "opened.txt.j2").write_text(
        "Panne de {{ m.service or 'service' }}\n{{ m.support.email }}\n"
    )
    path = write(BASE + SUPPORT + "comms: {templates: {incident.opened: opened.txt.j2}}\n" + STEPS)
    where = f"{path}: step announce (incident.opened"
    assert findings(path) == [
        f"{where}, en, internal): missing an ETA (or a plain statement that there is none yet)",
        f"{where}, en, internal): missing an apology",
        f"{where}, fr, customers): missing an ETA (or a plain statement that there is none yet)",
        f"{where}, fr, customers): missing an apology",
    ]


def test_host_named_to_customers_is_a_disclosure_but_not_to_internal(
    write: Write, tmp_path: Path
) -> None:
    (tmp_path / "opened.txt.j2").write_text(
        '{% import "fr/_parts.j2" as p %}\n'
        "Panne\nweb-a ne répond plus. {{ p.eta(m)|trim }} {{ p.support(m)|trim }} Désolés, sorry.\n"
    )
    path = write(BASE + SUPPORT + "comms: {templates: {incident.opened: opened.txt.j2}}\n" + STEPS)
    assert findings(path) == [
        f"{path}: step announce (incident.opened, fr, customers): discloses host 'web-a' "
        "to customers"
    ]


def test_service_naming_the_provider_is_a_disclosure(write: Write) -> None:
    path = write(BASE + SUPPORT + "comms: {service: our OVH web shop}\n" + STEPS)
    assert findings(path) == [
        f"{path}: step announce (incident.opened, fr, customers): discloses provider 'ovh' "
        "to customers",
        f"{path}: when the run fails (incident.failed, fr, customers): discloses provider 'ovh' "
        "to customers",
    ]


def test_missing_override_template_is_a_finding(write: Write) -> None:
    path = write(BASE + SUPPORT + "comms: {templates: {incident.opened: gone.j2}}\n" + STEPS)
    found = findings(path)
    assert len(found) == 2 and all("gone.j2" in f for f in found)


def test_resolved_needs_lessons_and_preventive_measures(write: Write, tmp_path: Path) -> None:
    (tmp_path / "resolved.txt.j2").write_text("Fixed\nAll good, sorry.\n")
    path = write(
        BASE
        + SUPPORT
        + "comms: {templates: {incident.resolved: resolved.txt.j2}}\n"
        + "steps:\n  - {id: done, notify: incident.resolved, to: [oncall]}\n"
    )
    assert findings(path) == [
        f"{path}: step done (incident.resolved, en, internal): missing the lessons learnt",
        f"{path}: step done (incident.resolved, en, internal): missing the preventive measures",
    ]


def test_maintenance_needs_its_window(write: Write) -> None:
    steps = "steps:\n  - {id: plan, notify: maintenance.scheduled, to: [customers]}\n"
    path = write(BASE + SUPPORT + steps)
    assert findings(path) == [
        f"{path}: step plan (maintenance.scheduled, fr, customers): missing the maintenance window"
    ]
    window = "parameters: {window: {type: string, default: 'dimanche 2h-4h'}}\n"
    assert findings(write(BASE + SUPPORT + window + steps)) == []


def test_disclosed_names_the_longest_match_once(loads: Loads, write: Write) -> None:
    names = internal_names(loads(write(BASE + SUPPORT + STEPS)).runbook)
    assert disclosed("reach web-a.sbg.example.net now", names) == [
        ("web-a.sbg.example.net", "host address")
    ]
    assert disclosed("Strasbourg, OVH and SBG-2", names) == [
        ("sbg-2", "datacenter"),
        ("ovh", "provider"),
    ]
    assert disclosed("the web shop is gratis", names) == []


def test_the_closing_message_of_a_failed_run_is_linted_for_everyone_a_step_tells(
    write: Write, tmp_path: Path
) -> None:
    (tmp_path / "failed.txt.j2").write_text(
        "Still down\nWe are on it, sorry. {{ m.support.email }}\n"
    )
    path = write(BASE + SUPPORT + "comms: {templates: {incident.failed: failed.txt.j2}}\n" + STEPS)
    where = f"{path}: when the run fails (incident.failed"
    assert findings(path) == [
        f"{where}, en, internal): missing the next update's time",
        f"{where}, en, internal): missing the command that resumes the run",
        f"{where}, fr, customers): missing the next update's time",
        f"{where}, fr, customers): missing an apology",  # "sorry" is not French
    ]


def test_a_closing_message_override_that_renders_nothing_is_named(
    write: Write, tmp_path: Path
) -> None:
    (tmp_path / "failed.txt.j2").write_text("{% if audience == 'internal' %}Down\nx\n{% endif %}")
    path = write(BASE + SUPPORT + "comms: {templates: {incident.failed: failed.txt.j2}}\n" + STEPS)
    assert findings(path)[-1] == (
        f"{path}: when the run fails (incident.failed, fr, customers): renders no subject or "
        "no body: the run would send the shipped template instead"
    )


def test_no_notify_step_means_no_closing_message_to_lint(write: Write, tmp_path: Path) -> None:
    (tmp_path / "failed.txt.j2").write_text("")
    steps = "steps:\n  - {id: wait, check: wait, with: {duration: 1s}}\n"
    path = write(BASE + "comms: {templates: {incident.failed: failed.txt.j2}}\n" + steps)
    assert findings(path) == []
