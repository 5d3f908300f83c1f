"""Training events, who is enrolled in them, and in what role."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import DomainError, NotFound
from storage.models import Enrolment, Event, GroupMember, LearningGroup, Role, User, UserStatus


async def create_event(
    db: AsyncSession,
    *,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    description: str = "",
    location: str = "",
    retention_days: int = 365,
) -> Event:
    title = title.strip()
    if not title:
        raise DomainError("invalid_title", "the title must not be empty")
    if ends_at <= starts_at:
        raise DomainError("invalid_times", "the event must end after it starts")
    event = Event(
        title=title,
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
        location=location.strip(),
        retention_days=retention_days,
    )
    db.add(event)
    await db.flush()
    return event


async def get_event(db: AsyncSession, event_id: int) -> Event:
    event = await db.get(Event, event_id)
    if event is None:
        raise NotFound("event")
    return event


async def events_of(db: AsyncSession, user_id: int) -> list[tuple[Event, Role]]:
    """The events a person is enrolled in, soonest first, with their role in each."""
    rows = (
        await db.execute(
            select(Event, Enrolment.role)
            .join(Enrolment, Enrolment.event_id == Event.id)
            .where(Enrolment.user_id == user_id)
            .order_by(Event.starts_at, Event.id)
        )
    ).all()
    return [(event, Role(role)) for event, role in rows]


async def all_events(db: AsyncSession) -> list[Event]:
    return list((await db.execute(select(Event).order_by(Event.starts_at, Event.id))).scalars())


class When(enum.StrEnum):
    """Where an event lies in time, seen from now."""

    PAST = "past"  # ended
    CURRENT = "current"  # started and not ended
    FUTURE = "future"  # not started


@dataclass(frozen=True, slots=True)
class FoundEvent:
    event: Event
    enrolled: int  # people enrolled (deleted accounts aside)
    my_role: Role | None  # the searcher's own role, if enrolled


async def find_events(
    db: AsyncSession,
    *,
    viewer_id: int,
    now: dt.datetime,
    text: str | None = None,
    when: When | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[FoundEvent], int]:
    """Every event (the admin's view), by part of the title and time; a page and the total.

    Past events come most recent first, the others soonest first: what an admin
    looks for is the event closest to now. Offset paging: events are few (one per
    training), and the total lets the screen say how many matched.
    """
    conds = []
    if text and text.strip():
        conds.append(func.lower(Event.title).contains(text.strip().lower(), autoescape=True))
    if when is When.PAST:
        conds.append(Event.ends_at < now)
    elif when is When.CURRENT:
        conds.extend([Event.starts_at <= now, Event.ends_at >= now])
    elif when is When.FUTURE:
        conds.append(Event.starts_at > now)
    total = (await db.execute(select(func.count(Event.id)).where(*conds))).scalar_one()
    enrolled = (
        select(func.count(Enrolment.user_id))
        .join(User, User.id == Enrolment.user_id)
        .where(Enrolment.event_id == Event.id, User.status != UserStatus.DELETED.value)
        .scalar_subquery()
    )
    mine = (
        select(Enrolment.role)
        .where(Enrolment.event_id == Event.id, Enrolment.user_id == viewer_id)
        .scalar_subquery()
    )
    order = (
        (Event.starts_at.desc(), Event.id.desc())
        if when is When.PAST
        else (Event.starts_at, Event.id)
    )
    rows = (
        await db.execute(
            select(Event, enrolled, mine).where(*conds).order_by(*order).offset(offset).limit(limit)
        )
    ).all()
    found = [FoundEvent(e, n, Role(r) if r is not None else None) for e, n, r in rows]
    return found, total


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    display_name: str
    email: str | None
    role: Role


async def members(db: AsyncSession, event_id: int) -> list[Member]:
    """Everyone enrolled in the event who has not been deleted, staff first, then by name."""
    rows = (
        await db.execute(
            select(User.id, User.display_name, User.email, Enrolment.role)
            .join(Enrolment, Enrolment.user_id == User.id)
            .where(Enrolment.event_id == event_id, User.status != UserStatus.DELETED.value)
            .order_by(User.display_name, User.id)
        )
    ).all()
    order = {Role.ORGANISER: 0, Role.TRAINER: 1, Role.PARTICIPANT: 2}
    found = [Member(uid, name, email, Role(role)) for uid, name, email, role in rows]
    return sorted(found, key=lambda m: order[m.role])


async def enrol(db: AsyncSession, user_id: int, event_id: int, role: Role) -> bool:
    """Enrol (or change the role of) a person; returns True if anything changed."""
    current = await db.get(Enrolment, (user_id, event_id))
    if current is None:
        db.add(Enrolment(user_id=user_id, event_id=event_id, role=role.value))
        await db.flush()
        return True
    if current.role == role.value:
        return False
    current.role = role.value
    return True


async def unenrol(db: AsyncSession, user_id: int, event_id: int) -> bool:
    """End an enrolment and the person's membership of the event's groups."""
    current = await db.get(Enrolment, (user_id, event_id))
    if current is None:
        return False
    group_ids = select(LearningGroup.id).where(LearningGroup.event_id == event_id)
    await db.execute(
        delete(GroupMember).where(
            GroupMember.user_id == user_id, GroupMember.group_id.in_(group_ids)
        )
    )
    await db.delete(current)
    await db.flush()
    return True
