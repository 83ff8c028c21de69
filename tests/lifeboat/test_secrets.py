"""``${{ secrets.NAME }}`` in channel URLs: resolved from the environment, redacted everywhere."""

from __future__ import annotations

import pytest

from lifeboat import secrets
from lifeboat.settings import Settings


def test_resolves_from_lifeboat_secret_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFEBOAT_SECRET_ONCALL_TOKEN", "tok-123")
    assert secrets.resolve("json://h/${{ secrets.oncall-token }}/x") == "json://h/tok-123/x"


def test_a_missing_secret_is_an_access_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIFEBOAT_SECRET_NOPE", raising=False)
    with pytest.raises(secrets.SecretMissing) as info:
        secrets.resolve("${{secrets.nope}}")
    assert str(info.value) == "secret 'nope' is not set (LIFEBOAT_SECRET_NOPE)"
    assert info.value.code == "access.no_secret"


def test_every_secret_value_reaches_the_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFEBOAT_SECRET_HOOK", "json://127.0.0.1:1/very-secret")
    assert "json://127.0.0.1:1/very-secret" in Settings().secret_values()


def test_other_references_are_problems() -> None:
    assert secrets.problems("mailto://${{ secrets.mail }}") == []
    assert secrets.problems("x${{ run.id }}") == [
        "only ${{ secrets.NAME }} may be used in a channel, not ${{ run.id }}"
    ]
