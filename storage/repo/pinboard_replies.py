"""Replies under a published note (threaded, deleted in place) and votes (one per account)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.errors import Conflict, Forbidden, NotFound
from storage.event_types import REPLY_ADDED, REPLY_DELETED, VOTE_CHANGED
from storage.models import Note, NoteState, Reply, Vote, utcnow
from storage.repo.logs import audit
from storage.repo.pinboard_access import (
    MAX_REPLY_CHARS,
    BoardAccess,
    BoardTx,
    check_section_writable,
    clean_text,
    note_for,
)
from storage.repo.pinboard_client_ids import by_client_id, insert_once, same_place
from storage.repo.pinboard_redaction import redact_reply_events
from storage.repo.pinboard_views import reply_view


def _require_public(note: Note) -> None:
    if note.state != NoteState.PUBLISHED.value:
        raise Conflict("not_published", "replies and votes are for published notes")


async def add_reply(
    tx: BoardTx,
    acc: BoardAccess,
    note: Note,
    text: str,
    parent_id: int | None,
    client_id: str | None = None,
) -> tuple[Reply, bool]:
    """Reply under a note; returns the reply and whether it is new (see ``create_note``)."""
    if client_id is not None:
        earlier = await by_client_id(tx.db, Reply, tx.actor.id, client_id)
        if earlier is not None:
            return same_place(earlier, earlier.note_id, note.id, "reply"), False
    if not authz_board.may_post_on_board(acc.viewer):
        raise Forbidden("you may not post on this board")
    _require_public(note)
    await check_section_writable(tx.db, acc, note.section_id)
    if parent_id is not None:
        parent = await tx.db.get(Reply, parent_id)
        if parent is None or parent.note_id != note.id:
            raise NotFound("parent reply")
    reply = Reply(
        note_id=note.id, parent_id=parent_id, author_id=tx.actor.id,
        text=clean_text(text, MAX_REPLY_CHARS, "reply"), client_id=client_id,
    )
    stored = await insert_once(tx.db, reply, tx.actor.id, client_id)
    if stored is not reply:
        return same_place(stored, stored.note_id, note.id, "reply"), False
    names = {tx.actor.id: tx.actor.display_name}
    tx.emit(acc.board.channel, REPLY_ADDED, {"reply": reply_view(reply, names)})
    return reply, True


async def delete_reply(tx: BoardTx, reply_id: int) -> Reply:
    """The reply keeps its place in the chain with its text removed."""
    reply = await tx.db.get(Reply, reply_id)
    if reply is None:
        raise NotFound("reply")
    note, acc = await note_for(tx.db, tx.actor, reply.note_id, lock=True)
    mine = reply.author_id == tx.actor.id and authz_board.may_post_on_board(acc.viewer)
    if not (mine or acc.viewer.is_moderator):
        raise Forbidden("only its author or a trainer may delete a reply")
    if reply.deleted_at is not None:
        raise Conflict("deleted", "the reply is deleted already")
    if not mine:
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.reply.delete",
            target=f"reply:{reply.id}", detail={"author_id": reply.author_id}, ip=tx.ip,
        )
    reply.text = ""
    reply.deleted_at = utcnow()
    await redact_reply_events(tx.db, acc.board.channel, reply)
    tx.emit(acc.board.channel, REPLY_DELETED, {"id": reply.id, "note_id": note.id})
    return reply


async def _count_votes(db: AsyncSession, note_id: int) -> int:
    return int((await db.execute(select(func.count()).where(Vote.note_id == note_id))).scalar_one())


async def vote(tx: BoardTx, acc: BoardAccess, note: Note) -> int:
    """One vote per account per note, enforced by the primary key; 409 on a second."""
    if not authz_board.may_post_on_board(acc.viewer):
        raise Forbidden("you may not vote on this board")
    _require_public(note)
    await check_section_writable(tx.db, acc, note.section_id)
    exists = await tx.db.get(Vote, (note.id, tx.actor.id))
    if exists is not None:
        raise Conflict("already_voted", "you have voted for this note already")
    try:
        async with tx.db.begin_nested():
            tx.db.add(Vote(note_id=note.id, user_id=tx.actor.id))
    except IntegrityError:  # a concurrent second vote of the same account
        raise Conflict("already_voted", "you have voted for this note already") from None
    count = await _count_votes(tx.db, note.id)
    tx.emit(acc.board.channel, VOTE_CHANGED, {"note_id": note.id, "votes": count})
    return count


async def unvote(tx: BoardTx, acc: BoardAccess, note: Note) -> int:
    existing = await tx.db.get(Vote, (note.id, tx.actor.id))
    if existing is None:
        raise NotFound("vote")
    _require_public(note)
    await tx.db.delete(existing)
    await tx.db.flush()
    count = await _count_votes(tx.db, note.id)
    tx.emit(acc.board.channel, VOTE_CHANGED, {"note_id": note.id, "votes": count})
    return count
