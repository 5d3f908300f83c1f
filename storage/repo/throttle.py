"""Throttling of failed sign-ins per account and per IP over a sliding window.

Every failed attempt is a row in ``login_failures``. An attempt is refused
while the account (the email as typed, normalised) or the IP has ``limit``
failures inside the last ``window_secs``; it is allowed again as soon as the
oldest of those leaves the window. Failures are keyed by the email string, not
by a user id, so an unknown address is throttled exactly like a real one and
the answers cannot tell them apart.

Known devices (``web/devices.py``): a sign-in from a browser where the owner signed
in before is keyed by that device (``device_key``) instead of the email, and is not
held back by the IP's count: failures from unknown devices fill the account's
bucket and lock out only unknown devices.

Parallel guesses: a sign-in first records its attempt as a failure and
commits it (``begin_attempt``), then checks the limit counting every *other*
attempt in the window (``retry_after(exclude_id=...)``); a success or a refusal
removes the row again (``forget_attempt``). Of any number of attempts racing,
at most ``limit`` pass the check: the one of them that committed last would
have seen the others. (Checking first and recording after the 40 ms password
check let N parallel guesses all pass.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.models import LoginFailure, utcnow


@dataclass(frozen=True, slots=True)
class LoginLimits:
    window_secs: int
    per_account: int
    per_ip: int


def failure_key(email: str) -> str:
    return email.strip().lower()[:320]


def device_key(nonce: str) -> str:
    """The key a known device's attempts are counted under (in place of the email)."""
    return "device:" + hashlib.sha256(nonce.encode()).hexdigest()[:48]


async def _blocked_until(
    db: AsyncSession,
    column: InstrumentedAttribute[str],
    key: str,
    limit: int,
    since: dt.datetime,
    window: dt.timedelta,
    exclude_id: int | None = None,
) -> dt.datetime | None:
    # The limit-th most recent failure inside the window: while it is there,
    # the key is at its limit; it leaves the window at ``at + window``.
    where = [column == key, LoginFailure.at > since]
    if exclude_id is not None:
        where.append(LoginFailure.id != exclude_id)
    at = (
        await db.execute(
            select(LoginFailure.at)
            .where(*where)
            .order_by(LoginFailure.at.desc())
            .offset(limit - 1)
            .limit(1)
        )
    ).scalar_one_or_none()
    return None if at is None else at + window


async def retry_after(
    db: AsyncSession,
    limits: LoginLimits,
    email: str,
    ip: str,
    now: dt.datetime | None = None,
    *,
    exclude_id: int | None = None,
    count_ip: bool = True,
) -> int | None:
    """Seconds until a sign-in from ``ip`` for ``email`` may be tried again; None if now.

    ``exclude_id``: the caller's own attempt (``begin_attempt``), not counted.
    ``count_ip`` False: a known device's attempt (``email`` is its ``device_key``),
    held back by its own failures only."""
    now = now or utcnow()
    window = dt.timedelta(seconds=limits.window_secs)
    since = now - window
    checks = [(LoginFailure.email, failure_key(email), limits.per_account)]
    if count_ip:
        checks.append((LoginFailure.ip, ip[:64], limits.per_ip))
    ends = [
        until
        for column, key, limit in checks
        if (until := await _blocked_until(db, column, key, limit, since, window, exclude_id))
        is not None
    ]
    if not ends:
        return None
    return max(1, math.ceil((max(ends) - now).total_seconds()))


async def record_failure(
    db: AsyncSession, limits: LoginLimits, email: str, ip: str, now: dt.datetime | None = None
) -> int:
    """Count a failed attempt and forget this account's and IP's failures that left the window.

    Returns the new row's id."""
    now = now or utcnow()
    key, ip = failure_key(email), ip[:64]
    since = now - dt.timedelta(seconds=limits.window_secs)
    await db.execute(
        delete(LoginFailure).where(
            or_(LoginFailure.email == key, LoginFailure.ip == ip), LoginFailure.at <= since
        )
    )
    row = LoginFailure(email=key, ip=ip, at=now)
    db.add(row)
    await db.flush()
    return int(row.id)


async def begin_attempt(
    db: AsyncSession, limits: LoginLimits, email: str, ip: str, now: dt.datetime | None = None
) -> int:
    """Record a sign-in attempt as a failure before the password is checked; returns its id.

    Commit before calling ``retry_after(exclude_id=...)``, so that attempts racing
    with this one see it."""
    return await record_failure(db, limits, email, ip, now)


async def forget_attempt(db: AsyncSession, attempt_id: int) -> None:
    """The attempt was refused unchecked or succeeded: it is no failure."""
    await db.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))


async def clear_account(db: AsyncSession, email: str) -> None:
    """After a successful sign-in the account's own typos no longer count against it.

    The IP's failures stay: one good account must not reset an IP that guesses others.
    """
    await db.execute(delete(LoginFailure).where(LoginFailure.email == failure_key(email)))
