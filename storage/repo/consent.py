"""Consent records: to appear in an event's media, and to show one's profile photo.

Each decision is a new row (``ConsentRecord``); the newest of a person, kind and event
is the one in force, the earlier ones its history (in the person's data export). A
refusal after consent was given is stored as ``revoked``: what follows from it (media
withdrawn or put on the trainer's due list) is ``storage.repo.media_revocation``'s.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConsentDecision, ConsentKind, ConsentRecord, utcnow


def add_month(when: dt.datetime) -> dt.datetime:
    """The same day and time one calendar month later (the 31st: the month's last day)."""
    year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def _scope(kind: ConsentKind, event_id: int | None) -> Any:
    if kind is ConsentKind.PROFILE_PHOTO:
        return ConsentRecord.event_id.is_(None)
    return ConsentRecord.event_id == event_id


async def current(
    db: AsyncSession, user_id: int, kind: ConsentKind, event_id: int | None = None
) -> ConsentRecord | None:
    """The decision in force, or None if the person was never asked (or never answered)."""
    return (
        await db.execute(
            select(ConsentRecord)
            .where(
                ConsentRecord.user_id == user_id,
                ConsentRecord.kind == kind.value,
                _scope(kind, event_id),
            )
            .order_by(ConsentRecord.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def record(
    db: AsyncSession,
    user_id: int,
    kind: ConsentKind,
    decision: ConsentDecision,
    *,
    event_id: int | None = None,
    now: dt.datetime | None = None,
) -> tuple[ConsentRecord, bool]:
    """Store a decision; returns it and whether it revokes a consent that was in force.

    A refusal of what was given is a revocation; the same decision twice stores nothing.
    """
    if (kind is ConsentKind.EVENT_MEDIA) != (event_id is not None):
        raise RuntimeError("event media consent needs an event; the profile photo's has none")
    before = await current(db, user_id, kind, event_id)
    was_given = before is not None and before.decision == ConsentDecision.GIVEN.value
    if decision is not ConsentDecision.GIVEN:
        # Once given, saying no is a revocation (and stays one); never given, a refusal.
        ever_given = before is not None and before.decision != ConsentDecision.REFUSED.value
        decision = ConsentDecision.REVOKED if ever_given else ConsentDecision.REFUSED
    if before is not None and before.decision == decision.value:
        return before, False
    row = ConsentRecord(
        user_id=user_id, kind=kind.value, event_id=event_id, decision=decision.value,
        at=now or utcnow(),
    )
    db.add(row)
    await db.flush()
    return row, was_given and decision is ConsentDecision.REVOKED


async def event_decisions(db: AsyncSession, event_id: int) -> dict[int, ConsentRecord]:
    """Each person's decision in force about the event's media (people never asked absent)."""
    newest = (
        select(func.max(ConsentRecord.id))
        .where(
            ConsentRecord.kind == ConsentKind.EVENT_MEDIA.value,
            ConsentRecord.event_id == event_id,
        )
        .group_by(ConsentRecord.user_id)
    )
    rows = (await db.execute(select(ConsentRecord).where(ConsentRecord.id.in_(newest)))).scalars()
    return {r.user_id: r for r in rows}


def record_json(r: ConsentRecord) -> dict[str, Any]:
    return {
        "kind": r.kind,
        "event_id": r.event_id,
        "decision": r.decision,
        "at": r.at.isoformat(),
    }


async def consent_history(db: AsyncSession, user_id: int) -> dict[str, Any]:
    rows = (
        await db.execute(
            select(ConsentRecord).where(ConsentRecord.user_id == user_id)
            .order_by(ConsentRecord.id)
        )
    ).scalars()
    return {"items": [record_json(r) for r in rows]}

