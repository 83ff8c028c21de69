"""Lifeboat: disaster-recovery runbooks, validated before they run, run as Prefect flows."""

__version__ = "0.1.0"
