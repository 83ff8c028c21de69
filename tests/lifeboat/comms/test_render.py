"""Every shipped template renders, strictly, for every stage, language and audience."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.comms.message import Progress, StepLine, build
from lifeboat.comms.render import AUDIENCES, LANGUAGES, TEMPLATES, CommsError, render
from lifeboat.runbook import LoadedRunbook, load
from lifeboat.runbook.model import Runbook, Stage

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def failover() -> Runbook:
    return load(REPO / "runbooks" / "webapp-failover.yaml").runbook


def test_every_template_is_shipped() -> None:
    for lang in LANGUAGES:
        for audience in AUDIENCES:
            for stage in Stage:
                assert (TEMPLATES / lang / audience / f"{stage.value}.txt.j2").is_file()


@pytest.mark.parametrize("stage", list(Stage), ids=lambda s: s.value)
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_renders_with_no_undefined_variable(
    failover: Runbook, stage: Stage, lang: str, audience: str
) -> None:
    done = [StepLine(id="scope", title="Is the primary answering?")]
    failed = [StepLine(id="fresh", title="Fresh backup", error="newest copy is 30h old")]
    bare = build(failover, stage)  # nothing done, no incident, no parameters
    full = build(
        failover,
        stage,
        progress=Progress(total=13, done=done, failed=failed),
        incident="INC-9",
        reason="site loss",
        params={"window": "Sunday 02:00-04:00 CET"},
        mode="drill",
    )
    for message in (bare, full):
        rendered = render(message, lang, audience)
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.body.strip()
        assert "\n\n\n" not in rendered.body
    assert render(full, lang, audience).subject.startswith("[DRILL] ")
    assert not render(bare, lang, audience).subject.startswith("[DRILL]")


def test_internal_message_lists_failed_steps_and_customer_message_does_not(
    failover: Runbook,
) -> None:
    failed = [StepLine(id="fresh", title="Fresh backup", error="newest copy is 30h old")]
    message = build(failover, Stage.incident_update, progress=Progress(total=13, failed=failed))
    assert "newest copy is 30h old" in render(message, "en", "internal").body
    customers = render(message, "en", "customers").body
    assert "30h old" not in customers and "1 needed another way" in customers


@pytest.mark.parametrize("lang", LANGUAGES)
def test_subject_never_holds_cr_or_lf(failover: Runbook, lang: str) -> None:
    message = build(failover, Stage.incident_opened, incident="INC-1\r\nBcc: all@example.com")
    for audience in AUDIENCES:
        subject = render(message, lang, audience).subject
        assert "\r" not in subject and "\n" not in subject
        assert "INC-1 Bcc: all@example.com" in subject


def test_eta_from_rto_then_revised_from_progress(failover: Runbook) -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    early = build(failover, Stage.incident_update, detected_at="2026-01-01T11:50:00+00:00", now=now)
    assert early.estimate.eta == "2026-01-01 12:20 UTC" and not early.estimate.revised
    done = [StepLine(id=f"s{n}", title="t") for n in range(3)]
    late = build(
        failover,
        Stage.incident_update,
        progress=Progress(total=13, done=done),
        detected_at="2026-01-01T11:00:00+00:00",
        now=now,
    )
    # 60 minutes for 3 steps, 10 left: 200 minutes more.
    assert late.estimate.revised and late.estimate.eta == "2026-01-01 15:20 UTC"
    text = render(late, "en", "customers").body
    assert "We revised this estimate" in text and "3 of 13 steps done" in text


def test_no_rto_says_there_is_no_estimate_yet(
    write: Callable[..., Path], loads: Callable[[Path], LoadedRunbook]
) -> None:
    rb = loads(
        write(
            "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
            "stakeholders: {c: {channels: ['json://127.0.0.1:9/'], audience: customers}}\n"
            "steps:\n  - {id: tell, notify: incident.opened, to: [c]}\n"
        )
    ).runbook
    message = build(rb, Stage.incident_opened)
    assert "no estimate yet" in render(message, "en", "customers").body
    assert "pas encore d'estimation" in render(message, "fr", "customers").body
    assert "nog geen schatting" in render(message, "nl", "customers").body


def test_runbook_template_overrides_the_shipped_one(failover: Runbook, tmp_path: Path) -> None:
    own = tmp_path / "opened.txt.j2"
    own.write_text(
        '{% import "en/_parts.j2" as p %}\nDown: {{ p.service(m) }} ({{ lang }}, {{ audience }})\n'
        "Sorry. {{ p.support(m)|trim }}\n"
    )
    rendered = render(build(failover, Stage.incident_opened), "fr", "customers", override=own)
    assert rendered.subject == "Down: la boutique en ligne Example (fr, customers)"
    assert rendered.body.startswith("Sorry. Support: support@example.com")


def test_unknown_variable_is_an_error_not_an_empty_string(
    failover: Runbook, tmp_path: Path
) -> None:
    own = tmp_path / "bad.txt.j2"
    own.write_text("Subject {{ m.nope }}\n")
    with pytest.raises(CommsError, match="'dict object' has no attribute 'nope'"):
        render(build(failover, Stage.incident_opened), "en", "internal", override=own)


def test_templates_are_sandboxed(failover: Runbook, tmp_path: Path) -> None:
    own = tmp_path / "evil.txt.j2"
    own.write_text("{{ ''.__class__.__mro__ }}\n")
    with pytest.raises(CommsError, match="unsafe"):
        render(build(failover, Stage.incident_opened), "en", "internal", override=own)


def test_missing_override_file_is_named(failover: Runbook, tmp_path: Path) -> None:
    with pytest.raises(CommsError, match=r"nowhere\.txt\.j2"):
        render(
            build(failover, Stage.incident_opened),
            "en",
            "internal",
            override=tmp_path / "nowhere.txt.j2",
        )


def test_next_update_is_promised(failover: Runbook) -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    message = build(failover, Stage.incident_opened, now=now)
    assert message.next_update == "2026-01-01 12:30 UTC"
    assert (now + timedelta(minutes=30)).strftime("%H:%M") in render(
        message, "nl", "customers"
    ).body
