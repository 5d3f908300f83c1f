"""A person's own password: changing it while signed in, and replacing a forgotten one
through a mailed link.

"Forgot password?" (``request_reset``) gives the same answer whether or not an address
has an account; only an active account with that address is mailed a link (purpose
``reset``, single use, expiring), to that address and nowhere else. Asking for a link
leaves the person's other links as they are: an admin's reset link or an invitation
keeps working. The first link used uses up the other password links; offers to join an
event stay. Following a reset link replaces the password and ends every session of the
account (other processes drop them from their caches once the change commits:
storage/account_changes.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.account_changes import note_user
from storage.errors import DomainError
from storage.models import AuthSession, Invitation, User, UserStatus, utcnow
from storage.passwords import hash_password, password_problem
from storage.repo.accounts import revoke_user_sessions
from storage.repo.invitations import InvitationInvalid, create_invitation, invitation_for
from storage.repo.logs import log_activity

RESET = "reset"
# A new reset link goes to the same account at most this often, however often it is
# asked for (the throttle per address bounds the requests, this the mails).
RESET_RESEND_SECS = 120

_MESSAGES = {
    "invitation_unknown": "this password reset link is not valid; ask for a new one",
    "invitation_used": "this password reset link was used already; ask for a new one if you "
    "need to",
    "invitation_expired": "this password reset link has expired; ask for a new one",
}


def _check_new(user: User, password: str) -> None:
    if problem := password_problem(password, email=user.email, name=user.display_name):
        raise DomainError("weak_password", problem)


async def change_password(
    db: AsyncSession, user: User, password: str, *, keep_session_hash: str
) -> int:
    """Set a signed-in person's new password (the current one was checked by the caller);
    every other session of theirs ends, this one stays. Returns how many ended."""
    _check_new(user, password)
    user.password_hash = hash_password(password)
    note_user(db, user.id)  # caches of sign-ins look every session up again after commit
    result = await db.execute(
        update(AuthSession)
        .where(
            AuthSession.user_id == user.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.token_hash != keep_session_hash,
        )
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _recently_sent(db: AsyncSession, user: User, now: dt.datetime) -> bool:
    since = now - dt.timedelta(seconds=RESET_RESEND_SECS)
    found = await db.execute(
        select(Invitation.token_hash)
        .where(
            Invitation.user_id == user.id,
            Invitation.purpose == RESET,
            Invitation.used_at.is_(None),
            Invitation.created_at > since,
        )
        .limit(1)
    )
    return found.first() is not None


async def request_reset(
    db: AsyncSession, email: str, *, ttl_secs: int, ip: str = ""
) -> tuple[User, str] | None:
    """A new reset link for the active account with ``email``: the user and the token,
    or None (no such account, not active, or a link went out moments ago)."""
    # A no-op write first locks the row (PostgreSQL) or the database (SQLite, whose reads
    # take no lock) until commit: of two requests at once, the second sees the first's link.
    address = email.strip().lower()
    await db.execute(update(User).where(User.email == address).values(status=User.status))
    user = (await db.execute(select(User).where(User.email == address))).scalar_one_or_none()
    if user is None or user.email is None or user.status != UserStatus.ACTIVE.value:
        return None
    if await _recently_sent(db, user, utcnow()):
        return None
    token = await create_invitation(
        db, user, created_by=user.id, ttl_secs=ttl_secs, mailed=True, purpose=RESET
    )
    await log_activity(db, user_id=user.id, action="password_reset_requested", ip=ip)
    return user, token


async def reset_link_for(
    db: AsyncSession, token: str, now: dt.datetime | None = None
) -> tuple[Invitation, User]:
    """A still valid reset link and the person it is for; says clearly when it is not."""
    try:
        invitation, user = await invitation_for(db, token, now)
    except InvitationInvalid as err:
        if err.code in _MESSAGES:
            raise InvitationInvalid(err.code, _MESSAGES[err.code], status=err.status) from err
        raise
    if invitation.purpose != RESET:
        raise InvitationInvalid(
            "not_a_reset_link", "this is not a password reset link", status=404
        )
    return invitation, user


async def reset_with_link(
    db: AsyncSession, token: str, password: str, now: dt.datetime | None = None
) -> tuple[User, int]:
    """Replace the password with a valid reset link; every session of the account ends.

    Returns the user and how many sessions ended."""
    now = now or utcnow()
    invitation, user = await reset_link_for(db, token, now)
    _check_new(user, password)
    # Conditional update: of two concurrent uses only one finds used_at NULL.
    used = await db.execute(
        update(Invitation)
        .where(Invitation.token_hash == invitation.token_hash, Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(used, "rowcount", 1) != 1:
        raise InvitationInvalid("invitation_used", _MESSAGES["invitation_used"])
    user.password_hash = hash_password(password)
    ended = await revoke_user_sessions(db, user.id)
    # The other password links would replace this password (reset) or are moot now
    # (set-password); offers to join an event still stand.
    await db.execute(
        update(Invitation)
        .where(
            Invitation.user_id == user.id,
            Invitation.used_at.is_(None),
            Invitation.event_id.is_(None),
        )
        .values(used_at=now)
    )
    return user, ended
