"""Organiser changes to an event: one transaction writes the new event state, the
history row, the news event (the live banner rides on it) and the service
mail to everyone enrolled. The caller hands the returned news event to the hub
after commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError, NotFound
from storage.event_types import EVENT_CANCELLED
from storage.models import (
    CampaignKind,
    Enrolment,
    Event,
    EventChange,
    EventChangeSeen,
    EventStatus,
    MailCategory,
    MailDelivery,
    User,
    UserStatus,
    utcnow,
)
from storage.repo.audience import Recipient
from storage.repo.channel_log import NewEvent, StoredEvent, append
from storage.repo.outbox import create_campaign

EDITABLE = ("starts_at", "ends_at", "location", "description")
LABELS = {
    "starts_at": "Starts",
    "ends_at": "Ends",
    "location": "Place",
    "description": "Description",
}


@dataclass(frozen=True)
class ChangeRequest:
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    location: str | None = None
    description: str | None = None
    cancel: bool = False
    note: str = ""


def _show(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _readable_time(value: Any) -> Any:
    """'2026-11-22T09:00:00+00:00' as people read it in a mail: 'Sun 22 Nov 2026, 09:00 UTC'."""
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    if when.tzinfo is None:  # stored as UTC
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%a %d %b %Y, %H:%M UTC")


def _text_for_mail(
    event: Event, kind: str, changes: dict[str, list[Any]], note: str, link: str
) -> str:
    lines = [f"{event.title}"]
    if kind == EventStatus.CANCELLED.value:
        lines.append("This event has been cancelled.")
    else:
        lines.append("This event has changed:")
        for name, (before, after) in changes.items():
            if name == "description":
                lines.append(f"- {LABELS[name]}: now\n{after}")
            elif name in ("starts_at", "ends_at"):
                lines.append(
                    f"- {LABELS[name]}: {_readable_time(after)} (was {_readable_time(before)})"
                )
            else:
                lines.append(f"- {LABELS[name]}: {after} (was {before})")
    if note:
        lines += ["", note]
    lines += ["", f"The event: {link}"]
    return "\n".join(lines) + "\n"


async def apply_change(
    db: AsyncSession, *, event_id: int, actor: User, req: ChangeRequest, public_url: str
) -> tuple[EventChange, StoredEvent]:
    """``public_url``: the mail links to the event's page, PUBLIC_URL/events/<id>."""
    event = await db.get(Event, event_id, with_for_update=True)
    if event is None:
        raise NotFound("event")
    if event.status == EventStatus.CANCELLED.value:
        raise Conflict("event_cancelled", "the event is cancelled; it cannot change any more")
    changes: dict[str, list[Any]] = {}
    for name in EDITABLE:
        new = getattr(req, name)
        if new is not None and new != getattr(event, name):
            changes[name] = [_show(getattr(event, name)), _show(new)]
            setattr(event, name, new)
    if event.ends_at <= event.starts_at:
        raise DomainError("invalid_time", "the event must end after it starts")
    if req.cancel:
        kind = EventStatus.CANCELLED.value
        changes["status"] = [event.status, kind]
    elif not changes:
        raise DomainError("no_change", "nothing differs from the event as it is")
    else:
        kind = EventStatus.CHANGED.value
    event.status = kind

    change = EventChange(
        event_id=event.id, actor_id=actor.id, kind=kind, changes=changes, note=req.note
    )
    db.add(change)
    await db.flush()

    rows = await db.execute(
        select(User.id, User.display_name, User.email, User.wants_information_mail)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(
            Enrolment.event_id == event.id,
            User.status == UserStatus.ACTIVE.value,
            User.email.is_not(None),
        )
        .order_by(User.id)
    )
    recipients = [Recipient(uid, name, email, bool(w)) for uid, name, email, w in rows if email]
    subject = f"{event.title}: {'cancelled' if req.cancel else 'changed'}"
    campaign = await create_campaign(
        db,
        sender_id=actor.id,
        kind=CampaignKind.EVENT_CHANGE.value,
        category=MailCategory.SERVICE,
        subject=subject,
        body_text=_text_for_mail(
            event, kind, {k: v for k, v in changes.items() if k != "status"}, req.note,
            f"{public_url.rstrip('/')}/events/{event.id}",
        ),
        body_html=None,
        audience={"kind": "event_change", "event_id": event.id, "change_id": change.id},
        event_ids=[event.id],
        recipients=recipients,
    )
    (news,) = await append(
        db,
        [
            NewEvent(
                f"event:{event.id}:news",
                EVENT_CANCELLED if req.cancel else "event_changed",
                {
                    "change_id": change.id,
                    "event_id": event.id,
                    "title": event.title,
                    "status": kind,
                    "changes": changes,
                    "note": req.note,
                    # Clients acknowledge display with this id (seen frame or HTTP).
                    "ack": {"change_id": change.id},
                },
                author_id=actor.id,
                ref_id=None,
            )
        ],
    )
    change.news_event_id = news.id
    change.news_seq = news.seq
    change.campaign_id = campaign.id
    return change, news


async def record_seen(db: AsyncSession, *, change_id: int, user_id: int, via: str) -> bool:
    """Note that the member's client showed the change; True the first time."""
    change = await db.get(EventChange, change_id)
    if change is None:
        raise NotFound("event change")
    if await db.get(EventChangeSeen, (change_id, user_id)) is not None:
        return False
    try:
        async with db.begin_nested():
            db.add(EventChangeSeen(change_id=change_id, user_id=user_id, via=via, seen_at=utcnow()))
    except IntegrityError:  # a second tab acknowledged at the same moment
        return False
    return True


async def change_for_news_event(db: AsyncSession, news_event_id: int) -> EventChange | None:
    return (
        await db.execute(select(EventChange).where(EventChange.news_event_id == news_event_id))
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Reach:
    user_id: int
    display_name: str
    role: str
    email: str | None
    seen_at: dt.datetime | None
    seen_via: str | None
    mail_status: str | None
    mail_attempts: int
    mail_error: str

    @property
    def state(self) -> str:
        if self.seen_at is not None:
            return "seen"
        if self.mail_status == "sent":
            return "mailed"
        return "neither"


async def who_has_it(db: AsyncSession, change: EventChange) -> list[Reach]:
    """Everyone enrolled now: seen live? mail status? (neither: not reached yet)."""
    seen = {
        r.user_id: r
        for r in (
            await db.execute(select(EventChangeSeen).where(EventChangeSeen.change_id == change.id))
        ).scalars()
    }
    mails = {}
    if change.campaign_id is not None:
        mails = {
            d.user_id: d
            for d in (
                await db.execute(
                    select(MailDelivery).where(MailDelivery.campaign_id == change.campaign_id)
                )
            ).scalars()
        }
    rows = await db.execute(
        select(User.id, User.display_name, User.email, Enrolment.role)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(Enrolment.event_id == change.event_id)
        .order_by(User.display_name, User.id)
    )
    out = []
    for uid, name, email, role in rows:
        s = seen.get(uid)
        m = mails.get(uid)
        out.append(
            Reach(
                user_id=uid,
                display_name=name,
                role=role,
                email=email,
                seen_at=s.seen_at if s else None,
                seen_via=s.via if s else None,
                mail_status=m.status if m else None,
                mail_attempts=m.attempts if m else 0,
                mail_error=m.last_error if m else "",
            )
        )
    return out
