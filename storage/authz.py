"""Who may do what: the one place that answers "may this user do X on Y".

Global role: admin (``User.is_admin``), plus a data-protection officer flag.
Per event, from the enrolment: participant, trainer or organiser. Every rule
is a function over the database session and the acting user; the tests in
``tests/test_authz.py`` walk them case by case on both backends.

Channel names are parsed in ``storage.channels``; a learning group's pinboard
``group:<id>:board`` is readable like ``group:<id>``. The pinboard's own rules
(notes, sections, moderation) are in ``storage.authz_board``.
"""

from __future__ import annotations

import enum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.channels import ChannelKind, ChannelRef
from storage.models import Enrolment, GroupMember, LearningGroup, Role, User, UserStatus
from storage.repo.restriction import active as restricted

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


def is_active(user: User) -> bool:
    """Blocked and deleted accounts may do nothing."""
    return user.status == UserStatus.ACTIVE.value


async def may_read_channel(db: AsyncSession, user: User, ref: ChannelRef) -> bool:
    """May ``user`` subscribe to (and replay) the channel?

    Admins read every channel, DMs included; the hub's HTTP review path is
    where an admin's reading of a DM is audited, so a live DM subscription by
    an admin who is not a party is refused here.
    """
    if not is_active(user):
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
    if not is_active(user):
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
    if not is_active(user):
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
        return peer is not None and is_active(peer) and await shares_an_event(db, user.id, other)
    return False


# --- Events, enrolment, invitations and groups -------------------------------


async def may_create_event(db: AsyncSession, user: User) -> bool:
    return is_active(user) and user.is_admin


async def may_view_event(db: AsyncSession, user: User, event_id: int) -> bool:
    """Everyone enrolled sees the event and its member list; admins see every event."""
    if not is_active(user):
        return False
    return user.is_admin or await event_role(db, user.id, event_id) is not None


async def may_view_member_emails(db: AsyncSession, user: User, event_id: int) -> bool:
    """Participants see each other's names only; staff of the event see addresses."""
    if not is_active(user):
        return False
    return user.is_admin or await has_event_role(db, user, event_id, Role.TRAINER)


async def may_enrol(db: AsyncSession, user: User, event_id: int) -> bool:
    """Enrol people in any role (one by one or by CSV), and end enrolments."""
    if not is_active(user):
        return False
    return user.is_admin or await has_event_role(db, user, event_id, Role.ORGANISER)


async def may_invite(db: AsyncSession, user: User, event_id: int | None) -> bool:
    """Register a participant (account + invitation link), into ``event_id`` if given.

    Trainers register people into their own events only; admins anywhere,
    also without an event.
    """
    if not is_active(user):
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
    return is_active(user) and user.is_admin


async def may_manage_groups(db: AsyncSession, user: User, event_id: int) -> bool:
    """Create learning groups in an event and change who is in them."""
    if not is_active(user):
        return False
    return user.is_admin or await has_event_role(db, user, event_id, Role.TRAINER)


async def may_manage_accounts(db: AsyncSession, user: User) -> bool:
    """Block and unblock accounts."""
    return is_active(user) and user.is_admin


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
    if not is_active(viewer) or target.status == UserStatus.DELETED.value:
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
    if await restricted(db, target.id) is not None:
        return ProfileView.NAME  # processing restricted (GDPR Art. 18): profile hidden
    if any(ROLE_RANK[Role(r)] >= ROLE_RANK[Role.TRAINER] for r in roles):
        return ProfileView.FULL
    return ProfileView.BRIEF if target.profile_public else ProfileView.NAME


async def may_see_mail_addresses(db: AsyncSession, user: User, event_ids: list[int]) -> bool:
    """Mail recipients' addresses: only trainers and organisers of every event concerned."""
    if not event_ids or not is_active(user):
        return False
    for event_id in set(event_ids):
        if not await has_event_role(db, user, event_id, Role.TRAINER):
            return False
    return True
