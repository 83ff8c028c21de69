"""Channel secrets from Prefect Secret blocks: where production keeps them.

``${{ secrets.oncall_webhook }}`` in a channel is looked up first in the environment
variable ``LIFEBOAT_SECRET_ONCALL_WEBHOOK`` (``lifeboat.secrets``), then in the Prefect
Secret block ``lifeboat-oncall-webhook``: ``lifeboat-`` and the name lower-cased, ``_`` as
``-``. So a worker needs no environment file: the secret lives in the Prefect server.

Each run installs a fresh ``SecretBlocks`` source when its context is built (``install``),
when a Prefect API is configured, and reads at once the blocks of the runbook's channel
secrets: their values are known to the run's redactor before any step runs, as the
environment's are. Each block is read once per run (found or not); a block that could not
be read (server unreachable) is asked again when a step needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lifeboat import secrets
from lifeboat.runbook import Runbook
from lifeboat.secrets import SecretMissing

BLOCK_PREFIX = "lifeboat-"
#: The block type slug of ``prefect.blocks.system.Secret``.
BLOCK_TYPE = "secret"

#: Reads one Secret block by name: its value, or None when there is no such block.
Reader = Callable[[str], str | None]


def block_name(name: str) -> str:
    """The Secret block holding secret ``name``: ``oncall_webhook`` -> lifeboat-oncall-webhook."""
    return BLOCK_PREFIX + name.lower().replace("_", "-")


def read_block(block: str) -> str | None:
    """The value of the Secret block named ``block`` on the configured Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name=block, block_type_slug=BLOCK_TYPE)
        except ObjectNotFound:
            return None
    value = document.data.get("value")
    if not isinstance(value, str):
        raise SecretMissing(
            f"the Prefect Secret block {block} holds {type(value).__name__}, not a string"
        )
    return value


class SecretBlocks:
    """A ``SecretSource`` reading Prefect Secret blocks, each once (live one per run)."""

    def __init__(self, read: Reader | None = None) -> None:
        self._read = read or read_block
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def where(self, name: str) -> str:
        return f"Prefect Secret block {block_name(name)}"

    def get(self, name: str) -> str | None:
        block = block_name(name)
        with self._lock:
            if block not in self._cache:
                try:
                    self._cache[block] = self._read(block)
                except SecretMissing:
                    raise
                except Exception as exc:  # the API is down, refuses us, ...: not cached
                    raise SecretMissing(
                        f"secret {name!r}: could not read the Prefect Secret block {block}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
            return self._cache[block]


def api_configured() -> bool:
    """Inside a flow run, or with ``PREFECT_API_URL`` set: there is a server to ask."""
    from prefect.context import FlowRunContext
    from prefect.settings import get_current_settings

    return FlowRunContext.get() is not None or bool(get_current_settings().api.url)


def install(runbook: Runbook) -> SecretBlocks | None:
    """Start a run's secrets: a fresh block source (none without a Prefect API), and the
    blocks of ``runbook``'s channel secrets read now, so the redactor knows their values."""
    source = SecretBlocks() if api_configured() else None
    secrets.install(source)
    secrets.prefetch(url for who in runbook.stakeholders.values() for url in who.channels)
    return source
