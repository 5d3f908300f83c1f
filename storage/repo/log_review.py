"""Reading the audit log and the activity log (filtered, paged, streamed) and pruning activity.

Both go through the one filter/page/stream helper (``storage.repo.paging``).
There is deliberately no function here, or anywhere, that updates or deletes an
audit row: the audit log is append-only, and the database refuses such changes
too (triggers from migration ``0003_privacy``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActivityEntry, AuditEntry, User
from storage.repo import paging

AUDIT = AuditEntry.__table__.c
ACTIVITY = ActivityEntry.__table__.c


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    action: str | None = None
    target: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def conditions(self) -> paging.Conditions:
        return paging.equal(
            (AUDIT.actor_id, self.actor_id),
            (AUDIT.action, self.action),
            (AUDIT.target, self.target),
        ) + paging.window(AUDIT.at, self.since, self.until)


@dataclass(frozen=True)
class ActivityFilter:
    user_id: int | None = None
    action: str | None = None
    target: str | None = None
    ip: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def conditions(self) -> paging.Conditions:
        return paging.equal(
            (ACTIVITY.user_id, self.user_id),
            (ACTIVITY.action, self.action),
            (ACTIVITY.target, self.target),
            (ACTIVITY.ip, self.ip),
        ) + paging.window(ACTIVITY.at, self.since, self.until)


def audit_json(row: Row[Any]) -> dict[str, Any]:
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


def activity_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "user_id": row.user_id,
        "action": row.action,
        "target": row.target,
        "ip": row.ip,
    }


async def _with_names(
    db: AsyncSession, items: list[dict[str, Any]], id_key: str, name_key: str
) -> list[dict[str, Any]]:
    """Add each row's person's current display name (None: no person, or erased) for the
    screen; one query a page. Exports keep the ids only, as stored."""
    ids = {i[id_key] for i in items if i[id_key] is not None}
    names: dict[int, str] = {}
    if ids:
        rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
        names = {uid: name for uid, name in rows}
    for item in items:
        item[name_key] = names.get(item[id_key]) if item[id_key] is not None else None
    return items


async def audit_page(
    db: AsyncSession, f: AuditFilter, *, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    items, nxt = await paging.page(
        db, select(*AUDIT), AUDIT.id, f.conditions(),
        before_id=before_id, limit=limit, shape=audit_json,
    )
    return await _with_names(db, items, "actor_id", "actor_name"), nxt


def audit_stream(db: AsyncSession, f: AuditFilter) -> AsyncIterator[dict[str, Any]]:
    return paging.stream(db, select(*AUDIT), AUDIT.id, f.conditions(), shape=audit_json)


async def activity_page(
    db: AsyncSession, f: ActivityFilter, *, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    items, nxt = await paging.page(
        db, select(*ACTIVITY), ACTIVITY.id, f.conditions(),
        before_id=before_id, limit=limit, shape=activity_json,
    )
    return await _with_names(db, items, "user_id", "user_name"), nxt


async def prune_activity(db: AsyncSession, older_than: dt.datetime) -> int:
    """Delete activity entries from before ``older_than``; returns how many."""
    result = await db.execute(delete(ActivityEntry).where(ActivityEntry.at < older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
