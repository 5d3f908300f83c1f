"""Errors of the hub's glue around the store (the protocol's own: realtime/protocol/errors.py)."""

from __future__ import annotations


class PublishFailed(Exception):
    """The batch writer could not store an event (the store is unavailable)."""
