"""Provisioning from a suite: idempotent batch upsert of users, events, enrolments and groups
keyed by the suite's own ids (``external_id``), in the caller's one transaction.

Each kind costs a fixed number of statements whatever the batch size: one
``SELECT`` of what exists, one multi-row ``INSERT`` of what is new, and an
``UPDATE`` only for rows whose values differ. So a second identical call reads
and writes nothing but its ``SELECT``s, and answers every row ``unchanged``.
Anything wrong (an unknown reference, an address owned by another account, a
repeated id) refuses the whole batch: nothing of it is stored.

Accounts made here have no password: the person signs in through a link an
admin sends (``POST /api/users/{id}/invitation``) or, later, single sign-on.
An account whose address exists without an external id is linked to it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError
from storage.models import Enrolment, Event, GroupMember, LearningGroup, Role, User, UserStatus
from storage.repo.accounts import normalise_email


@dataclass(frozen=True)
class UserIn:
    external_id: str
    email: str
    display_name: str


@dataclass(frozen=True)
class EventIn:
    external_id: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    description: str = ""
    location: str = ""


@dataclass(frozen=True)
class EnrolmentIn:
    event: str  # external ids
    user: str
    role: Role = Role.PARTICIPANT


@dataclass(frozen=True)
class GroupIn:
    external_id: str
    event: str
    name: str
    members: tuple[str, ...] | None = None  # the complete membership; None: leave it


@dataclass
class Batch:
    users: Sequence[UserIn] = ()
    events: Sequence[EventIn] = ()
    enrolments: Sequence[EnrolmentIn] = ()
    unenrol: Sequence[tuple[str, str]] = ()  # (event, user) external ids
    groups: Sequence[GroupIn] = ()


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


@dataclass
class Outcome:
    counts: dict[str, Counts] = field(
        default_factory=lambda: {k: Counts() for k in ("users", "events", "enrolments", "groups",
                                                       "group_members")}
    )
    ids: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"users": {}, "events": {}, "groups": {}}
    )
    # Whose rights changed (enrolled, role, removed, groups): live connections recheck.
    changed_users: set[int] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated or c.removed for c in self.counts.values())


def _unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise DomainError("invalid", f"{what} {v!r} appears twice in the batch", status=422)
        seen.add(v)


async def provision(db: AsyncSession, batch: Batch) -> Outcome:
    """Apply ``batch`` in the caller's transaction; a ``DomainError`` refuses all of it."""
    try:
        return await _provision(db, batch)
    except IntegrityError:
        # Another call stored the same ids or addresses meanwhile: nothing of this one is.
        raise Conflict("conflict", "a concurrent change collided; send the batch again") from None


async def _provision(db: AsyncSession, batch: Batch) -> Outcome:
    out = Outcome()
    await _users(db, batch.users, out)
    await _events(db, batch.events, out)
    wanted_users = {e.user for e in batch.enrolments} | {u for _, u in batch.unenrol}
    wanted_events = {e.event for e in batch.enrolments} | {e for e, _ in batch.unenrol}
    for g in batch.groups:
        wanted_events.add(g.event)
        wanted_users.update(g.members or ())
    users = await _resolve(db, User, wanted_users, out.ids["users"], "user")
    events = await _resolve(db, Event, wanted_events, out.ids["events"], "event")
    await _enrolments(db, batch.enrolments, users, events, out)
    await _unenrol(db, batch.unenrol, users, events, out)
    await _groups(db, batch.groups, users, events, out)
    await db.flush()
    return out


async def _resolve(
    db: AsyncSession, model: Any, exts: set[str], known: dict[str, int], what: str
) -> dict[str, int]:
    found = {e: known[e] for e in exts if e in known}
    missing = sorted(exts - set(found))
    if missing:
        for row_id, ext in await db.execute(
            select(model.id, model.external_id).where(model.external_id.in_(missing))
        ):
            found[ext] = row_id
    unknown = sorted(exts - set(found))
    if unknown:
        raise DomainError(
            "unknown_reference", f"no {what} with external_id {unknown[0]!r}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""), status=422,
        )
    return found


