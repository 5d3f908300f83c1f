"""Reading the audit log and the activity log (filtered, paged, streamed) and pruning activity.

There is deliberately no function here, or anywhere, that updates or deletes an
audit row: the audit log is append-only, and the database refuses such changes
too (triggers from migration ``0003_privacy``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActivityEntry, AuditEntry

BATCH = 500


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    action: str | None = None
    target: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class ActivityFilter:
    user_id: int | None = None
    action: str | None = None
    target: str | None = None
    ip: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def audit_json(row: AuditEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor_id": row.actor_id,
        "action": row.action,
        "target": row.target,
        "reason": row.reason,
        "detail": row.detail,
        "ip": row.ip,
    }


def activity_json(row: ActivityEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "user_id": row.user_id,
        "action": row.action,
        "target": row.target,
        "ip": row.ip,
    }


def _audit_conds(f: AuditFilter) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    if f.actor_id is not None:
        c.append(AuditEntry.actor_id == f.actor_id)
    if f.action is not None:
        c.append(AuditEntry.action == f.action)
    if f.target is not None:
        c.append(AuditEntry.target == f.target)
    if f.since is not None:
        c.append(AuditEntry.at >= f.since)
    if f.until is not None:
        c.append(AuditEntry.at < f.until)
    return c


def _activity_conds(f: ActivityFilter) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    if f.user_id is not None:
        c.append(ActivityEntry.user_id == f.user_id)
    if f.action is not None:
        c.append(ActivityEntry.action == f.action)
    if f.target is not None:
        c.append(ActivityEntry.target == f.target)
    if f.ip is not None:
        c.append(ActivityEntry.ip == f.ip)
    if f.since is not None:
        c.append(ActivityEntry.at >= f.since)
    if f.until is not None:
        c.append(ActivityEntry.at < f.until)
    return c


async def audit_page(
    db: AsyncSession, f: AuditFilter, *, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    conds = _audit_conds(f)
    if before_id is not None:
        conds.append(AuditEntry.id < before_id)
    rows = (
        await db.execute(
            select(AuditEntry).where(and_(true(), *conds)).order_by(AuditEntry.id.desc()).limit(limit + 1)
        )
    ).scalars().all()
    items = [audit_json(r) for r in rows[:limit]]
    return items, (items[-1]["id"] if len(rows) > limit else None)


async def audit_stream(db: AsyncSession, f: AuditFilter) -> AsyncIterator[dict[str, Any]]:
    stmt = (
        select(AuditEntry)
        .where(and_(true(), *_audit_conds(f)))
        .order_by(AuditEntry.id)
        .execution_options(yield_per=BATCH)
    )
    result = await db.stream(stmt)
    try:
        async for (row,) in result:
            yield audit_json(row)
    finally:
        await result.close()


async def activity_page(
    db: AsyncSession, f: ActivityFilter, *, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    conds = _activity_conds(f)
    if before_id is not None:
        conds.append(ActivityEntry.id < before_id)
    rows = (
        await db.execute(
            select(ActivityEntry)
            .where(and_(true(), *conds))
            .order_by(ActivityEntry.id.desc())
            .limit(limit + 1)
        )
    ).scalars().all()
    items = [activity_json(r) for r in rows[:limit]]
    return items, (items[-1]["id"] if len(rows) > limit else None)


async def prune_activity(db: AsyncSession, older_than: dt.datetime) -> int:
    """Delete activity entries from before ``older_than``; returns how many."""
    result = await db.execute(delete(ActivityEntry).where(ActivityEntry.at < older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
