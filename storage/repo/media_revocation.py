"""What a revoked consent does to an event's media, and the trainers' due list.

A medium tagged as a portrait of the person is withdrawn at once; one that shows them
with others goes on the trainers' due list with a deadline one calendar month away,
to blur (photos), replace or withdraw. ``withdraw_overdue`` (``classhub maintenance``)
withdraws what is still open past its deadline and tells the event's trainers and the
admins: a notice in their personal channel and a service mail through the outbox.
Every step writes an audit row (actor NULL: the system).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.event_types import MEDIA_DUE, MEDIA_WITHDRAWN
from storage.models import (
    CampaignKind,
    Enrolment,
    MailCategory,
    MediaDue,
    MediaItem,
    MediaState,
    MediaTag,
    Role,
    User,
    UserStatus,
    utcnow,
)
from storage.repo.audience import Recipient
from storage.repo.channel_log import NewEvent, StoredEvent, append
from storage.repo.consent import add_month
from storage.repo.logs import audit
from storage.repo.media import withdraw
from storage.repo.outbox import create_campaign

STAFF = (Role.TRAINER.value, Role.ORGANISER.value)


@dataclass
class Revocation:
    withdrawn: list[int] = field(default_factory=list)  # media ids: delete their files
    due: list[int] = field(default_factory=list)  # media ids put on the due list
    notices: list[StoredEvent] = field(default_factory=list)  # to broadcast after commit


async def _staff_ids(db: AsyncSession, event_id: int) -> list[int]:
    rows = await db.execute(
        select(Enrolment.user_id).where(Enrolment.event_id == event_id, Enrolment.role.in_(STAFF))
    )
    return sorted(r[0] for r in rows)


def _notice(user_ids: list[int], kind: str, item: MediaItem, **extra: Any) -> list[NewEvent]:
    body = {"media_id": item.id, "event_id": item.event_id, "title": item.title, **extra}
    return [NewEvent(f"user:{uid}", kind, body) for uid in user_ids]


async def on_revocation(
    db: AsyncSession, user_id: int, event_id: int, *, now: dt.datetime | None = None
) -> Revocation:
    """Withdraw the person's portraits in the event; put group shots on the due list."""
    now = now or utcnow()
    out = Revocation()
    rows = await db.execute(
        select(MediaItem, MediaTag.portrait)
        .join(MediaTag, MediaTag.media_id == MediaItem.id)
        .where(
            MediaItem.event_id == event_id,
            MediaItem.state == MediaState.PUBLISHED.value,
            MediaTag.user_id == user_id,
        )
        .with_for_update(of=MediaItem)
    )
    staff = await _staff_ids(db, event_id)
    notices: list[NewEvent] = []
    for item, portrait in rows.all():
        if portrait:
            await withdraw(db, item, reason="consent revoked (portrait)", now=now)
            out.withdrawn.append(item.id)
            notices += _notice(staff, MEDIA_WITHDRAWN, item, reason="consent revoked (portrait)")
            await audit(db, actor_id=None, action="media.withdraw", target=f"media:{item.id}",
                        reason="consent revoked (portrait)", detail={"user_id": user_id})
            continue
        open_due = (await db.execute(
            select(MediaDue.id).where(
                MediaDue.media_id == item.id, MediaDue.user_id == user_id,
                MediaDue.resolved_at.is_(None),
            )
        )).first()
        if open_due is not None:
            continue
        due_at = add_month(now)
        db.add(MediaDue(media_id=item.id, user_id=user_id, created_at=now, due_at=due_at))
        out.due.append(item.id)
        notices += _notice(staff, MEDIA_DUE, item, due_at=due_at.isoformat())
        await audit(db, actor_id=None, action="media.due", target=f"media:{item.id}",
                    detail={"user_id": user_id, "due_at": due_at.isoformat()})
    if notices:
        out.notices = await append(db, notices)
    return out


