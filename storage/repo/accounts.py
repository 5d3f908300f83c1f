"""Users and sign-in sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from storage.account_changes import note_session, note_user
from storage.errors import Conflict, DomainError, NotFound
from storage.models import AuthSession, User, UserStatus, utcnow
from storage.passwords import hash_password, password_problem


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Characters no address we mail to may contain: a line break would start a new mail
# header (or an SMTP command) after the address, and these specials would end the
# address or add another recipient inside To:.
_NOT_IN_ADDRESS = frozenset('<>()[],;:"\\')


def _address_char(c: str) -> bool:
    return c not in _NOT_IN_ADDRESS and not c.isspace() and unicodedata.category(c)[0] != "C"


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if (
        not local
        or "." not in domain
        or "@" in domain
        or len(value) > 320
        or not all(_address_char(c) for c in value)
    ):
        raise DomainError("invalid_email", f"{email!r} is not an email address")
    return value


async def user_by_email(db: AsyncSession, email: str) -> User | None:
    return (
        await db.execute(select(User).where(User.email == email.strip().lower()))
    ).scalar_one_or_none()


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    display_name: str,
    password: str | None = None,
    is_admin: bool = False,
) -> User:
    email = normalise_email(email)
    if await user_by_email(db, email) is not None:
        raise Conflict("email_taken", f"an account for {email} exists already")
    name = display_name.strip()
    if not name or len(name) > 120:
        raise DomainError("invalid_name", "the display name must have 1 to 120 characters")
    if password is not None and (problem := password_problem(password, email=email, name=name)):
        raise DomainError("weak_password", problem)
    user = User(
        email=email,
        display_name=name,
        password_hash=hash_password(password) if password is not None else None,
        is_admin=is_admin,
        status=UserStatus.ACTIVE.value,
    )
    db.add(user)
    await db.flush()
    return user


# last_seen_at is written at most this often per session: an idle timeout
# measured in hours does not need a database write on every request.
SESSION_TOUCH_SECS = 60


async def create_session(
    db: AsyncSession, user: User, *, max_secs: int, ip: str = "", user_agent: str = ""
) -> str:
    """Start a session; returns the token for the cookie (only its hash is stored).

    ``expires_at`` is the absolute end of the session; the idle timeout is
    checked against ``last_seen_at`` by :func:`user_for_session`.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        AuthSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=max_secs),
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    await db.flush()
    return token


async def user_for_session(
    db: AsyncSession,
    token: str,
    *,
    idle_secs: int,
    now: dt.datetime | None = None,
    allow_terminating: bool = False,
) -> tuple[User, AuthSession] | None:
    """The active user behind a session token, or None when it is unknown, idle,
    expired or revoked. A live session's ``last_seen_at`` is moved forward.

    ``allow_terminating`` also accepts an account in its termination grace month:
    such a session is limited to the operations that reactivate, export or delete.
    """
    row = (
        await db.execute(
            select(User, AuthSession)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(AuthSession.token_hash == token_hash(token))
        )
    ).one_or_none()
    if row is None:
        return None
    user, session = row
    now = now or utcnow()
    if _session_ended(session.revoked_at, session.expires_at, session.last_seen_at, idle_secs, now):
        return None
    if not admits(user.status, allow_terminating):
        return None
    if (now - session.last_seen_at).total_seconds() >= SESSION_TOUCH_SECS:
        session.last_seen_at = now
    return user, session


def _session_ended(
    revoked_at: dt.datetime | None,
    expires_at: dt.datetime,
    last_seen_at: dt.datetime,
    idle_secs: int,
    now: dt.datetime,
) -> bool:
    return (
        revoked_at is not None
        or expires_at <= now
        or last_seen_at + dt.timedelta(seconds=idle_secs) <= now
    )


def admits(status: str, allow_terminating: bool) -> bool:
    """Whether an account in ``status`` counts as signed in (see ``user_for_session``)."""
    return status == UserStatus.ACTIVE.value or (
        allow_terminating and status == UserStatus.TERMINATING.value
    )


