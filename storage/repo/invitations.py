"""Invitations: single-use, expiring links that let a registered person set a password."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError
from storage.models import Invitation, User, UserStatus, utcnow
from storage.repo.accounts import revoke_user_sessions, set_password, token_hash


class InvitationInvalid(DomainError):
    """The token is unknown, used or expired; ``code`` says which."""

    status = 410


async def create_invitation(
    db: AsyncSession, user: User, *, created_by: int | None, ttl_secs: int
) -> str:
    """Issue a new link for ``user``; returns the token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        Invitation(
            token_hash=token_hash(token),
            user_id=user.id,
            created_by=created_by,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_secs),
        )
    )
    await db.flush()
    return token


async def _valid(db: AsyncSession, token: str, now: dt.datetime) -> tuple[Invitation, User]:
    row = (
        await db.execute(
            select(Invitation, User)
            .join(User, User.id == Invitation.user_id)
            .where(Invitation.token_hash == token_hash(token))
        )
    ).one_or_none()
    if row is None:
        raise InvitationInvalid(
            "invitation_unknown", "this invitation link is not valid", status=404
        )
    invitation, user = row
    if invitation.used_at is not None:
        raise InvitationInvalid(
            "invitation_used", "this invitation link was used already; sign in instead"
        )
    if invitation.expires_at <= now:
        raise InvitationInvalid(
            "invitation_expired", "this invitation link has expired; ask for a new one"
        )
    if user.status != UserStatus.ACTIVE.value:
        raise InvitationInvalid("account_inactive", f"this account is {user.status}", status=403)
    return invitation, user


async def invited_user(db: AsyncSession, token: str, now: dt.datetime | None = None) -> User:
    """The person a still valid invitation is for."""
    return (await _valid(db, token, now or utcnow()))[1]


async def accept_invitation(
    db: AsyncSession, token: str, password: str, now: dt.datetime | None = None
) -> User:
    """Set the password from a valid invitation; the link and its siblings are used up."""
    now = now or utcnow()
    invitation, user = await _valid(db, token, now)
    # Conditional update: of two concurrent accepts only one finds used_at NULL.
    result = await db.execute(
        update(Invitation)
        .where(Invitation.token_hash == invitation.token_hash, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(result, "rowcount", 1) != 1:
        raise InvitationInvalid("invitation_used", "this invitation link was used already")
    await set_password(db, user, password)
    await db.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    return user


@dataclass(frozen=True, slots=True)
class PasswordReset:
    token: str
    expires_at: dt.datetime
    sessions_revoked: int


RESETTABLE = (UserStatus.ACTIVE.value, UserStatus.BLOCKED.value)


async def reset_password(
    db: AsyncSession, user: User, *, created_by: int | None, ttl_secs: int
) -> PasswordReset:
    """Reset an account's password to a one-time link with which the person sets a new one.

    The old password stops working and every session ends at once; links issued
    before are used up, so only this one works. Nobody but the person learns the
    new password. A blocked account's link works once it is unblocked (within
    ``ttl_secs``); a terminating or deleted account cannot be reset.
    """
    if user.status not in RESETTABLE:
        raise Conflict("cannot_reset_password", f"the account is {user.status}")
    now = utcnow()
    user.password_hash = None
    revoked = await revoke_user_sessions(db, user.id)
    await db.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    token = await create_invitation(db, user, created_by=created_by, ttl_secs=ttl_secs)
    return PasswordReset(token, now + dt.timedelta(seconds=ttl_secs), revoked)
