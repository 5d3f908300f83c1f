"""The pinboard's HTTP API: boards, sections, notes, replies, votes, moderation.

Each write runs in one transaction that also appends the change to the
board's channel log; after commit the stored events go to the hub for fan-out.
Releases, which come in bursts ("release your notes now"), go through a batch
writer instead: many releases, one transaction, one fan-out.
Photos and exports live in ``web/routes/pinboard_photos.py``. See docs/pinboard.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from storage import authz_board
from storage.batch_writer import BatchWriter
from storage.errors import StoreUnavailable
from storage.repo import pinboard as repo
from storage.repo.channel_log import StoredEvent
from storage.repo.logs import audit
from storage.repo.pinboard import BoardTx
from storage.repo.pinboard_read import notes_as_seen, snapshot
from storage.repo.pinboard_release import Released, ReleaseOutcome, ReleaseRequest, release_many
from storage.repo.pinboard_views import board_view, iso, public_note, reply_view, section_view
from web.api import API, Ctx
from web.pinboard_attachments import attachment_store
from web.services import Services

TAGS = ("pinboard",)
log = logging.getLogger("classhub.pinboard")


async def fan_out(services: Services, events: list[StoredEvent]) -> None:
    """Hand committed events to the hub. The change is durable already: if fan-out
    fails, subscribers still get the events from the store (gap fill, replay), so the
    request must not fail with it."""
    fresh = [e for e in events if not e.duplicate]
    if fresh and services.hub is not None:
        try:
            await services.hub.broadcast(fresh)
        except Exception:
            log.exception("pinboard fan-out of %d event(s) failed", len(fresh))


@asynccontextmanager
async def _sqlite_writer(services: Services) -> AsyncIterator[None]:
    """On SQLite, one board write transaction at a time in this process.

    SQLite has one writer anyway; left to its busy handler, a hundred concurrent
    releases poll for the lock and some starve past the busy timeout ("database
    is locked"). Queueing them here is fair and costs nothing on PostgreSQL,
    where row locks order writers instead.
    """
    if not services.db.is_sqlite:
        yield
        return
    lock = services.extras.get("pinboard.sqlite_writer")
    if lock is None:
        lock = services.extras["pinboard.sqlite_writer"] = asyncio.Lock()
    async with lock:
        yield


RELEASE_WRITER = "pinboard.release_writer"


@asynccontextmanager
async def release_writer(services: Services) -> AsyncIterator[None]:
    """The batch writer of note releases, for the app lifespan (inside the hub's).

    A batch's events go to the hub in a task of their own, so the next batch's
    transaction overlaps this one's fan-out; each such task waits for the one
    before it, so batches reach the hub in commit order.
    """
    last: list[asyncio.Task[None]] = []

    async def transact(requests: list[ReleaseRequest]) -> list[ReleaseOutcome]:
        async with _sqlite_writer(services), services.db.session() as db:
            batch = await release_many(db, requests)
        return batch.outcomes

    async def fan_out_after(before: asyncio.Task[None] | None, events: list[StoredEvent]) -> None:
        if before is not None:
            await asyncio.wait([before])
        await fan_out(services, events)

    def committed(
        requests: list[ReleaseRequest], outcomes: Sequence[ReleaseOutcome | StoreUnavailable]
    ) -> None:
        events = [e for o in outcomes if isinstance(o, Released) for e in o.events]
        if events:
            before = last.pop() if last else None
            last.append(asyncio.get_running_loop().create_task(fan_out_after(before, events)))

    writer: BatchWriter[ReleaseRequest, ReleaseOutcome] = BatchWriter(
        transact, committed, name="pinboard-release"
    )
    writer.start()
    services.extras[RELEASE_WRITER] = writer
    try:
        yield
    finally:
        services.extras.pop(RELEASE_WRITER, None)
        await writer.close()
        if last:
            await asyncio.wait(last, timeout=5.0)  # the last batches' fan-out


@asynccontextmanager
async def board_tx(ctx: Ctx) -> AsyncIterator[BoardTx]:
    """One transaction for the change and its events; fan-out after commit."""
    services = ctx.services
    async with _sqlite_writer(services), services.db.session() as db:
        tx = BoardTx(db, ctx.me, ctx.ip)
        yield tx
        await tx.commit_events()
    tx.committed = True
    if tx.dropped_attachments:
        store = attachment_store(services)
        for att_id in tx.dropped_attachments:
            store.remove(att_id)
    await fan_out(services, tx.stored)


# --- boards ----------------------------------------------------------------------------


async def _snapshot_read(ctx: Ctx, db: AsyncSession, acc: repo.BoardAccess) -> dict[str, Any]:
    """The snapshot; an admin reading a board of an event or group they take no part in
    reviews someone else's log, audited like the hub's ``review.subscribe``."""
    v = acc.viewer
    if v.is_admin and not authz_board.may_read_board(dataclasses.replace(v, is_admin=False)):
        await audit(db, actor_id=ctx.me.id, action="review.board", target=acc.board.channel,
                    ip=ctx.ip)
    return await snapshot(db, acc)


@API.op("GET", "/api/pinboard/events/{event_id:int}/board", tags=TAGS,
        summary="Snapshot of an event's board (created on first use) with the channel's last_seq")
async def event_board(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        acc = await repo.event_board(db, ctx.me, ctx.path_int("event_id"))
        return await _snapshot_read(ctx, db, acc)


@API.op("GET", "/api/pinboard/groups/{group_id:int}/board", tags=TAGS,
        summary="Snapshot of a learning group's board (channel group:<id>:board)")
async def group_board(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        acc = await repo.group_board(db, ctx.me, ctx.path_int("group_id"))
        return await _snapshot_read(ctx, db, acc)


@API.op("GET", "/api/pinboard/boards/{board_id:int}", tags=TAGS,
        summary="Snapshot of a board as the caller sees it, with the channel's last_seq")
async def board_snapshot(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        acc = await repo.board_by_id(db, ctx.me, ctx.path_int("board_id"))
        return await _snapshot_read(ctx, db, acc)


class BoardPatch(BaseModel):
    premoderation: bool


@API.op("PATCH", "/api/pinboard/boards/{board_id:int}", body=BoardPatch, tags=TAGS,
        summary="Turn pre-moderation on or off (trainers, organisers, admins)")
async def patch_board(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        acc = await repo.board_by_id(tx.db, ctx.me, ctx.path_int("board_id"))
        board = await repo.set_premoderation(tx, acc, ctx.body_as(BoardPatch).premoderation)
        return board_view(board)


@API.op("GET", "/api/pinboard/boards/{board_id:int}/queue", tags=TAGS,
        summary="Notes waiting for approval on a pre-moderated board (moderators)")
async def board_queue(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        acc = await repo.board_by_id(db, ctx.me, ctx.path_int("board_id"))
        notes = await repo.queue(db, acc)
        return {"notes": await notes_as_seen(db, acc, notes)}


# --- sections --------------------------------------------------------------------------


class SectionIn(BaseModel):
    title: str = Field(min_length=1, max_length=120)


class SectionPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=120)
    locked: bool | None = None
    admin_locked: bool | None = None


class SectionOrder(BaseModel):
    order: list[int] = Field(max_length=500)


@API.op("POST", "/api/pinboard/boards/{board_id:int}/sections", body=SectionIn, status=201,
        tags=TAGS, summary="Create a section (column) on the board (trainers)")
async def create_section(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        acc = await repo.board_by_id(tx.db, ctx.me, ctx.path_int("board_id"))
        return section_view(await repo.create_section(tx, acc, ctx.body_as(SectionIn).title))


@API.op("PATCH", "/api/pinboard/sections/{section_id:int}", body=SectionPatch, tags=TAGS,
        summary="Rename or lock a section (trainers); admin_locked: admins only")
async def patch_section(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(SectionPatch)
    async with board_tx(ctx) as tx:
        section, acc = await repo.section_for(tx.db, ctx.me, ctx.path_int("section_id"))
        await repo.update_section(
            tx, acc, section, title=body.title, locked=body.locked, admin_locked=body.admin_locked
        )
        return section_view(section)


@API.op("PUT", "/api/pinboard/boards/{board_id:int}/sections/order", body=SectionOrder, tags=TAGS,
        summary="Reorder the board's sections (trainers): every section id once")
async def order_sections(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        acc = await repo.board_by_id(tx.db, ctx.me, ctx.path_int("board_id"))
        sections = await repo.reorder_sections(tx, acc, ctx.body_as(SectionOrder).order)
        return {"sections": [section_view(s) for s in sections]}


@API.op("DELETE", "/api/pinboard/sections/{section_id:int}", tags=TAGS,
        summary="Delete a section; its notes move to the unsorted column (trainers, admins)")
async def delete_section(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        section, acc = await repo.section_for(tx.db, ctx.me, ctx.path_int("section_id"))
        await repo.delete_section(tx, acc, section)
    return {"deleted": True}


# --- notes -----------------------------------------------------------------------------


# The client's id for a note or reply: as a publish's id in docs/protocol.md.
ClientId = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="the client's id for it, unique per author: a retry with the same id "
        "returns what the first request stored (200) instead of writing it again",
    ),
]


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=repo.MAX_NOTE_CHARS)
    colour: str = "yellow"
    section_id: int | None = None
    release: bool = Field(default=False, description="release at once instead of a draft")
    client_id: ClientId = None


class NotePatch(BaseModel):
    text: str | None = Field(default=None, min_length=1, max_length=repo.MAX_NOTE_CHARS)
    colour: str | None = None


class PinIn(BaseModel):
    pinned: bool


class LockIn(BaseModel):
    locked: bool


class MoveIn(BaseModel):
    section_id: int | None
    index: int = Field(default=0, ge=0, le=100_000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=repo.MAX_REPLY_CHARS)


class ReasonOpt(BaseModel):
    reason: str = Field(default="", max_length=repo.MAX_REPLY_CHARS)


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=repo.MAX_REPLY_CHARS)
    parent_id: int | None = None
    client_id: ClientId = None


async def _note_out(tx: BoardTx, acc: repo.BoardAccess, note: Any) -> dict[str, Any]:
    if note.id in tx.fresh_views and tx.fresh_views[note.id]["state"] == note.state:
        # Just released from draft: no replies, no votes; skip four queries.
        return {**tx.fresh_views[note.id], "replies": [], "my_vote": False}
    await tx.db.flush()
    return (await notes_as_seen(tx.db, acc, [note]))[0]


REPLAYED = {200: "a retry: what was stored before under this client_id, as it is now",
            409: "the client_id names another note (or reply) of the caller"}


@API.op("POST", "/api/pinboard/boards/{board_id:int}/notes", body=NoteIn, status=201, tags=TAGS,
        errors=REPLAYED,
        summary="Write a note: a private draft, or released at once with release=true")
async def create_note(ctx: Ctx) -> JSONResponse:
    body = ctx.body_as(NoteIn)
    async with board_tx(ctx) as tx:
        acc = await repo.board_by_id(tx.db, ctx.me, ctx.path_int("board_id"))
        note, new = await repo.create_note(
            tx, acc, text=body.text, colour=body.colour, section_id=body.section_id,
            release=body.release, client_id=body.client_id,
        )
        out = await _note_out(tx, acc, note)
    return JSONResponse(out, status_code=201 if new else 200)


@API.op(
    "GET", "/api/pinboard/notes/{note_id:int}", tags=TAGS, summary="One note as the caller sees it"
)
async def get_note(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        note, acc = await repo.note_for(db, ctx.me, ctx.path_int("note_id"))
        return (await notes_as_seen(db, acc, [note]))[0]


@API.op("PATCH", "/api/pinboard/notes/{note_id:int}", body=NotePatch, tags=TAGS,
        summary="Edit one's own note; a released note keeps its earlier versions")
async def edit_note(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(NotePatch)
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.edit_note(tx, acc, note, text=body.text, colour=body.colour)
        return await _note_out(tx, acc, note)


@API.op("POST", "/api/pinboard/notes/{note_id:int}/release", tags=TAGS,
        errors={503: "the release could not be stored (store_unavailable); nothing changed"},
        summary="Release a draft to the board (to the queue on a pre-moderated board)")
async def release_note(ctx: Ctx) -> dict[str, Any]:
    # Batched with the other releases in flight: answered after their common commit.
    writer: BatchWriter[ReleaseRequest, ReleaseOutcome] = ctx.services.extras[RELEASE_WRITER]
    released = await writer.call(ReleaseRequest(ctx.me, ctx.path_int("note_id"), ctx.ip))
    if not isinstance(released, Released):  # a refusal (a DomainError) is raised by call()
        raise TypeError(f"release answered {type(released).__name__}")
    return released.note


class DeleteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="", max_length=repo.MAX_REPLY_CHARS,
        description="a moderator's reason, sent to the author and kept in the audit log",
    )


@API.op("DELETE", "/api/pinboard/notes/{note_id:int}", query=DeleteQuery, tags=TAGS,
        summary="Delete a note (author, trainers, admins); with replies it leaves a tombstone")
async def delete_note(ctx: Ctx) -> dict[str, Any]:
    # Through the query model like every other parameter: a NUL (which PostgreSQL cannot
    # store, a 500 in the audit insert) or an over-long reason is a 422, not cut or lost.
    reason = ctx.query_as(DeleteQuery).reason
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        tomb = await repo.delete_note(tx, acc, note, reason=reason)
    return {"deleted": True, "tombstone": tomb}


@API.op("POST", "/api/pinboard/notes/{note_id:int}/pin", body=PinIn, tags=TAGS,
        summary="Pin a note to the top of its section, or unpin it (trainers)")
async def pin_note(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.pin_note(tx, acc, note, ctx.body_as(PinIn).pinned)
        return await _note_out(tx, acc, note)


@API.op("POST", "/api/pinboard/notes/{note_id:int}/admin-lock", body=LockIn, tags=TAGS,
        summary="Make a note read-only for everyone but admins (admins)")
async def lock_note(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.admin_lock_note(tx, acc, note, ctx.body_as(LockIn).locked)
        return await _note_out(tx, acc, note)


@API.op("POST", "/api/pinboard/notes/{note_id:int}/move", body=MoveIn, tags=TAGS,
        summary="Move a note to a section (null: unsorted) at an index (author or trainers)")
async def move_note(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.move_note(
            tx, acc, note, ctx.body_as(MoveIn).section_id, ctx.body_as(MoveIn).index
        )
        return await _note_out(tx, acc, note)


@API.op("GET", "/api/pinboard/notes/{note_id:int}/history", tags=TAGS,
        summary="A note's earlier versions (trainers, organisers, admins)")
async def note_history(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        note, acc = await repo.note_for(db, ctx.me, ctx.path_int("note_id"))
        revisions = await repo.history(db, acc, note)
        current = await public_note(db, note)
    return {
        "current": current,
        "revisions": [
            {"version": r.version, "text": r.text, "colour": r.colour, "photo_id": r.photo_id,
             "editor_id": r.editor_id, "replaced_at": iso(r.created_at)}
            for r in revisions
        ],
    }


# --- moderation ------------------------------------------------------------------------


@API.op("POST", "/api/pinboard/notes/{note_id:int}/offline", body=ReasonIn, tags=TAGS,
        summary="Take a note offline with a reason; the author is told and a DM opens (trainers)")
async def take_offline(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.take_offline(tx, acc, note, ctx.body_as(ReasonIn).reason)
        return await _note_out(tx, acc, note)


@API.op("POST", "/api/pinboard/notes/{note_id:int}/reinstate", tags=TAGS,
        summary="Put an offline note back on the board (trainers)")
async def reinstate(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.reinstate(tx, acc, note)
        return await _note_out(tx, acc, note)


@API.op("POST", "/api/pinboard/notes/{note_id:int}/approve", tags=TAGS,
        summary="Approve a queued note on a pre-moderated board (trainers)")
async def approve(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.approve(tx, acc, note)
        return await _note_out(tx, acc, note)


# --- replies and votes -----------------------------------------------------------------


@API.op("POST", "/api/pinboard/notes/{note_id:int}/replies", body=ReplyIn, status=201, tags=TAGS,
        errors=REPLAYED,
        summary="Reply under a published note (optionally to another reply)")
async def add_reply(ctx: Ctx) -> JSONResponse:
    body = ctx.body_as(ReplyIn)
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        reply, new = await repo.add_reply(
            tx, acc, note, body.text, body.parent_id, client_id=body.client_id
        )
        out = reply_view(reply, {ctx.me.id: ctx.me.display_name})
    return JSONResponse(out, status_code=201 if new else 200)


@API.op("DELETE", "/api/pinboard/replies/{reply_id:int}", tags=TAGS,
        summary="Delete a reply (its author or trainers); it keeps its place in the chain")
async def delete_reply(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        await repo.delete_reply(tx, ctx.path_int("reply_id"))
    return {"deleted": True}


@API.op("POST", "/api/pinboard/notes/{note_id:int}/vote", status=201, tags=TAGS,
        errors={409: "this account has voted for the note already"},
        summary="Vote for a published note; one vote per account (409 on a second)")
async def vote(ctx: Ctx) -> JSONResponse:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        count = await repo.vote(tx, acc, note)
    return JSONResponse({"note_id": note.id, "votes": count, "my_vote": True}, status_code=201)


@API.op("DELETE", "/api/pinboard/notes/{note_id:int}/vote", tags=TAGS,
        summary="Withdraw one's vote")
async def unvote(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        count = await repo.unvote(tx, acc, note)
    return {"note_id": note.id, "votes": count, "my_vote": False}
