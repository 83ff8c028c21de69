"""Render a ``Message`` with Jinja2 templates: one per stage, language and audience.

Shipped templates live in ``templates/<lang>/<audience>/<stage>.txt.j2``; a runbook's
``comms.templates`` replaces a stage's template (for every language and audience: it sees
``lang`` and ``audience``) with a file relative to the runbook. The first line rendered is
the subject, the rest the body. Rendering is sandboxed (a template cannot reach Python
internals) and strict (an unknown variable is an error, not an empty string).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from lifeboat.comms.message import Message
from lifeboat.errors import LifeboatError
from lifeboat.runbook.model import Runbook, Stage

Language = Literal["en", "fr", "nl"]
Audience = Literal["customers", "internal"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "nl")
AUDIENCES: tuple[Audience, ...] = ("customers", "internal")
TEMPLATES = Path(__file__).parent / "templates"


class CommsError(LifeboatError):
    """A message could not be rendered: missing or broken template."""


@dataclass(frozen=True)
class Rendered:
    stage: Stage
    lang: str
    audience: str
    subject: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.subject}\n{self.body}"


def one_line(text: str) -> str:
    """A header value on one line: CR, LF and every other whitespace run become one space."""
    return " ".join(text.split())


def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # plain text, not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


_ENV = environment()


def override_path(runbook: Runbook, runbook_path: Path | None, stage: Stage) -> Path | None:
    """The runbook's own template for this stage, if it names one.

    Raises ``CommsError`` when the file is a symlink leading out of the runbook's folder:
    a message must not carry the orchestrator's files (the loader already refuses absolute
    names and ``..``).
    """
    name = runbook.comms.templates.get(stage)
    if name is None:
        return None
    base = runbook_path.parent if runbook_path is not None else Path.cwd()
    path = base / name
    if not path.resolve().is_relative_to(base.resolve()):
        raise CommsError(f"template {path} leads outside the runbook's folder {base}: refused")
    return path


def render(message: Message, lang: str, audience: str, *, override: Path | None = None) -> Rendered:
    try:
        if override is not None:
            try:
                source = override.read_text(encoding="utf-8")
            except OSError as exc:
                raise CommsError(f"template {override}: {exc.strerror or exc}") from exc
            template = _ENV.from_string(source)
        else:
            template = _ENV.get_template(f"{lang}/{audience}/{message.stage.value}.txt.j2")
        text = template.render(lang=lang, audience=audience, **message.context())
    except jinja2.TemplateError as exc:
        where = override or f"{lang}/{audience}/{message.stage.value}"
        raise CommsError(f"template {where}: {exc}") from exc
    first, _, rest = text.lstrip("\r\n").partition("\n")
    subject = one_line(first)
    if message.drill and not subject.startswith("[DRILL]"):
        subject = f"[DRILL] {subject}"
    return Rendered(message.stage, lang, audience, subject, _tidy(rest))


def _tidy(body: str) -> str:
    """Trailing spaces off, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in body.splitlines()]
    kept = [line for n, line in enumerate(lines) if line or (n and lines[n - 1])]
    return "\n".join(kept).strip("\n") + "\n"
