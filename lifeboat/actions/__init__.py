"""The mutating actions: importing this package registers every one.

Each module holds plain functions with a typed parameter model, registered with
``@registry.action(name, reversible=...)``. A reversible action returns the ``Undo`` that
compensates what it did, decided from what it saw; an irreversible one needs an approval
step before it in the runbook. Actions never import Prefect.
"""

from lifeboat.actions import copy, dns, files, restore, service

__all__ = ["copy", "dns", "files", "restore", "service"]