async def _users(db: AsyncSession, batch: Sequence[UserIn], out: Outcome) -> None:
    if not batch:
        return
    _unique((u.external_id for u in batch), "user external_id")
    emails = {u.external_id: normalise_email(u.email) for u in batch}
    _unique(emails.values(), "email")
    existing = {
        u.external_id: u
        for u in (
            await db.execute(select(User).where(User.external_id.in_(list(emails))))
        ).scalars()
    }
    owners = {
        u.email: u
        for u in (
            await db.execute(select(User).where(User.email.in_(list(emails.values()))))
        ).scalars()
    }
    counts, new = out.counts["users"], []
    for item in batch:
        email, name = emails[item.external_id], item.display_name.strip()
        row = existing.get(item.external_id) or owners.get(email)
        owner = owners.get(email)
        if owner is not None and owner is not row or (
            row is not None and row.external_id not in (None, item.external_id)
        ):
            raise Conflict("email_taken", f"{email} belongs to another account "
                           f"(user external_id {item.external_id!r})")
        if row is None:
            new.append({"email": email, "display_name": name, "external_id": item.external_id,
                        "status": UserStatus.ACTIVE.value, "is_admin": False})
            continue
        if (row.external_id, row.email, row.display_name) == (item.external_id, email, name):
            counts.unchanged += 1
        else:
            row.external_id, row.email, row.display_name = item.external_id, email, name
            counts.updated += 1
        out.ids["users"][item.external_id] = row.id
    if new:
        for row_id, ext in await db.execute(
            insert(User).returning(User.id, User.external_id), new
        ):
            out.ids["users"][str(ext)] = row_id
        counts.created += len(new)


async def _events(db: AsyncSession, batch: Sequence[EventIn], out: Outcome) -> None:
    if not batch:
        return
    _unique((e.external_id for e in batch), "event external_id")
    existing = {
        e.external_id: e
        for e in (
            await db.execute(
                select(Event).where(Event.external_id.in_([e.external_id for e in batch]))
            )
        ).scalars()
    }
    counts, new = out.counts["events"], []
    for item in batch:
        values = {"title": item.title.strip(), "description": item.description,
                  "starts_at": item.starts_at, "ends_at": item.ends_at,
                  "location": item.location.strip()}
        row = existing.get(item.external_id)
        if row is None:
            new.append({**values, "external_id": item.external_id})
            continue
        if all(getattr(row, k) == v for k, v in values.items()):
            counts.unchanged += 1
        else:
            for k, v in values.items():
                setattr(row, k, v)
            counts.updated += 1
        out.ids["events"][item.external_id] = row.id
    if new:
        for row_id, ext in await db.execute(
            insert(Event).returning(Event.id, Event.external_id), new
        ):
            out.ids["events"][str(ext)] = row_id
        counts.created += len(new)


async def _enrolments(
    db: AsyncSession, batch: Sequence[EnrolmentIn], users: dict[str, int],
    events: dict[str, int], out: Outcome,
) -> None:
    if not batch:
        return
    wanted = {(events[e.event], users[e.user]): e.role.value for e in batch}
    if len(wanted) < len(batch):
        raise DomainError("invalid", "an enrolment appears twice in the batch", status=422)
    current: dict[tuple[int, int], str] = {}
    for event_id in {ev for ev, _ in wanted}:
        user_ids = [u for ev, u in wanted if ev == event_id]
        for uid, role in await db.execute(
            select(Enrolment.user_id, Enrolment.role).where(
                Enrolment.event_id == event_id, Enrolment.user_id.in_(user_ids)
            )
        ):
            current[(event_id, uid)] = role
    counts, new = out.counts["enrolments"], list[dict[str, Any]]()
    changes: dict[tuple[int, str], list[int]] = defaultdict(list)
    for (event_id, uid), role in wanted.items():
        had = current.get((event_id, uid))
        if had is None:
            new.append({"event_id": event_id, "user_id": uid, "role": role})
        elif had != role:
            changes[(event_id, role)].append(uid)
        else:
            counts.unchanged += 1
    if new:
        await db.execute(insert(Enrolment), new)
        counts.created += len(new)
        out.changed_users.update(int(r["user_id"]) for r in new)
    for (event_id, role), uids in changes.items():
        await db.execute(
            update(Enrolment)
            .where(Enrolment.event_id == event_id, Enrolment.user_id.in_(uids))
            .values(role=role)
        )
        counts.updated += len(uids)
        out.changed_users.update(uids)


