"""The runbook language: model, loader, references, and the plan derived from it."""

from lifeboat.runbook.loader import LoadedRunbook, discover, load
from lifeboat.runbook.model import Runbook

__all__ = ["LoadedRunbook", "Runbook", "discover", "load"]
