"""Settings from LIFEBOAT_* variables; secrets never print."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.settings import Settings


def test_environment_and_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIFEBOAT_HOME", str(tmp_path))
    monkeypatch.setenv("LIFEBOAT_SMTP_URL", "mailto://ops:sup3r-secret@127.0.0.1:2525")
    settings = Settings(_env_file=None)
    assert settings.runs_dir == tmp_path / "runs"
    assert "sup3r-secret" not in repr(settings) + str(settings.model_dump())
    assert settings.secret_values() == ["mailto://ops:sup3r-secret@127.0.0.1:2525"]
