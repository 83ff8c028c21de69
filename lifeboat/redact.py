"""Keep secrets out of everything Lifeboat writes: logs, journals, reports, artifacts.

Two nets, because either alone misses things:
- known values: every secret Lifeboat holds (settings ``SecretStr`` values, parameters
  declared secret) is replaced wherever it appears, even inside a longer string;
- shapes: credentials in URLs (``scheme://user:password@host``), secret-looking query
  parameters (``?token=...``) and mapping keys (``password:``, ``api_key:``) are masked
  even when nobody declared them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_URL_CREDENTIALS = re.compile(
    # RFC 3986: userinfo ends before the path, query or fragment, so "host:port?from=a@b"
    # (an Apprise mailto URL) holds no password.
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s:/@?#]*):(?P<pw>[^\s/@?#]+)@"
)
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:token|key|secret|password|passwd|pass|apikey|api_key|access_token|sig|signature)=)"
    r"(?P<value>[^&#\s]+)",
    re.IGNORECASE,
)
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|credential)", re.I)
_MIN_SECRET_LENGTH = 4  # masking "a" everywhere would destroy the record and hide nothing


class Redactor:
    """Masks known secret values and secret-shaped text in strings and nested data."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            self._secrets.add(secret)

    def text(self, value: str) -> str:
        # Longest first, so that a secret containing another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        value = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        return _SECRET_QUERY.sub(lambda m: f"{m['key']}{MASK}", value)

    def data(self, value: Any) -> Any:
        """A copy of ``value`` with every string redacted and secret-named keys masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                key: MASK
                if isinstance(key, str) and _SECRET_KEY.search(key) and item
                else self.data(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value
