"""The channel-log part of erasing a person, and an admin's removal of contributions.

A contribution "is part of a chain" when someone else answered it (an event of
a reply type whose ``ref_id`` points at it, in the same channel), directly or
through another of the person's contributions that is kept. Such events stay
where they are as tombstones: author unlinked (``author_id`` NULL, shown as
"former participant"), ``body`` reduced to ``{"text": ..., "former_participant":
true}`` with the text blanked when the person asked for erasure of content,
else their latest version of it. Everything else the person wrote is deleted,
together with the edits, reactions and moderation events that refer to it: rows
gone, their sequence numbers still taken (a replay reads them as contentless
``erased`` placeholders, ``channel_log.read_log``). Live clients hear of both
through server events (``message.deleted``, ``message.edited``), broadcast by
the caller after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.event_types import DM_RECEIVED, MESSAGE, MESSAGE_DELETED, MESSAGE_EDITED
from storage.models import Channel, ChannelEvent
from storage.repo.channel_log import NewEvent, StoredEvent, append

# Event types that answer the event named by ref_id (a reply keeps its parent): a
# published message with a ``ref``. Board notes and replies keep their chains in
# the pinboard's own tables (``erasure_pinboard``).
REPLY_TYPES = frozenset({MESSAGE})
# Event types that carry a new version of the text of the event named by ref_id.
EDIT_TYPES = frozenset({MESSAGE_EDITED})
CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


async def _kept_by_chains(db: AsyncSession, own: dict[int, ChannelEvent]) -> set[int]:
    """The subset of ``own`` that has a reply from someone else, directly or via a kept one.

    Only replies in the parent's own channel count: a publish may name any event id as
    its ``ref``, and one from another channel is no thread (it would otherwise keep a
    message alive against its author's deletion)."""
    edges: list[tuple[int, int | None, int]] = []  # (reply id, reply author, parent id)
    ids = list(own)
    for chunk in _chunks(ids):
        rows = await db.execute(
            select(
                ChannelEvent.id, ChannelEvent.author_id, ChannelEvent.ref_id, ChannelEvent.channel
            ).where(ChannelEvent.ref_id.in_(chunk), ChannelEvent.type.in_(REPLY_TYPES))
        )
        edges.extend(
            (r[0], r[1], r[2]) for r in rows if r[2] is not None and r[3] == own[r[2]].channel
        )
    keep: set[int] = set()
    changed = True
    while changed:
        changed = False
        for reply, _author, parent in edges:
            if parent not in keep and (reply not in own or reply in keep):
                keep.add(parent)
                changed = True
    return keep


async def _latest_text(db: AsyncSession, event: ChannelEvent, user_id: int | None) -> str:
    text_now = event.body.get("text") if isinstance(event.body, dict) else None
    edit = (
        await db.execute(
            select(ChannelEvent.body)
            .where(
                ChannelEvent.ref_id == event.id,
                ChannelEvent.type.in_(EDIT_TYPES),
                ChannelEvent.author_id == user_id
                if user_id is not None
                else ChannelEvent.author_id.is_(None),
            )
            .order_by(ChannelEvent.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if isinstance(edit, dict) and isinstance(edit.get("text"), str):
        text_now = edit["text"]
    return text_now if isinstance(text_now, str) else ""


async def remove_events(
    db: AsyncSession,
    own: dict[int, ChannelEvent],
    *,
    user_id: int | None,
    erase_content: bool,
    notice_reason: str,
) -> tuple[int, int, list[StoredEvent]]:
    """Delete ``own`` events except those chains need, which become tombstones."""
    keep = await _kept_by_chains(db, own)
    tomb_bodies: dict[int, dict[str, Any]] = {}
    for event_id in keep:
        ev = own[event_id]
        body: dict[str, Any] = {"former_participant": True}
        body["text"] = "" if erase_content else await _latest_text(db, ev, user_id)
        tomb_bodies[event_id] = body
    doomed = [i for i in own if i not in keep]
    # Events of its channel that refer to a doomed one (edits, reactions, moderation) go
    # with it; one elsewhere that names it is someone else's and only keeps a dead ref.
    dependents: list[int] = []
    for chunk in _chunks(doomed):
        rows = await db.execute(
            select(ChannelEvent.id, ChannelEvent.ref_id, ChannelEvent.channel).where(
                ChannelEvent.ref_id.in_(chunk), ChannelEvent.id.not_in(keep or {0})
            )
        )
        dependents += [
            i for i, ref, channel in rows if ref is not None and channel == own[ref].channel
        ]
    all_doomed = sorted(set(doomed) | set(dependents))
    for chunk in _chunks(all_doomed):
        await db.execute(delete(ChannelEvent).where(ChannelEvent.id.in_(chunk)))
    for event_id, body in tomb_bodies.items():
        await db.execute(
            update(ChannelEvent)
            .where(ChannelEvent.id == event_id)
            .values(author_id=None, client_id=None, body=body)
        )
    notices = [
        NewEvent(own[i].channel, MESSAGE_DELETED, {"reason": notice_reason}, None, None, i)
        for i in doomed
        if not own[i].channel.startswith("user:")
    ]
    # Re-render as "former participant"; the text travels only when it was blanked.
    notices += [
        NewEvent(
            own[i].channel,
            MESSAGE_EDITED,
            {"former_participant": True, **({"text": ""} if erase_content else {})},
            None,
            None,
            i,
        )
        for i in sorted(keep)
        if not own[i].channel.startswith("user:")
    ]
    stored = await append(db, notices) if notices else []
    return len(all_doomed), len(keep), stored


async def erase_events(
    db: AsyncSession, user_id: int, *, erase_content: bool
) -> tuple[int, int, int, list[StoredEvent]]:
    """The person's events, their DM notices and personal channel.

    Returns (events deleted, tombstones kept, personal channels removed, server notices)."""
    own = {
        ev.id: ev
        for ev in (
            await db.execute(
                select(ChannelEvent).where(
                    ChannelEvent.author_id == user_id, ~ChannelEvent.channel.like("user:%")
                )
            )
        ).scalars()
    }
    # The recipients' notices of this person's direct messages (``dm.received`` in their
    # personal channels, naming the sender by id) go, whatever becomes of the messages.
    dms = [i for i, ev in own.items() if ev.channel.startswith("dm:")]
    for chunk in _chunks(dms):
        await db.execute(
            delete(ChannelEvent).where(
                ChannelEvent.type == DM_RECEIVED, ChannelEvent.ref_id.in_(chunk)
            )
        )
    deleted, tombstones, notices = await remove_events(
        db, own, user_id=user_id, erase_content=erase_content, notice_reason="account deleted"
    )
    # The personal channel goes entirely: its events, then the channel row.
    await db.execute(delete(ChannelEvent).where(ChannelEvent.channel == f"user:{user_id}"))
    personal = await db.execute(delete(Channel).where(Channel.name == f"user:{user_id}"))
    personal_count = int(personal.rowcount or 0)  # type: ignore[attr-defined]
    return deleted, tombstones, personal_count, notices


async def remove_contributions(
    db: AsyncSession,
    *,
    user_id: int | None,
    channels: Sequence[str] | None,
) -> tuple[int, int, list[StoredEvent]]:
    """An admin removes what people who left wrote, keeping chains (text always blanked).

    With ``user_id``: that person's events (in ``channels`` if given). Without:
    the text of every former-participant tombstone (in ``channels`` if given).
    """
    if user_id is not None:
        cond = ChannelEvent.author_id == user_id
    else:
        cond = ChannelEvent.author_id.is_(None)
    stmt = select(ChannelEvent).where(cond, ~ChannelEvent.channel.like("user:%"))
    if channels is not None:
        stmt = stmt.where(ChannelEvent.channel.in_(channels))
    own: dict[int, ChannelEvent] = {}
    for ev in (await db.execute(stmt)).scalars():
        if user_id is None and not (
            isinstance(ev.body, dict)
            and ev.body.get("former_participant")
            and ev.body.get("text")
            and ev.type not in EDIT_TYPES
        ):
            continue  # a server event or notice, or a tombstone already blank
        own[ev.id] = ev
    if user_id is None:
        # Tombstones are already in chains: blank them in place, delete nothing.
        for event_id in own:
            await db.execute(
                update(ChannelEvent)
                .where(ChannelEvent.id == event_id)
                .values(body={"former_participant": True, "text": ""})
            )
        notices = [
            NewEvent(
                ev.channel,
                MESSAGE_EDITED,
                {"former_participant": True, "text": ""},
                None,
                None,
                ev.id,
            )
            for ev in own.values()
        ]
        return 0, len(own), (await append(db, notices) if notices else [])
    return await remove_events(
        db, own, user_id=user_id, erase_content=True, notice_reason="contribution removed"
    )
