"""Who may do what: the one place that answers "may this user do X on Y".

Global role: admin (``User.is_admin``), plus a data-protection officer flag.
Per event, from the enrolment: participant, trainer or organiser. Every rule
is a function over the database session and the acting user; the tests in
``tests/test_authz.py`` walk them case by case on both backends.

Channel names are parsed in ``storage.channels``; a learning group's pinboard
``group:<id>:board`` is readable like ``group:<id>``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.channels import ChannelKind, ChannelRef
from storage.models import Enrolment, GroupMember, LearningGroup, Role, User, UserStatus

ROLE_RANK = {Role.PARTICIPANT: 1, Role.TRAINER: 2, Role.ORGANISER: 3}
async def event_role(db: AsyncSession, user_id: int, event_id: int) -> Role | None:
    value = (
        await db.execute(
            select(Enrolment.role).where(
                Enrolment.user_id == user_id, Enrolment.event_id == event_id
            )
        )
    ).scalar_one_or_none()
    return Role(value) if value is not None else None


async def has_event_role(db: AsyncSession, user: User, event_id: int, at_least: Role) -> bool:
    role = await event_role(db, user.id, event_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[at_least]


async def group_event_id(db: AsyncSession, group_id: int) -> int | None:
    return (
        await db.execute(select(LearningGroup.event_id).where(LearningGroup.id == group_id))
    ).scalar_one_or_none()


async def is_group_member(db: AsyncSession, user_id: int, group_id: int) -> bool:
    return (
        await db.execute(
            select(GroupMember.user_id).where(
                GroupMember.group_id == group_id, GroupMember.user_id == user_id
            )
        )
    ).first() is not None


async def shares_an_event(db: AsyncSession, a: int, b: int) -> bool:
    mine = select(Enrolment.event_id).where(Enrolment.user_id == a)
    return (
        await db.execute(
            select(Enrolment.event_id).where(Enrolment.user_id == b, Enrolment.event_id.in_(mine))
        )
    ).first() is not None


def _active(user: User) -> bool:
    return user.status == UserStatus.ACTIVE.value


async def may_read_channel(db: AsyncSession, user: User, ref: ChannelRef) -> bool:
    """May ``user`` subscribe to (and replay) the channel?

    Admins read every channel, DMs included; the hub's HTTP review path is
    where an admin's reading of a DM is audited, so a live DM subscription by
    an admin who is not a party is refused here.
    """
    if not _active(user):
        return False
    if ref.kind in (ChannelKind.CHAT, ChannelKind.BOARD, ChannelKind.NEWS):
        return user.is_admin or await event_role(db, user.id, ref.id) is not None
    if ref.kind in (ChannelKind.GROUP, ChannelKind.GROUP_BOARD):
        event_id = await group_event_id(db, ref.id)
        if event_id is None:
            return False
        if user.is_admin or await is_group_member(db, user.id, ref.id):
            return True
        return await has_event_role(db, user, event_id, Role.TRAINER)
    if ref.kind is ChannelKind.DM:
        return user.id in (ref.id, ref.other)
    if ref.kind is ChannelKind.USER:
        return user.id == ref.id
    return False  # pragma: no cover - every kind is handled above


async def channel_rights(db: AsyncSession, user: User, ref: ChannelRef) -> tuple[bool, bool | None]:
    """``(may_read_channel, may_publish)`` with the queries shared; the second is None
    when it needs queries of its own (a DM: the peer's state), to ask ``may_publish`` then.

    The hub asks this once per subscription, so a class of a thousand that subscribes
    and then posts at once costs no second role lookup per post.
    """
    if not _active(user):
        return False, False
    if ref.kind in (ChannelKind.CHAT, ChannelKind.NEWS, ChannelKind.BOARD):
        role = await event_role(db, user.id, ref.id)
        read = user.is_admin or role is not None
        if ref.kind is ChannelKind.CHAT:
            return read, role is not None
        if ref.kind is ChannelKind.NEWS:
            return read, role is not None and ROLE_RANK[role] >= ROLE_RANK[Role.ORGANISER]
        return read, False
    if ref.kind in (ChannelKind.GROUP, ChannelKind.GROUP_BOARD):
        event_id = await group_event_id(db, ref.id)
        if event_id is None:
            return False, False
        member = await is_group_member(db, user.id, ref.id)
        trainer = not member and await has_event_role(db, user, event_id, Role.TRAINER)
        read = user.is_admin or member or trainer
        return read, (member or trainer) if ref.kind is ChannelKind.GROUP else False
    if ref.kind is ChannelKind.DM:
        return user.id in (ref.id, ref.other), (None if user.id in (ref.id, ref.other) else False)
    if ref.kind is ChannelKind.USER:
        return user.id == ref.id, False
    return False, False  # pragma: no cover - every kind is handled above


async def reads_as_admin_only(db: AsyncSession, user: User, ref: ChannelRef) -> bool:
    """Does ``user`` read the channel only by being an admin (not enrolled, not a member)?

    Such a read is a review of someone else's log: the hub writes it to the audit log.
    """
    if not user.is_admin:
        return False
    if ref.kind in (ChannelKind.CHAT, ChannelKind.BOARD, ChannelKind.NEWS):
        return await event_role(db, user.id, ref.id) is None
    if ref.kind in (ChannelKind.GROUP, ChannelKind.GROUP_BOARD):
        if await is_group_member(db, user.id, ref.id):
            return False
        event_id = await group_event_id(db, ref.id)
        return event_id is None or not await has_event_role(db, user, event_id, Role.TRAINER)
    return False  # DMs and personal channels: only their own people read them


async def may_publish(db: AsyncSession, user: User, ref: ChannelRef) -> bool:
    """May ``user`` publish a client event (a chat message) to the channel?

    Board changes go through the pinboard's own operations, news through the
    organiser's, and personal channels are written by the server only.
    """
    if not _active(user):
        return False
    if ref.kind is ChannelKind.CHAT:
        return await event_role(db, user.id, ref.id) is not None
    if ref.kind is ChannelKind.NEWS:
        return await has_event_role(db, user, ref.id, Role.ORGANISER)
    if ref.kind is ChannelKind.GROUP:
        return await is_group_member(db, user.id, ref.id) or bool(
            (event_id := await group_event_id(db, ref.id))
            and await has_event_role(db, user, event_id, Role.TRAINER)
        )
    if ref.kind is ChannelKind.DM:
        if user.id not in (ref.id, ref.other):
            return False
        other = ref.other if user.id == ref.id else ref.id
        if other is None:
            raise RuntimeError("a DM channel without its second person")
        peer = await db.get(User, other)
        return peer is not None and _active(peer) and await shares_an_event(db, user.id, other)
    return False


# --- Events, enrolment, invitations and groups -------------------------------


async def may_create_event(db: AsyncSession, user: User) -> bool:
    return _active(user) and user.is_admin


async def may_view_event(db: AsyncSession, user: User, event_id: int) -> bool:
    """Everyone enrolled sees the event and its member list; admins see every event."""
    if not _active(user):
        return False
    return user.is_admin or await event_role(db, user.id, event_id) is not None


async def may_view_member_emails(db: AsyncSession, user: User, event_id: int) -> bool:
    """Participants see each other's names only; staff of the event see addresses."""
    if not _active(user):
        return False
    return user.is_admin or await has_event_role(db, user, event_id, Role.TRAINER)


async def may_enrol(db: AsyncSession, user: User, event_id: int) -> bool:
    """Enrol people in any role (one by one or by CSV), and end enrolments."""
    if not _active(user):
        return False
    return user.is_admin or await has_event_role(db, user, event_id, Role.ORGANISER)


async def may_invite(db: AsyncSession, user: User, event_id: int | None) -> bool:
    """Register a participant (account + invitation link), into ``event_id`` if given.

    Trainers register people into their own events only; admins anywhere,
    also without an event.
    """
    if not _active(user):
        return False
    if user.is_admin:
        return True
    return event_id is not None and await has_event_role(db, user, event_id, Role.TRAINER)


async def may_issue_link_for(db: AsyncSession, user: User, target: User) -> bool:
    """May ``user`` be handed a set-your-password link for the existing ``target``?

    Whoever holds the link becomes that person (and reads their direct messages
    from the start), so only an admin ever gets one in an answer. Anyone else's
    request for an existing account sends the link to the account's own address
    (``storage/repo/account_mail.py``); whether the account was ever activated or
    had its password reset makes no difference.
    """
    return _active(user) and user.is_admin


async def may_manage_groups(db: AsyncSession, user: User, event_id: int) -> bool:
    """Create learning groups in an event and change who is in them."""
    if not _active(user):
        return False
    return user.is_admin or await has_event_role(db, user, event_id, Role.TRAINER)


async def may_manage_accounts(db: AsyncSession, user: User) -> bool:
    """Block and unblock accounts."""
    return _active(user) and user.is_admin


# --- Pinboard -------------------------------------------------------------------------
# Pure rules over a ``BoardViewer`` (built once per request by ``board_viewer``), so the
# case tests in tests/test_pinboard_authz.py need no database. Organisers have the
# trainer's rights on the boards of their event; admins moderate every board.


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
        active=_active(user),
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
            active=_active(user),
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
class ProfileView(enum.StrEnum):
    """How much of a person's profile a viewer sees."""

    FULL = "full"  # everything stored: self, admins, trainers/organisers of their events
    BRIEF = "brief"  # name, photo, short text: co-participants, when the person enabled it
    NAME = "name"  # the display name only: co-participants otherwise


async def profile_view(db: AsyncSession, viewer: User, target: User) -> ProfileView | None:
    """What ``viewer`` may see of ``target``'s profile; None means nothing at all."""
    if viewer.id == target.id or viewer.is_admin:
        return ProfileView.FULL
    return await profile_view_by_enrolment(db, viewer, target)


async def profile_view_by_enrolment(
    db: AsyncSession, viewer: User, target: User
) -> ProfileView | None:
    """What the events ``viewer`` and ``target`` share show of ``target`` (admin rights
    aside: an admin's read beyond this is audited)."""
    if not _active(viewer) or target.status == UserStatus.DELETED.value:
        return None
    theirs = select(Enrolment.event_id).where(Enrolment.user_id == target.id)
    roles = (
        await db.execute(
            select(Enrolment.role).where(
                Enrolment.user_id == viewer.id, Enrolment.event_id.in_(theirs)
            )
        )
    ).scalars().all()
    if not roles:
        return None
    if any(ROLE_RANK[Role(r)] >= ROLE_RANK[Role.TRAINER] for r in roles):
        return ProfileView.FULL
    return ProfileView.BRIEF if target.profile_public else ProfileView.NAME


async def may_see_mail_addresses(db: AsyncSession, user: User, event_ids: list[int]) -> bool:
    """Mail recipients' addresses: only trainers and organisers of every event concerned."""
    if not event_ids or not _active(user):
        return False
    for event_id in set(event_ids):
        if not await has_event_role(db, user, event_id, Role.TRAINER):
            return False
    return True
