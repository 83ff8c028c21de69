"""``lifeboat report RUN``: the post-incident review of one run, as Markdown or HTML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lifeboat.console import EXIT_INVALID, err, fail


def find_journal(run: str, runs_dir: Path) -> Path:
    """RUN is a run id under ``runs_dir``, a run folder, or a journal file."""
    given = Path(run)
    for candidate in (given, given / "journal.jsonl", runs_dir / run / "journal.jsonl"):
        if candidate.is_file():
            return candidate
    fail(f"unknown run {run!r}: no journal at {runs_dir / run / 'journal.jsonl'}", EXIT_INVALID)


def report(
    run: Annotated[str, typer.Argument(help="A run id, or the path of its journal.jsonl.")],
    format: Annotated[str, typer.Option("--format", "-f", help="md or html")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    save: Annotated[
        bool, typer.Option(help="Also write review.md / review.html next to the journal.")
    ] = True,
) -> None:
    """The post-incident review of a run: what happened, RTO and RPO achieved against the
    objectives, timeline (a chart in HTML), steps, approvals and how each was given, what
    each action changed and how its rollback ended, checks' evidence, every message sent
    with its full text, rollbacks, and whether the journal's signature and off-site copy
    verify."""
    from lifeboat.audit.render_review import render
    from lifeboat.audit.review import build
    from lifeboat.redact import Redactor
    from lifeboat.settings import Settings

    if format not in ("md", "html"):
        fail(f"--format must be md or html, not {format!r}", EXIT_INVALID)
    settings = Settings()
    journal = find_journal(run, settings.runs_dir)
    redactor = Redactor(settings.secret_values())
    try:
        review = build(journal, redactor, settings)
    except (ValueError, OSError) as exc:
        fail(f"{journal}: cannot build the review: {exc}", EXIT_INVALID)
    text = redactor.text(render(review, format))
    if save:
        beside = journal.parent / f"review.{format}"
        try:
            beside.write_text(text, encoding="utf-8")
        except OSError as exc:  # a read-only copy of a journal still gets its review printed
            err.print(f"warning: could not write {beside}: {exc}", markup=False)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        err.print(f"review written to {output}", markup=False)
    else:
        sys.stdout.write(text)
