"""API keys of the server API: made by admins, shown once, stored as a hash, revocable.

A key is ``chk_`` and 32 random bytes (url-safe base64, 256 bits). Only its
SHA-256 is stored. A slow password hash (Argon2) protects *guessable* secrets
against an offline search of a leaked table; a 256-bit random token has no
guessable space to search, so one SHA-256 is as strong here and costs
microseconds on every request instead of tens of milliseconds, and lookup is
by the hash itself (a unique index), not a compare against every row.

Scopes: ``provision`` (users, events, enrolments, groups), ``publish`` (into
named channels), ``read`` (channel history, presence), ``webhooks`` (the key's
own webhook subscriptions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError, NotFound
from storage.models import ApiKey, WebhookSubscription, utcnow

PREFIX: Final = "chk_"
SCOPES: Final[dict[str, str]] = {
    "provision": "upsert users, events, enrolments and groups by external id",
    "publish": "publish into named channels, as the system or as a named user",
    "read": "read channel history and presence",
}
# last_used_at is written at most this often per key (not one UPDATE per request).
TOUCH_SECS: Final = 60.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(text: str | list[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else text
    scopes = sorted({s.strip() for s in items if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise DomainError(
            "invalid", f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(unknown)})"
            if unknown else f"give at least one scope of {', '.join(SCOPES)}",
            status=422,
        )
    return scopes


@dataclass(frozen=True)
class KeyInfo:
    """What a request made with a key knows of it."""

    id: int
    name: str
    scopes: frozenset[str]
    last_used_at: dt.datetime | None


async def create_key(
    db: AsyncSession, *, name: str, scopes: list[str], created_by: int | None
) -> tuple[ApiKey, str]:
    """The new key and its token (returned once; only the hash is kept)."""
    name = name.strip()
    if not name or len(name) > 80:
        raise DomainError("invalid", "the key's name must be 1 to 80 characters", status=422)
    token = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name, prefix=token[:12], token_hash=token_hash(token),
        scopes=",".join(parse_scopes(scopes)), created_by=created_by,
    )
    db.add(key)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError:
        raise Conflict("name_taken", f"a key named {name!r} exists already") from None
    return key, token


async def list_keys(db: AsyncSession) -> list[ApiKey]:
    return list((await db.execute(select(ApiKey).order_by(ApiKey.id))).scalars())


async def key_by_name(db: AsyncSession, name: str) -> ApiKey:
    key = (await db.execute(select(ApiKey).where(ApiKey.name == name))).scalar_one_or_none()
    if key is None:
        raise NotFound("api key")
    return key


async def revoke(db: AsyncSession, key: ApiKey) -> bool:
    """Revoke ``key`` and stop its webhooks; False when it was revoked before."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    await db.execute(
        update(WebhookSubscription).where(WebhookSubscription.key_id == key.id).values(active=False)
    )
    return True


async def authenticate(db: AsyncSession, token: str) -> KeyInfo | None:
    """The live key of ``token``; None for an unknown or revoked one."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    key = (
        await db.execute(select(ApiKey).where(ApiKey.token_hash == token_hash(token)))
    ).scalar_one_or_none()
    if key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() >= TOUCH_SECS:
        key.last_used_at = now
    return KeyInfo(key.id, key.name, frozenset(key.scopes.split(",")), key.last_used_at)


__all__ = [
    "PREFIX", "SCOPES", "KeyInfo", "authenticate", "create_key", "key_by_name", "list_keys",
    "parse_scopes", "revoke", "token_hash",
]
