"""Who may do what on a pinboard: pure rules over a ``BoardViewer``.

A ``BoardViewer`` is built once per request by ``board_viewer`` (or for many
requests at once by ``board_viewers``), so the case tests in
tests/test_pinboard_authz.py need no database. Organisers have the trainer's
rights on the boards of their event; admins moderate every board. The event,
group and account rules these build on are in ``storage.authz``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.authz import ROLE_RANK, event_role, is_active, is_group_member
from storage.models import Enrolment, GroupMember, Role, User


@dataclass(frozen=True, slots=True)
class BoardViewer:
    user_id: int
    active: bool
    is_admin: bool
    role: Role | None  # enrolment in the board's event
    group_board: bool = False
    in_group: bool = False  # member of the board's learning group

    @property
    def is_trainer(self) -> bool:
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[Role.TRAINER]

    @property
    def is_moderator(self) -> bool:
        return self.active and (self.is_admin or self.is_trainer)


async def board_viewer(
    db: AsyncSession, user: User, event_id: int, group_id: int | None
) -> BoardViewer:
    return BoardViewer(
        user_id=user.id,
        active=is_active(user),
        is_admin=user.is_admin,
        role=await event_role(db, user.id, event_id),
        group_board=group_id is not None,
        in_group=group_id is not None and await is_group_member(db, user.id, group_id),
    )


async def board_viewers(
    db: AsyncSession, wanted: Iterable[tuple[User, int, int | None]]
) -> dict[tuple[int, int, int | None], BoardViewer]:
    """``board_viewer`` for many (user, event_id, group_id) at once, in two queries.

    Keyed by (user id, event id, group id); used by batched board writes, where
    a query per request would cost more than the write itself.
    """
    todo = {(u.id, e, g): u for u, e, g in wanted}
    if not todo:
        return {}
    user_ids = {k[0] for k in todo}
    event_ids = {k[1] for k in todo}
    group_ids = {k[2] for k in todo if k[2] is not None}
    roles = {
        (uid, eid): Role(role)
        for uid, eid, role in await db.execute(
            select(Enrolment.user_id, Enrolment.event_id, Enrolment.role).where(
                Enrolment.user_id.in_(user_ids), Enrolment.event_id.in_(event_ids)
            )
        )
    }
    members: set[tuple[int, int]] = set()
    if group_ids:
        members = {
            (uid, gid)
            for uid, gid in await db.execute(
                select(GroupMember.user_id, GroupMember.group_id).where(
                    GroupMember.user_id.in_(user_ids), GroupMember.group_id.in_(group_ids)
                )
            )
        }
    return {
        (uid, eid, gid): BoardViewer(
            user_id=uid,
            active=is_active(user),
            is_admin=user.is_admin,
            role=roles.get((uid, eid)),
            group_board=gid is not None,
            in_group=gid is not None and (uid, gid) in members,
        )
        for (uid, eid, gid), user in todo.items()
    }


def may_read_board(v: BoardViewer) -> bool:
    """Mirrors ``may_read_channel`` for ``event:<id>:board`` and ``group:<id>:board``."""
    if not v.active:
        return False
    if v.is_admin or v.is_trainer:
        return True
    return v.role is not None and (v.in_group or not v.group_board)


def may_post_on_board(v: BoardViewer) -> bool:
    """Write notes, replies and votes: the board's members (admins only moderate)."""
    if not v.active or v.role is None:
        return False
    return v.is_trainer or not v.group_board or v.in_group


def may_see_note(v: BoardViewer, state: str, author_id: int | None) -> bool:
    """Drafts are the author's; queued and offline notes the author's and moderators'."""
    if not may_read_board(v):
        return False
    if state in ("published", "deleted"):
        return True
    if state == "draft":
        return author_id == v.user_id
    return author_id == v.user_id or v.is_moderator  # pending, offline


def may_see_note_history(v: BoardViewer) -> bool:
    return may_read_board(v) and v.is_moderator


def may_moderate_board(v: BoardViewer) -> bool:
    """Take notes offline, reinstate, approve, pin, manage sections, set pre-moderation."""
    return may_read_board(v) and v.is_moderator


def may_export_board(v: BoardViewer) -> bool:
    return may_read_board(v) and v.is_moderator


def may_write_in_section(v: BoardViewer, locked: bool, admin_locked: bool) -> bool:
    """A trainer's lock stops participants; an admin's lock stops everyone but admins."""
    if admin_locked:
        return v.active and v.is_admin
    if locked:
        return v.is_moderator
    return True


def may_change_note(
    v: BoardViewer, author_id: int | None, state: str, admin_locked: bool
) -> bool:
    """Edit, release or move one's own note (a tombstone is never edited)."""
    if admin_locked and not v.is_admin:
        return False
    return (
        state != "deleted" and author_id is not None and author_id == v.user_id
        and may_post_on_board(v)
    )


def may_delete_note(v: BoardViewer, author_id: int | None, admin_locked: bool) -> bool:
    if admin_locked:
        return v.active and v.is_admin
    if author_id is not None and author_id == v.user_id and may_post_on_board(v):
        return True
    return may_moderate_board(v)