async def due_list(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """The event's open due items, soonest first (staff see who revoked: they must act)."""
    rows = await db.execute(
        select(MediaDue, MediaItem, User.display_name)
        .join(MediaItem, MediaItem.id == MediaDue.media_id)
        .outerjoin(User, User.id == MediaDue.user_id)
        .where(MediaItem.event_id == event_id, MediaDue.resolved_at.is_(None))
        .order_by(MediaDue.due_at, MediaDue.id)
    )
    return [
        {
            "id": due.id,
            "media_id": item.id,
            "kind": item.kind,
            "title": item.title,
            "user_id": due.user_id,
            "display_name": name,
            "created_at": due.created_at.isoformat(),
            "due_at": due.due_at.isoformat(),
        }
        for due, item, name in rows
    ]


async def _admins(db: AsyncSession) -> list[User]:
    rows = await db.execute(
        select(User).where(User.is_admin.is_(True), User.status == UserStatus.ACTIVE.value)
    )
    return list(rows.scalars())


async def _tell_overdue(
    db: AsyncSession, item: MediaItem, public_url: str
) -> list[StoredEvent]:
    staff_ids = await _staff_ids(db, item.event_id)
    people = {u.id: u for u in await _admins(db)}
    if staff_ids:
        staff = await db.execute(select(User).where(User.id.in_(staff_ids)))
        people.update({u.id: u for u in staff.scalars()})
    recipients = [
        Recipient(u.id, u.display_name, u.email, u.wants_information_mail)
        for u in people.values()
        if u.email and u.status == UserStatus.ACTIVE.value
    ]
    link = f"{public_url.rstrip('/')}/events/{item.event_id}/media"
    await create_campaign(
        db,
        sender_id=None,
        kind=CampaignKind.MEDIA_NOTICE.value,
        category=MailCategory.SERVICE,
        subject=f"Media withdrawn: {item.title or f'#{item.id}'}",
        body_text=(
            f"The {item.kind} \"{item.title or f'#{item.id}'}\" showed someone who revoked "
            "their consent to appear in the event's media. It was not blurred, replaced or "
            "withdrawn within the month allowed, so classhub withdrew it and deleted its "
            f"files.\n\nThe event's media: {link}\n"
        ),
        body_html=None,
        audience={"kind": "media_notice", "media_id": item.id, "event_id": item.event_id},
        event_ids=[item.event_id],
        recipients=recipients,
    )
    reason = "overdue: not blurred within a month of a revoked consent"
    return await append(db, _notice(sorted(people), MEDIA_WITHDRAWN, item, reason=reason))


async def overdue_media_ids(db: AsyncSession, now: dt.datetime) -> list[int]:
    rows = await db.execute(
        select(MediaDue.media_id)
        .join(MediaItem, MediaItem.id == MediaDue.media_id)
        .where(MediaDue.resolved_at.is_(None), MediaDue.due_at <= now)
        .distinct()
    )
    return sorted(r[0] for r in rows)


async def withdraw_overdue_one(
    db: AsyncSession, media_id: int, *, now: dt.datetime, public_url: str
) -> bool:
    """Withdraw one overdue medium in the caller's transaction; False if no longer due."""
    item = (
        await db.execute(select(MediaItem).where(MediaItem.id == media_id).with_for_update())
    ).scalar_one_or_none()
    if item is None:
        return False
    overdue = (await db.execute(
        select(MediaDue.id, MediaDue.user_id).where(
            MediaDue.media_id == media_id, MediaDue.resolved_at.is_(None), MediaDue.due_at <= now
        )
    )).all()
    if not overdue:
        return False  # blurred or replaced meanwhile
    await withdraw(db, item, reason="overdue", resolution="withdrawn_overdue", now=now)
    await audit(db, actor_id=None, action="media.withdraw", target=f"media:{item.id}",
                reason="overdue: not blurred within a month of a revoked consent",
                detail={"due_ids": [d for d, _ in overdue], "user_ids": [u for _, u in overdue]})
    await _tell_overdue(db, item, public_url)
    return True


async def on_consent_given(
    db: AsyncSession, user_id: int, event_id: int, *, now: dt.datetime | None = None
) -> int:
    """Consent given again: the person's open due items in the event are void (withdrawn
    portraits stay withdrawn: their files are gone). Returns how many were closed."""
    rows = (await db.execute(
        select(MediaDue)
        .join(MediaItem, MediaItem.id == MediaDue.media_id)
        .where(MediaItem.event_id == event_id, MediaDue.user_id == user_id,
               MediaDue.resolved_at.is_(None))
    )).scalars().all()
    for due in rows:
        due.resolved_at, due.resolution = now or utcnow(), "consent_given"
    return len(rows)
