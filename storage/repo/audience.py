"""Who a bulk mail goes to: the participants of an event, a learning group, or of the
events the sender runs (past / current / future), optionally by role.

Only trainers and organisers of an event may address its people; the resolved
audience names the events concerned, whose trainers and organisers may then
see the recipients' addresses.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import DomainError, Forbidden, NotFound
from storage.models import (
    Enrolment,
    Event,
    GroupMember,
    LearningGroup,
    Role,
    User,
    UserStatus,
    utcnow,
)
from storage.repo.restriction import restricted_user_ids


class AudienceKind(enum.StrEnum):
    EVENT = "event"
    GROUP = "group"
    MY_EVENTS = "my_events"


class When(enum.StrEnum):
    PAST = "past"
    CURRENT = "current"
    FUTURE = "future"
    ALL = "all"


@dataclass(frozen=True)
class AudienceSpec:
    kind: AudienceKind
    event_id: int | None = None
    group_id: int | None = None
    when: When = When.ALL
    roles: tuple[Role, ...] = ()  # empty: every role


@dataclass(frozen=True)
class Recipient:
    user_id: int
    display_name: str
    email: str
    wants_information_mail: bool


@dataclass(frozen=True)
class Audience:
    event_ids: tuple[int, ...]
    recipients: tuple[Recipient, ...]


STAFF = (Role.TRAINER.value, Role.ORGANISER.value)


async def _staff_event_ids(db: AsyncSession, user_id: int) -> list[int]:
    rows = await db.execute(
        select(Enrolment.event_id).where(Enrolment.user_id == user_id, Enrolment.role.in_(STAFF))
    )
    return [r[0] for r in rows]


def _when_clause(when: When, now: dt.datetime) -> object:
    if when is When.PAST:
        return Event.ends_at < now
    if when is When.CURRENT:
        return and_(Event.starts_at <= now, Event.ends_at >= now)
    if when is When.FUTURE:
        return Event.starts_at > now
    return True


async def resolve(
    db: AsyncSession, sender: User, spec: AudienceSpec, *, now: dt.datetime | None = None
) -> Audience:
    """The events concerned and the distinct active recipients with an address."""
    event_ids, group_id = await _scope(db, sender, spec, now or utcnow())
    if not event_ids:
        return Audience((), ())
    return Audience(tuple(event_ids), await _recipients(db, event_ids, group_id, spec))


async def _scope(
    db: AsyncSession, sender: User, spec: AudienceSpec, now: dt.datetime
) -> tuple[list[int], int | None]:
    """The events (and the learning group, if one) the sender may mail as ``spec`` asks."""
    staff_of = set(await _staff_event_ids(db, sender.id))
    if spec.kind is AudienceKind.EVENT:
        if spec.event_id is None:
            raise DomainError("invalid_audience", "audience 'event' needs event_id")
        if await db.get(Event, spec.event_id) is None:
            raise NotFound("event")
        if spec.event_id not in staff_of:
            raise Forbidden("only trainers and organisers of the event may mail its people")
        return [spec.event_id], None
    if spec.kind is AudienceKind.GROUP:
        if spec.group_id is None:
            raise DomainError("invalid_audience", "audience 'group' needs group_id")
        group = await db.get(LearningGroup, spec.group_id)
        if group is None:
            raise NotFound("learning group")
        if group.event_id not in staff_of:
            raise Forbidden("only trainers and organisers of the event may mail its groups")
        return [group.event_id], group.id
    if not staff_of:
        return [], None
    rows = await db.execute(
        select(Event.id).where(Event.id.in_(staff_of), _when_clause(spec.when, now))  # type: ignore[arg-type]
    )
    return sorted(r[0] for r in rows), None


async def _recipients(
    db: AsyncSession, event_ids: list[int], group_id: int | None, spec: AudienceSpec
) -> tuple[Recipient, ...]:
    query = (
        select(User.id, User.display_name, User.email, User.wants_information_mail, Enrolment.role)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(
            Enrolment.event_id.in_(event_ids),
            User.status == UserStatus.ACTIVE.value,
            User.email.is_not(None),
            # Restriction of processing (GDPR Art. 18): kept, not mailed (docs/privacy.md).
            User.id.not_in(restricted_user_ids()),
        )
    )
    if group_id is not None:
        query = query.join(
            GroupMember, and_(GroupMember.user_id == User.id, GroupMember.group_id == group_id)
        )
    if spec.roles:
        query = query.where(Enrolment.role.in_([r.value for r in spec.roles]))
    seen: dict[int, Recipient] = {}
    for uid, name, email, wants, _role in await db.execute(query.order_by(User.id)):
        if uid not in seen and email:
            seen[uid] = Recipient(uid, name, email, bool(wants))
    return tuple(seen.values())
