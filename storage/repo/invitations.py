"""Invitations: single-use, expiring links that let a registered person set a password.

An invitation with an event is also an offer to join that event: following it
enrols the person (setting the password first when the account has none). Staff
who register someone they do not already teach get no link and see nothing of the
account: the offer is mailed to the person (storage/repo/registration.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.authz import ROLE_RANK, has_event_role
from storage.errors import Conflict, DomainError
from storage.models import Enrolment, Invitation, Role, User, UserStatus, utcnow
from storage.repo.accounts import revoke_user_sessions, set_password, token_hash
from storage.repo.events import enrol


class InvitationInvalid(DomainError):
    """The token is unknown, used or expired; ``code`` says which."""

    status = 410


async def create_invitation(
    db: AsyncSession,
    user: User,
    *,
    created_by: int | None,
    ttl_secs: int,
    event_id: int | None = None,
    role: Role | None = None,
    mailed: bool = False,
    purpose: str | None = None,
) -> str:
    """Issue a new link for ``user``; returns the token (only its hash is stored).

    Issuing a link leaves the person's other links as they are (an admin's
    outstanding reset link keeps working); the first one used uses up the rest.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        Invitation(
            token_hash=token_hash(token),
            user_id=user.id,
            created_by=created_by,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_secs),
            event_id=event_id,
            role=(role or Role.PARTICIPANT).value if event_id is not None else None,
            mailed=mailed,
            purpose=purpose,
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


async def invitation_for(
    db: AsyncSession, token: str, now: dt.datetime | None = None
) -> tuple[Invitation, User]:
    """A still valid invitation and the person it is for."""
    return await _valid(db, token, now or utcnow())


async def _use(db: AsyncSession, invitation: Invitation, now: dt.datetime) -> None:
    # Conditional update: of two concurrent uses only one finds used_at NULL.
    result = await db.execute(
        update(Invitation)
        .where(Invitation.token_hash == invitation.token_hash, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(result, "rowcount", 1) != 1:
        raise InvitationInvalid("invitation_used", "this invitation link was used already")


async def _offer_still_stands(db: AsyncSession, invitation: Invitation) -> bool:
    """The person who made the offer may still enrol people in its event that way
    (an admin or the CLI always; staff while they still teach or organise it)."""
    if invitation.event_id is None:
        return False
    if invitation.created_by is None:
        return True
    creator = await db.get(User, invitation.created_by)
    if creator is None or creator.status != UserStatus.ACTIVE.value:
        return False
    if creator.is_admin:
        return True
    role = Role(invitation.role or Role.PARTICIPANT.value)
    needed = Role.TRAINER if role is Role.PARTICIPANT else Role.ORGANISER
    return await has_event_role(db, creator, invitation.event_id, needed)


async def _take_offer(db: AsyncSession, user: User, invitation: Invitation) -> int | None:
    """Enrol ``user`` as the offer says (never lowering a role they have); the event id
    when anything changed."""
    if invitation.event_id is None or not await _offer_still_stands(db, invitation):
        return None
    role = Role(invitation.role or Role.PARTICIPANT.value)
    current = await db.get(Enrolment, (user.id, invitation.event_id))
    if current is not None:
        role = max(Role(current.role), role, key=ROLE_RANK.__getitem__)
    return invitation.event_id if await enrol(db, user.id, invitation.event_id, role) else None


async def accept_invitation(
    db: AsyncSession, token: str, password: str, now: dt.datetime | None = None
) -> tuple[User, list[int]]:
    """Set the password from a valid invitation; the link and its siblings are used up.

    The person accepts every offer to join among them (they are used up too, so they
    would be lost otherwise); returns the user and the events they were enrolled in.
    An account that has a password refuses: its links only offer to join an event
    (``join_offer``), they never replace the password.
    """
    now = now or utcnow()
    invitation, user = await _valid(db, token, now)
    if user.password_hash is not None:
        raise Conflict("has_password", "this account has a password already; sign in instead")
    await _use(db, invitation, now)
    await set_password(db, user, password)
    offers = list(
        (
            await db.execute(
                select(Invitation).where(
                    Invitation.user_id == user.id,
                    Invitation.event_id.is_not(None),
                    Invitation.expires_at > now,
                    (Invitation.used_at.is_(None))
                    | (Invitation.token_hash == invitation.token_hash),
                )
            )
        ).scalars()
    )
    joined = [event_id for offer in offers if (event_id := await _take_offer(db, user, offer))]
    await db.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    return user, joined


async def join_offer(
    db: AsyncSession, token: str, now: dt.datetime | None = None
) -> tuple[User, int, bool]:
    """Accept an offer to join an event, for an account that has a password; only this
    link is used up. Returns the user, the event and whether the enrolment changed."""
    now = now or utcnow()
    invitation, user = await _valid(db, token, now)
    if invitation.event_id is None:
        raise Conflict("not_an_offer", "this link sets a password; it offers no event to join")
    if user.password_hash is None:
        raise Conflict("set_password_first", "set your password with this link to join")
    if not await _offer_still_stands(db, invitation):
        raise InvitationInvalid("offer_withdrawn", "this offer is no longer valid")
    await _use(db, invitation, now)
    changed = await _take_offer(db, user, invitation) is not None
    return user, invitation.event_id, changed


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