async def _unenrol(
    db: AsyncSession, batch: Sequence[tuple[str, str]], users: dict[str, int],
    events: dict[str, int], out: Outcome,
) -> None:
    by_event: dict[int, set[int]] = defaultdict(set)
    for e, u in batch:
        by_event[events[e]].add(users[u])
    for event_id, uids in by_event.items():
        groups = select(LearningGroup.id).where(LearningGroup.event_id == event_id)
        await db.execute(
            delete(GroupMember).where(GroupMember.group_id.in_(groups),
                                      GroupMember.user_id.in_(list(uids)))
        )
        gone = (
            await db.execute(
                delete(Enrolment)
                .where(Enrolment.event_id == event_id, Enrolment.user_id.in_(list(uids)))
                .returning(Enrolment.user_id)
            )
        ).scalars().all()
        out.counts["enrolments"].removed += len(gone)
        out.changed_users.update(gone)


async def _groups(
    db: AsyncSession, batch: Sequence[GroupIn], users: dict[str, int],
    events: dict[str, int], out: Outcome,
) -> None:
    if not batch:
        return
    _unique((g.external_id for g in batch), "group external_id")
    existing = {
        g.external_id: g
        for g in (
            await db.execute(
                select(LearningGroup).where(
                    LearningGroup.external_id.in_([g.external_id for g in batch])
                )
            )
        ).scalars()
    }
    counts, new = out.counts["groups"], []
    for item in batch:
        row, event_id = existing.get(item.external_id), events[item.event]
        if row is not None and row.event_id != event_id:
            raise Conflict("group_moved", f"group {item.external_id!r} belongs to another event")
        if row is None:
            new.append({"event_id": event_id, "name": item.name.strip(),
                        "external_id": item.external_id})
        elif row.name == item.name.strip():
            counts.unchanged += 1
        else:
            row.name = item.name.strip()
            counts.updated += 1
        if row is not None:
            out.ids["groups"][item.external_id] = row.id
    if new:
        for row_id, ext in await db.execute(
            insert(LearningGroup).returning(
                LearningGroup.id, LearningGroup.external_id
            ),
            new,
        ):
            out.ids["groups"][str(ext)] = row_id
        counts.created += len(new)
    await _members(db, [g for g in batch if g.members is not None], users, events, out)


async def _members(
    db: AsyncSession, batch: Sequence[GroupIn], users: dict[str, int],
    events: dict[str, int], out: Outcome,
) -> None:
    if not batch:
        return
    group_ids = {g.external_id: out.ids["groups"][g.external_id] for g in batch}
    wanted = {(group_ids[g.external_id], users[m]) for g in batch for m in g.members or ()}
    enrolled: set[tuple[int, int]] = set()
    for event_id in {events[g.event] for g in batch}:
        uids = [users[m] for g in batch if events[g.event] == event_id for m in g.members or ()]
        enrolled.update(
            (event_id, uid)
            for uid in (
                await db.execute(
                    select(Enrolment.user_id).where(
                        Enrolment.event_id == event_id, Enrolment.user_id.in_(uids)
                    )
                )
            ).scalars()
        )
    for g in batch:
        for m in g.members or ():
            if (events[g.event], users[m]) not in enrolled:
                raise DomainError("not_enrolled", f"user {m!r} is not enrolled in the event of "
                                  f"group {g.external_id!r}", status=422)
    current = {
        (int(g), int(u))
        for g, u in await db.execute(
            select(GroupMember.group_id, GroupMember.user_id).where(
                GroupMember.group_id.in_(list(group_ids.values()))
            )
        )
    }
    counts = out.counts["group_members"]
    add, drop = wanted - current, current - wanted
    if add:
        await db.execute(insert(GroupMember), [{"group_id": g, "user_id": u} for g, u in add])
    if drop:
        await db.execute(
            delete(GroupMember).where(
                tuple_(GroupMember.group_id, GroupMember.user_id).in_(sorted(drop))
            )
        )
    counts.created, counts.removed, counts.unchanged = len(add), len(drop), len(wanted & current)
    out.changed_users.update(u for _, u in add | drop)
