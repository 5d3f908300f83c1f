"""Account lifecycle: active | blocked -> terminating -> active | deleted (blocking: repo.accounts).

A state is an enum and each transition is checked here; a transition that the
current state does not allow raises a ``Conflict`` with a stable code. Locking
an account (block, terminate) revokes every session in the same transaction;
closing live connections is the caller's job after commit (``hub.disconnect_user``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, NotFound
from storage.models import User, UserStatus, utcnow
from storage.repo.accounts import revoke_user_sessions
from storage.repo.erasure import ErasureReport, erase_user

ALLOWED = {
    "terminate": {UserStatus.ACTIVE, UserStatus.BLOCKED},
    "reactivate": {UserStatus.TERMINATING},
    "delete": {UserStatus.ACTIVE, UserStatus.BLOCKED, UserStatus.TERMINATING},
}


async def load(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("user")
    return user


def _check(user: User, transition: str) -> None:
    status = UserStatus(user.status)
    if status not in ALLOWED[transition]:
        raise Conflict(
            f"cannot_{transition}",
            f"{transition}: not possible for an account that is {status.value}",
        )


async def terminate(
    db: AsyncSession,
    user: User,
    *,
    grace_days: int,
    erase_content: bool,
    now: dt.datetime | None = None,
) -> dt.datetime:
    """Lock the account and schedule its deletion; returns when it will be deleted."""
    _check(user, "terminate")
    when = (now or utcnow()) + dt.timedelta(days=grace_days)
    user.status = UserStatus.TERMINATING.value
    user.delete_after = when
    user.erase_content = erase_content
    await revoke_user_sessions(db, user.id)
    return when


async def reactivate(db: AsyncSession, user: User) -> None:
    _check(user, "reactivate")
    user.status = UserStatus.ACTIVE.value
    user.delete_after = None
    user.erase_content = False


async def delete_now(db: AsyncSession, user: User, *, erase_content: bool) -> ErasureReport:
    _check(user, "delete")
    await revoke_user_sessions(db, user.id)
    return await erase_user(db, user.id, erase_content=erase_content)


async def due_for_deletion(db: AsyncSession, now: dt.datetime) -> list[int]:
    return list(
        (
            await db.execute(
                select(User.id)
                .where(User.status == UserStatus.TERMINATING.value, User.delete_after <= now)
                .order_by(User.id)
            )
        ).scalars()
    )
