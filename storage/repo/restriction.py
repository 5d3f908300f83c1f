"""Restriction of processing (GDPR Art. 18): a person's data kept but not used.

While a restriction is in force (``lifted_at`` NULL) the person is left out of bulk
mail audiences (``storage.repo.audience``), out of co-participants' member lists, and
their profile shows only their name to others (``storage.authz.profile_view``);
what running their events needs stays (docs/privacy.md, "Restriction of processing").
Asked for by the person or an admin on their behalf, lifted by an admin only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import DomainError
from storage.models import ProcessingRestriction, utcnow


def restricted_user_ids() -> Select[Any]:
    """A subquery of every person under a restriction now (for ``not_in`` clauses)."""
    return select(ProcessingRestriction.user_id).where(ProcessingRestriction.lifted_at.is_(None))


async def active(db: AsyncSession, user_id: int) -> ProcessingRestriction | None:
    return (
        await db.execute(
            select(ProcessingRestriction)
            .where(
                ProcessingRestriction.user_id == user_id,
                ProcessingRestriction.lifted_at.is_(None),
            )
            .order_by(ProcessingRestriction.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def restricted_among(db: AsyncSession, user_ids: Iterable[int]) -> set[int]:
    ids = list(set(user_ids))
    if not ids:
        return set()
    rows = await db.execute(
        select(ProcessingRestriction.user_id).where(
            ProcessingRestriction.user_id.in_(ids), ProcessingRestriction.lifted_at.is_(None)
        )
    )
    return {r[0] for r in rows}


async def restrict(
    db: AsyncSession, user_id: int, *, reason: str, by: int, now: dt.datetime | None = None
) -> ProcessingRestriction:
    if await active(db, user_id) is not None:
        raise DomainError("already_restricted", "processing is already restricted", status=409)
    row = ProcessingRestriction(
        user_id=user_id, reason=reason, requested_by=by, requested_at=now or utcnow()
    )
    db.add(row)
    await db.flush()
    return row


async def lift(
    db: AsyncSession, user_id: int, *, by: int, note: str, now: dt.datetime | None = None
) -> ProcessingRestriction:
    row = await active(db, user_id)
    if row is None:
        raise DomainError("not_restricted", "processing is not restricted", status=409)
    row.lifted_at, row.lifted_by, row.lift_note = now or utcnow(), by, note
    return row


def restriction_json(r: ProcessingRestriction) -> dict[str, Any]:
    return {
        "id": r.id,
        "user_id": r.user_id,
        "reason": r.reason,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at.isoformat(),
        "lifted_at": r.lifted_at.isoformat() if r.lifted_at else None,
        "lifted_by": r.lifted_by,
        "lift_note": r.lift_note,
        "active": r.lifted_at is None,
    }


async def restriction_history(db: AsyncSession, user_id: int) -> dict[str, Any]:
    rows = (
        await db.execute(
            select(ProcessingRestriction)
            .where(ProcessingRestriction.user_id == user_id)
            .order_by(ProcessingRestriction.id)
        )
    ).scalars()
    return {"items": [restriction_json(r) for r in rows]}

