"""Learning groups inside an event and their members."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError, NotFound
from storage.models import Enrolment, GroupMember, LearningGroup, User


async def create_group(db: AsyncSession, event_id: int, name: str) -> LearningGroup:
    name = name.strip()
    if not name:
        raise DomainError("invalid_name", "the group name must not be empty")
    taken = (
        await db.execute(
            select(LearningGroup.id).where(
                LearningGroup.event_id == event_id, LearningGroup.name == name
            )
        )
    ).first()
    if taken is not None:
        raise Conflict("group_exists", f"the event has a group named {name!r} already")
    group = LearningGroup(event_id=event_id, name=name)
    db.add(group)
    await db.flush()
    return group


async def get_group(db: AsyncSession, group_id: int) -> LearningGroup:
    group = await db.get(LearningGroup, group_id)
    if group is None:
        raise NotFound("group")
    return group


async def groups_of_event(db: AsyncSession, event_id: int) -> list[LearningGroup]:
    return list(
        (
            await db.execute(
                select(LearningGroup)
                .where(LearningGroup.event_id == event_id)
                .order_by(LearningGroup.name)
            )
        ).scalars()
    )


async def group_members(db: AsyncSession, group_id: int) -> list[User]:
    return list(
        (
            await db.execute(
                select(User)
                .join(GroupMember, GroupMember.user_id == User.id)
                .where(GroupMember.group_id == group_id)
                .order_by(User.display_name, User.id)
            )
        ).scalars()
    )


async def add_member(db: AsyncSession, group: LearningGroup, user_id: int) -> bool:
    """Add an enrolled person to a group; returns False if they were in it already."""
    enrolled = await db.get(Enrolment, (user_id, group.event_id))
    if enrolled is None:
        raise DomainError(
            "not_enrolled", "only people enrolled in the event can join its groups", status=409
        )
    if await db.get(GroupMember, (group.id, user_id)) is not None:
        return False
    db.add(GroupMember(group_id=group.id, user_id=user_id))
    await db.flush()
    return True


async def remove_member(db: AsyncSession, group: LearningGroup, user_id: int) -> bool:
    result = await db.execute(
        delete(GroupMember).where(GroupMember.group_id == group.id, GroupMember.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))
