"""``${{ ... }}`` references inside step strings.

Grammar (deliberately tiny; no expressions, no filters, nothing to execute)::

    ${{ params.NAME }}            a runbook parameter
    ${{ hosts.NAME.FIELD }}       address, port, user, site
    ${{ sites.NAME.FIELD }}       provider, region, datacenter, lat, lon
    ${{ run.FIELD }}              mode, reason, incident, detected_at, id

A string that is exactly one reference renders to the referenced value with its type
(an integer port stays an integer). A reference inside a longer string is substituted as
text, and the result is still one string: rendering never splits a value, so an argv item
stays one argv item whatever the parameter contains.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

OPEN = "${{"
_REFERENCE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_SEGMENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_EXPRESSION = re.compile(rf"^(params|hosts|sites|run)((?:\.{_SEGMENT})+)$")

FIELDS = {
    "hosts": ("address", "port", "user", "site"),
    "sites": ("provider", "region", "datacenter", "lat", "lon"),
    "run": ("mode", "reason", "incident", "detected_at", "id"),
}


@dataclass
class Scope:
    """Names (for validation) or values (for rendering) that references may use."""

    params: dict[str, Any] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)


class TemplateError(ValueError):
    """A reference that is malformed or names something undefined.

    ``offset``: where the faulty ``${{`` starts in the string, when known; ``undefined`` and
    ``choices``: the name that is not defined and the names that are (for "did you mean").
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        undefined: str | None = None,
        choices: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.undefined = undefined
        self.choices = choices


def strings(
    value: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside nested dicts and lists, with its path."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, (*loc, index))


def references(text: str) -> list[str]:
    """The expressions in ``text``; raises ``TemplateError`` on an unclosed ``${{``."""
    found = _REFERENCE.findall(text)
    if text.count(OPEN) != len(found):
        raise TemplateError(
            f"unclosed '{OPEN}' in {text!r}: write ${{{{ params.NAME }}}}",
            offset=_unclosed(text),
        )
    return found


def offsets(text: str) -> list[int]:
    """Where each reference of ``text`` starts (its ``${{``), in the order of ``references``."""
    return [match.start() for match in _REFERENCE.finditer(text)]


def _unclosed(text: str) -> int:
    """The first ``${{`` with no ``}}`` before the next ``${{`` (or the end)."""
    start = text.find(OPEN)
    while start >= 0:
        following = text.find(OPEN, start + len(OPEN))
        close = text.find("}}", start + len(OPEN))
        if close < 0 or 0 <= following < close:
            return start
        start = following
    return max(text.find(OPEN), 0)


def check(expression: str, scope: Scope) -> None:
    """Raise ``TemplateError`` unless ``expression`` names something ``scope`` defines."""
    match = _EXPRESSION.match(expression)
    if not match:
        raise TemplateError(
            f"invalid reference '{expression}': use params.NAME, hosts.NAME.FIELD, "
            "sites.NAME.FIELD or run.FIELD"
        )
    root, parts = match.group(1), match.group(2).split(".")[1:]
    if root == "params":
        _expect(len(parts) == 1, f"'{expression}': write params.NAME")
        _defined(parts[0], scope.params, f"undefined parameter '{parts[0]}' in '{expression}'")
    elif root == "run":
        _expect(
            len(parts) == 1 and parts[0] in FIELDS["run"],
            f"'{expression}': run has {', '.join(FIELDS['run'])}",
        )
    else:
        entities = scope.hosts if root == "hosts" else scope.sites
        noun = root[:-1]
        _expect(len(parts) == 2, f"'{expression}': write {root}.NAME.FIELD")
        _defined(parts[0], entities, f"undefined {noun} '{parts[0]}' in '{expression}'")
        _expect(parts[1] in FIELDS[root], f"'{expression}': a {noun} has {', '.join(FIELDS[root])}")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise TemplateError(message)


def _defined(name: str, table: dict[str, Any], message: str) -> None:
    if name not in table:
        choices = tuple(n for n in table if isinstance(n, str))
        raise TemplateError(message, undefined=name, choices=choices)


def lookup(expression: str, scope: Scope) -> Any:
    check(expression, scope)
    root, *parts = expression.split(".")
    if root == "params":
        return scope.params[parts[0]]
    if root == "run":
        return scope.run.get(parts[0])
    entities = scope.hosts if root == "hosts" else scope.sites
    return entities[parts[0]].get(parts[1])


def render(value: Any, scope: Scope) -> Any:
    """``value`` with every reference replaced; dicts and lists are rendered item by item."""
    if isinstance(value, dict):
        return {key: render(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope) for item in value]
    if not isinstance(value, str) or OPEN not in value:
        return value
    found = references(value)
    whole = _REFERENCE.fullmatch(value.strip())
    if whole and len(found) == 1:
        return lookup(found[0], scope)
    return _REFERENCE.sub(lambda m: _text(lookup(m.group(1), scope)), value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
