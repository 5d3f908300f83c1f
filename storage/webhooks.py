"""Webhook topics and the Standard Webhooks signature (pure: no I/O).

A *topic* is what a subscription hears. Most are told by a channel event stored
in the same transaction (``TOPIC_OF_TYPE``: the appenders copy a row into
``notify_outbox`` for every subscription of the event's topic); ``note.released``
is a ``note.published`` event whose ``via`` is ``release`` (the release path
enqueues it itself), and ``account.deleted`` has no channel event (erasure
enqueues it). "poll.closed" joins when polls exist.

Signing follows https://www.standardwebhooks.com: the secret is ``whsec_`` and
base64 of random bytes; ``webhook-signature`` is ``v1,`` and base64 of
HMAC-SHA256(secret bytes, ``{id}.{timestamp}.{body}``). Hand-written with the
standard library: the ``standardwebhooks`` package is a generated client that
would bring httpx, attrs, python-dateutil and Deprecated for these lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

from storage import event_types

MESSAGE_POSTED: Final = "message.posted"
NOTE_RELEASED: Final = "note.released"
MODERATION_DECISION: Final = "moderation.decision"
EVENT_CHANGED: Final = "event.changed"
ACCOUNT_DELETED: Final = "account.deleted"

TOPICS: Final[dict[str, str]] = {
    MESSAGE_POSTED: "a message in a chat, group or DM channel (a DM's text is never sent)",
    NOTE_RELEASED: "an author released a note onto a pinboard",
    MODERATION_DECISION: "a trainer took a note offline, reinstated, approved or deleted it",
    EVENT_CHANGED: "an organiser changed or cancelled an event",
    ACCOUNT_DELETED: "an account was deleted (its id and external id)",
}

# Channel event type -> the topic its every occurrence tells of.
TOPIC_OF_TYPE: Final[dict[str, str]] = {
    event_types.MESSAGE: MESSAGE_POSTED,
    event_types.NOTE_TAKEN_OFFLINE: MODERATION_DECISION,
    event_types.NOTE_REINSTATED: MODERATION_DECISION,
    event_types.NOTE_APPROVED: MODERATION_DECISION,
    event_types.NOTE_DELETED_BY_MODERATOR: MODERATION_DECISION,
    event_types.EVENT_CHANGED: EVENT_CHANGED,
    event_types.EVENT_CANCELLED: EVENT_CHANGED,
}

WEBHOOK: Final = "webhook"  # notify_outbox.consumer of webhook deliveries
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the prefix of every secret, not one


def topic_case_sql(column: str) -> str:
    """``CASE <column> WHEN 'message' THEN 'message.posted' ... END`` for the appenders' SQL
    (constants of this module only: nothing from a request reaches it)."""
    arms = " ".join(f"WHEN '{t}' THEN '{topic}'" for t, topic in sorted(TOPIC_OF_TYPE.items()))
    return f"CASE {column} {arms} END"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Does any ``v1`` signature in ``header`` (space-separated) match?"""
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in header.split())


def backoff_secs(attempts: int, base: float, cap: float) -> float:
    """Seconds before attempt ``attempts + 1``: base, 2 base, 4 base ... at most ``cap``."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


__all__ = [
    "ACCOUNT_DELETED",
    "EVENT_CHANGED",
    "MESSAGE_POSTED",
    "MODERATION_DECISION",
    "NOTE_RELEASED",
    "TOPICS",
    "TOPIC_OF_TYPE",
    "WEBHOOK",
    "backoff_secs",
    "new_secret",
    "sign",
    "topic_case_sql",
    "verify",
]