_USER_COLUMNS = tuple(User.__table__.c)
_LIVE_SESSIONS = (
    select(
        *_USER_COLUMNS,
        AuthSession.token_hash,
        AuthSession.revoked_at,
        AuthSession.expires_at,
        AuthSession.last_seen_at,
    )
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.token_hash.in_(bindparam("hashes", expanding=True)))
)


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A live session and its account's row, as read at one moment: what a cache keeps.

    ``good_until`` is when the session ends by itself (its absolute end, or the
    idle timeout counted from its last recorded use), whichever comes first.
    """

    session_hash: str
    user_row: dict[str, Any]
    good_until: dt.datetime

    @property
    def user_id(self) -> int:
        return int(self.user_row["id"])

    @property
    def status(self) -> str:
        return str(self.user_row["status"])

    def user(self) -> User:
        """A fresh detached ``User`` per request: handlers may not share one object."""
        user = User(**self.user_row)
        make_transient_to_detached(user)
        return user


async def live_sessions(
    conn: AsyncConnection,
    session_hashes: list[str],
    *,
    idle_secs: int,
    now: dt.datetime | None = None,
) -> dict[str, LiveSession]:
    """``user_for_session`` for many token hashes at once, with Core on a bare connection
    (no ORM session: this runs for signed-in requests whose sign-in is not cached; a
    burst of them costs one query). Returns the live ones whose account is active or
    terminating (the caller applies :func:`admits`).

    Moves ``last_seen_at`` forward at most every ``SESSION_TOUCH_SECS`` (one UPDATE
    for all), committing on ``conn``.
    """
    if not session_hashes:
        return {}
    rows = (await conn.execute(_LIVE_SESSIONS, {"hashes": session_hashes})).all()
    now = now or utcnow()
    n = len(_USER_COLUMNS)
    found: dict[str, LiveSession] = {}
    stale: list[str] = []
    for row in rows:
        session_hash, revoked_at, expires, last_seen = row[n], row[n + 1], row[n + 2], row[n + 3]
        if _session_ended(revoked_at, expires, last_seen, idle_secs, now):
            continue
        user_row = {c.key: value for c, value in zip(_USER_COLUMNS, row[:n], strict=True)}
        if not admits(user_row["status"], allow_terminating=True):
            continue
        if (now - last_seen).total_seconds() >= SESSION_TOUCH_SECS:
            # Not on every request: an idle timeout measured in hours needs no write storm.
            stale.append(session_hash)
            last_seen = now
        good_until = min(expires, last_seen + dt.timedelta(seconds=idle_secs))
        found[session_hash] = LiveSession(session_hash, user_row, good_until)
    if stale:
        await conn.execute(
            update(AuthSession).where(AuthSession.token_hash.in_(stale)).values(last_seen_at=now)
        )
        await conn.commit()
    return found


async def live_session(
    conn: AsyncConnection, session_hash: str, *, idle_secs: int, now: dt.datetime | None = None
) -> LiveSession | None:
    """:func:`live_sessions` for one hash."""
    found = await live_sessions(conn, [session_hash], idle_secs=idle_secs, now=now)
    return found.get(session_hash)


async def revoke_session(db: AsyncSession, token: str) -> None:
    session_hash = token_hash(token)
    note_session(db, session_hash)  # caches of sign-ins drop it once this commits
    await db.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == session_hash, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(db: AsyncSession, user_id: int) -> int:
    """Revoke every live session of a user; returns how many were revoked."""
    note_user(db, user_id)  # caches of sign-ins drop them once this commits
    result = await db.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def get_user(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None or user.status == UserStatus.DELETED.value:
        raise NotFound("user")
    return user


async def set_password(db: AsyncSession, user: User, password: str) -> None:
    """Set a new password; every other session of the user ends."""
    if problem := password_problem(password, email=user.email, name=user.display_name):
        raise DomainError("weak_password", problem)
    user.password_hash = hash_password(password)
    await revoke_user_sessions(db, user.id)


async def block(db: AsyncSession, user: User) -> int:
    """Block an active account and revoke its sessions; returns how many were revoked.

    The caller tells the hub to close the user's live connections after commit
    (``web.account_actions.block_user`` does both).
    """
    if user.status == UserStatus.BLOCKED.value:
        return await revoke_user_sessions(db, user.id)
    if user.status != UserStatus.ACTIVE.value:
        raise Conflict("bad_status", f"a {user.status} account cannot be blocked")
    user.status = UserStatus.BLOCKED.value
    return await revoke_user_sessions(db, user.id)


async def unblock(db: AsyncSession, user: User) -> None:
    if user.status == UserStatus.ACTIVE.value:
        return
    if user.status != UserStatus.BLOCKED.value:
        raise Conflict("bad_status", f"a {user.status} account cannot be unblocked")
    user.status = UserStatus.ACTIVE.value


async def list_users(
    db: AsyncSession,
    *,
    text: str | None = None,
    status: UserStatus | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> tuple[list[User], int | None]:
    """Accounts by id (oldest first), a page at a time; returns the page and the next cursor.

    ``text`` matches a part of the email or display name, case-insensitively
    (SQLite folds ASCII letters only). Without ``status``, deleted accounts
    (no email, nothing to act on) are left out. Keyset paging on the id: a
    page is stable while accounts are added, and a deep page costs what the first does.
    """
    stmt = select(User).order_by(User.id).limit(limit + 1)
    if status is None:
        stmt = stmt.where(User.status != UserStatus.DELETED.value)
    else:
        stmt = stmt.where(User.status == status.value)
    if text:
        needle = text.strip().lower()
        stmt = stmt.where(
            or_(
                User.email.contains(needle, autoescape=True),
                func.lower(User.display_name).contains(needle, autoescape=True),
            )
        )
    if after_id is not None:
        stmt = stmt.where(User.id > after_id)
    rows = list((await db.execute(stmt)).scalars())
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None


# For the hub (realtime/): what its connections need to know of accounts and sessions.


async def names_of(db: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    """Display names by user id (ids without a row are left out)."""
    rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(list(user_ids))))
    return {uid: name for uid, name in rows}


async def users_by_id(db: AsyncSession, user_ids: Iterable[int]) -> dict[int, User]:
    return {
        u.id: u
        for u in (await db.execute(select(User).where(User.id.in_(list(user_ids))))).scalars()
    }


async def valid_sessions(
    db: AsyncSession, session_hashes: Iterable[str], now: dt.datetime
) -> set[str]:
    """Of ``session_hashes``, those not revoked nor expired whose account is active."""
    return set((await db.execute(
        select(AuthSession.token_hash).join(User, User.id == AuthSession.user_id).where(
            AuthSession.token_hash.in_(list(session_hashes)), AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now, User.status == UserStatus.ACTIVE.value,
        ))).scalars())


async def touch_sessions(db: AsyncSession, session_hashes: Iterable[str], now: dt.datetime) -> None:
    """Being connected is activity: keeps the sessions from idling out."""
    await db.execute(
        update(AuthSession).where(AuthSession.token_hash.in_(list(session_hashes))).values(last_seen_at=now)
    )
