"""Users and sign-in sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError
from storage.models import AuthSession, User, UserStatus, utcnow
from storage.passwords import hash_password, password_problem


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value or len(value) > 320:
        raise DomainError("invalid_email", f"{email!r} is not an email address")
    return value


async def user_by_email(db: AsyncSession, email: str) -> User | None:
    return (await db.execute(select(User).where(User.email == email.strip().lower()))).scalar_one_or_none()


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
    if password is not None and (problem := password_problem(password)):
        raise DomainError("weak_password", problem)
    name = display_name.strip()
    if not name or len(name) > 120:
        raise DomainError("invalid_name", "the display name must have 1 to 120 characters")
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


async def create_session(
    db: AsyncSession, user: User, *, ttl_secs: int, ip: str = "", user_agent: str = ""
) -> str:
    """Start a session; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        AuthSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_secs),
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    await db.flush()
    return token


async def user_for_session(db: AsyncSession, token: str) -> tuple[User, AuthSession] | None:
    """The active user behind a session token, or None when it is unknown, expired or revoked."""
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
    now = utcnow()
    if session.revoked_at is not None or session.expires_at <= now:
        return None
    if user.status != UserStatus.ACTIVE.value:
        return None
    return user, session


async def revoke_session(db: AsyncSession, token: str) -> None:
    await db.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == token_hash(token), AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(db: AsyncSession, user_id: int) -> None:
    await db.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
