"""The post-incident review on the flow run: a Markdown artifact and a table of the steps.

Thin: ``lifeboat.audit.review`` computes the review from the journal; this module only
hands it to Prefect. Called after the run ended; a failure here never fails the run.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from lifeboat.redact import Redactor
from lifeboat.settings import Settings


def artifact_key(runbook_id: str, suffix: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9-]+", "-", runbook_id.lower()).strip("-") or "runbook"
    return f"{slug}-{suffix}"


def publish_review(
    journal: Path,
    redactor: Redactor,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    settings: Settings,
) -> bool:
    """Write the review of the run journaled at ``journal`` beside it (``review.md`` and
    ``review.html``, copied off-site when configured) and publish it as artifacts; False
    (logged) if it failed."""
    from lifeboat.audit import offsite
    from lifeboat.audit.render_review import html, markdown, step_table
    from lifeboat.audit.review import build

    try:
        review = build(journal, redactor, settings)
        text = redactor.text(markdown(review))
        (journal.parent / "review.md").write_text(text, encoding="utf-8")
        (journal.parent / "review.html").write_text(redactor.text(html(review)), encoding="utf-8")
        offsite.after_review(journal.parent, settings, logger.info)
        rows = redactor.data(step_table(review))
        description = f"Post-incident review of run {review.run_id}"
        create_markdown_artifact(
            markdown=text, key=artifact_key(review.runbook.id, "review"), description=description
        )
        create_table_artifact(
            table=rows, key=artifact_key(review.runbook.id, "steps"), description=description
        )
    except Exception as exc:  # the run's outcome stands whatever the review does
        logger.warning(
            redactor.text(f"post-incident review not published: {type(exc).__name__}: {exc}")
        )
        return False
    logger.info(
        f"post-incident review published as artifacts {artifact_key(review.runbook.id, 'review')}"
    )
    return True
