"""One typed settings object, read from ``LIFEBOAT_*`` environment variables (or a .env file).

Secrets are ``SecretStr``: they print as ``**********`` and must be unwrapped on purpose;
``Settings.secret_values()`` hands them to the ``Redactor`` so none reaches a journal.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from lifeboat import secrets


def _default_home() -> Path:
    return Path.home() / ".lifeboat"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Runs, journals, state")
    known_hosts: Path | None = Field(
        None, description="SSH known_hosts; default ~/.ssh/known_hosts"
    )
    ssh_config: Path | None = Field(None, description="SSH client config; default ~/.ssh/config")
    smtp_url: SecretStr | None = Field(None, description="Apprise mailto:// URL for email")
    prefect_api_auth_string: SecretStr | None = Field(None, description="user:password")
    notify_attempts: int = Field(
        3, ge=1, le=10, description="Tries per stakeholder channel before it counts as failed"
    )
    notify_backoff: float = Field(
        0.5, ge=0, le=60, description="Seconds before a channel's 2nd try, doubled for each next"
    )
    signing_key: Path | None = Field(
        None, description="Ed25519 key signing run digests; default HOME/keys/journal-ed25519.pem"
    )
    audit_offsite_uri: str | None = Field(
        None, description="s3://bucket/prefix/ with Object Lock: the WORM copy of each run"
    )
    audit_retention_days: int = Field(
        365, ge=1, le=36500, description="Object Lock COMPLIANCE retention of off-site copies"
    )
    audit_offsite_each_step: bool = Field(
        False, description="Also copy the journal off-site after each step ends"
    )
    site_region: str | None = Field(
        None, description="Region of the orchestrator's site: the off-site copy must be elsewhere"
    )
    s3_connect_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds to open a connection to the object store"
    )
    s3_read_timeout: float = Field(
        60.0, gt=0, le=3600, description="Seconds to wait for each read from the object store"
    )
    s3_retries: int = Field(
        3, ge=0, le=10, description="Retries of a failed object-store call after its first try"
    )
    s3_direct: bool = Field(
        True,
        description="Read listings and objects to hash by signed GETs of Lifeboat's own "
        "(lifeboat.s3direct); false: every call through boto3",
    )

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key or self.home / "keys" / "journal-ed25519.pem"

    def secret_values(self) -> list[str]:
        """Every secret this configuration holds, for redaction."""
        values = [self.smtp_url, self.prefect_api_auth_string]
        return [v.get_secret_value() for v in values if v is not None] + secrets.values()
