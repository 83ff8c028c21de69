"""The read-only check library. Importing this package registers every check.

Each module holds plain functions with a typed parameter model, registered by name on
``lifeboat.registry.registry``. Checks never import Prefect: they run the same under a
flow, in a test, or from a Python prompt.
"""

from checks import (
    backup,
    backup_completeness,
    backup_protection,
    backup_restore,
    http,
    ssh,
    tcp,
    wait,
)

__all__ = [
    "backup",
    "backup_completeness",
    "backup_protection",
    "backup_restore",
    "http",
    "ssh",
    "tcp",
    "wait",
]
