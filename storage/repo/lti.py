"""LTI 1.3 registrations: platforms, deployments, course links, and once-only nonces."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError, NotFound
from storage.models import (
    Enrolment,
    Event,
    LtiContextLink,
    LtiDeployment,
    LtiNonce,
    LtiPlatform,
    Role,
    utcnow,
)

# A used nonce is kept this long; launches whose id_token was issued earlier are refused
# (web/lti_launch.py), so a replay can never outlive its nonce's row.
NONCE_KEEP_SECS = 24 * 3600


@dataclass(frozen=True)
class PlatformInfo:
    id: int
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    jwks_url: str
    create_accounts: bool
    deployments: tuple[str, ...]


def _url(field: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise DomainError("invalid_url", f"{field} must be an http(s) URL, got {value!r}")
    return value


async def add_platform(
    db: AsyncSession,
    *,
    name: str,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    jwks_url: str,
    deployments: list[str],
    create_accounts: bool = True,
) -> LtiPlatform:
    if not name.strip() or not client_id.strip() or not issuer.strip():
        raise DomainError("invalid_platform", "name, issuer and client id must not be empty")
    platform = LtiPlatform(
        name=name.strip()[:120],
        issuer=issuer.strip(),
        client_id=client_id.strip(),
        auth_login_url=_url("the login URL", auth_login_url),
        jwks_url=_url("the JWKS URL", jwks_url),
        create_accounts=create_accounts,
    )
    db.add(platform)
    try:
        await db.flush()
    except IntegrityError:
        raise Conflict(
            "platform_exists", f"{issuer} with client id {client_id} is registered already"
        ) from None
    for deployment in dict.fromkeys(d.strip() for d in deployments if d.strip()):
        db.add(LtiDeployment(platform_id=platform.id, deployment_id=deployment))
    await db.flush()
    return platform


async def _info(db: AsyncSession, platform: LtiPlatform) -> PlatformInfo:
    rows = await db.scalars(
        select(LtiDeployment.deployment_id).where(LtiDeployment.platform_id == platform.id)
    )
    return PlatformInfo(
        platform.id, platform.name, platform.issuer, platform.client_id,
        platform.auth_login_url, platform.jwks_url, platform.create_accounts, tuple(rows),
    )


async def platforms(db: AsyncSession) -> list[PlatformInfo]:
    found = await db.scalars(select(LtiPlatform).order_by(LtiPlatform.id))
    return [await _info(db, p) for p in found]


async def find_platform(
    db: AsyncSession, issuer: str, client_id: str | None
) -> PlatformInfo | None:
    """The registration for a login initiation or launch; with no client id (allowed in a
    login initiation), only when the issuer has exactly one."""
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id is not None:
        query = query.where(LtiPlatform.client_id == client_id)
    found = list(await db.scalars(query.limit(2)))
    return await _info(db, found[0]) if len(found) == 1 else None


async def link_context(db: AsyncSession, platform_id: int, context_id: str, event_id: int) -> None:
    """Launches from ``context_id`` (a course) open ``event_id``; an existing link moves."""
    if await db.get(LtiPlatform, platform_id) is None:
        raise NotFound(f"LTI platform {platform_id}")
    if await db.get(Event, event_id) is None:
        raise NotFound(f"event {event_id}")
    if not context_id.strip():
        raise DomainError("invalid_context", "the context id must not be empty")
    link = await db.get(LtiContextLink, (platform_id, context_id))
    if link is None:
        db.add(LtiContextLink(platform_id=platform_id, context_id=context_id, event_id=event_id))
    else:
        link.event_id = event_id
    await db.flush()


async def linked_event(db: AsyncSession, platform_id: int, context_id: str) -> int | None:
    link = await db.get(LtiContextLink, (platform_id, context_id))
    return link.event_id if link is not None else None


async def use_nonce(db: AsyncSession, nonce: str) -> bool:
    """Record ``nonce`` as used; False when it was used before (a replayed launch).

    Flushed in a savepoint so the refusal leaves the caller's transaction usable."""
    await db.execute(
        delete(LtiNonce).where(LtiNonce.used_at < utcnow() - dt.timedelta(seconds=NONCE_KEEP_SECS))
    )
    try:
        async with db.begin_nested():
            db.add(LtiNonce(nonce=nonce))
    except IntegrityError:
        return False
    return True


ROLE_ORDER = {Role.PARTICIPANT: 0, Role.TRAINER: 1, Role.ORGANISER: 2}


async def enrol_from_launch(db: AsyncSession, user_id: int, event_id: int, role: Role) -> bool:
    """Enrol the person as ``role``; a higher role they hold already is kept (an organiser
    who opens the room from the course as an Instructor stays organiser)."""
    current = await db.get(Enrolment, (user_id, event_id))
    if current is None:
        db.add(Enrolment(user_id=user_id, event_id=event_id, role=role.value))
        await db.flush()
        return True
    if ROLE_ORDER[Role(current.role)] >= ROLE_ORDER[role]:
        return False
    current.role = role.value
    return True
