"""``${{ secrets.NAME }}`` in channel URLs: the environment first, then the run's source
(Prefect Secret blocks in a flow run, a fake here), every value redacted everywhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lifeboat import secrets
from lifeboat.settings import Settings


class FakeSource:
    """A ``SecretSource`` holding ``held``; records every name it was asked for."""

    def __init__(self, held: dict[str, str], broken: bool = False) -> None:
        self.held, self.broken = held, broken
        self.asked: list[str] = []

    def get(self, name: str) -> str | None:
        self.asked.append(name)
        if self.broken:
            raise secrets.SecretMissing(f"secret {name!r}: could not read the vault")
        return self.held.get(name)

    def where(self, name: str) -> str:
        return f"vault entry {name}"


@pytest.fixture(autouse=True)
def no_source() -> Iterator[None]:
    secrets.forget()
    yield
    secrets.forget()


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


def test_the_source_gives_what_the_environment_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFEBOAT_SECRET_HOOK", raising=False)
    source = FakeSource({"hook": "from-the-source"})
    assert secrets.install(source) is None
    assert secrets.installed() is source
    assert secrets.resolve("json://h/${{ secrets.hook }}") == "json://h/from-the-source"
    assert source.asked == ["hook"]


def test_the_environment_wins_and_the_source_is_not_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIFEBOAT_SECRET_HOOK", "from-env")
    source = FakeSource({"hook": "from-the-source"})
    secrets.install(source)
    assert secrets.resolve("${{ secrets.hook }}") == "from-env"
    assert source.asked == []


def test_a_secret_in_neither_place_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFEBOAT_SECRET_ONCALL_WEBHOOK", raising=False)
    secrets.install(FakeSource({"other": "x" * 8}))
    with pytest.raises(secrets.SecretMissing) as info:
        secrets.resolve("${{ secrets.oncall_webhook }}")
    assert str(info.value) == (
        "secret 'oncall_webhook' is not set "
        "(LIFEBOAT_SECRET_ONCALL_WEBHOOK or vault entry oncall_webhook)"
    )


def test_an_empty_value_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFEBOAT_SECRET_HOOK", "")
    secrets.install(FakeSource({"hook": ""}))
    with pytest.raises(secrets.SecretMissing, match="is not set"):
        secrets.resolve("${{ secrets.hook }}")


def test_an_unreadable_source_is_a_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFEBOAT_SECRET_HOOK", raising=False)
    secrets.install(FakeSource({}, broken=True))
    with pytest.raises(secrets.SecretMissing, match="could not read the vault"):
        secrets.resolve("${{ secrets.hook }}")


def test_every_secret_value_reaches_the_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFEBOAT_SECRET_HOOK", "json://127.0.0.1:1/very-secret")
    assert "json://127.0.0.1:1/very-secret" in Settings().secret_values()


def test_values_from_the_source_reach_the_redactor_once_looked_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIFEBOAT_SECRET_HOOK", raising=False)
    secrets.install(FakeSource({"hook": "json://127.0.0.1:1/from-a-block"}))
    assert "json://127.0.0.1:1/from-a-block" not in secrets.values()
    secrets.resolve("${{ secrets.hook }}")
    assert "json://127.0.0.1:1/from-a-block" in Settings().secret_values()
    secrets.install(None)  # the next run's source: what was given stays redacted
    assert "json://127.0.0.1:1/from-a-block" in secrets.values()


def test_prefetch_looks_up_each_reference_once_and_leaves_missing_ones_for_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("A", "B", "C"):
        monkeypatch.delenv(f"LIFEBOAT_SECRET_{name}", raising=False)
    monkeypatch.setenv("LIFEBOAT_SECRET_C", "from-env")
    source = FakeSource({"a": "value-of-a"})
    secrets.install(source)
    secrets.prefetch(["json://${{ secrets.a }}/${{ secrets.b }}", "${{ secrets.a }}${{secrets.c}}"])
    assert source.asked == ["a", "b"]
    assert "value-of-a" in secrets.values()


def test_other_references_are_problems() -> None:
    assert secrets.problems("mailto://${{ secrets.mail }}") == []
    assert secrets.problems("x${{ run.id }}") == [
        "only ${{ secrets.NAME }} may be used in a channel, not ${{ run.id }}"
    ]


def test_the_secrets_module_never_imports_prefect() -> None:
    import subprocess
    import sys

    code = "import sys, lifeboat.secrets; print('prefect' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"
