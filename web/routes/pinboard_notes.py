"""The pinboard's HTTP API for notes: write, edit, delete, pin, lock, move, history,
moderation (offline, reinstate, approve), replies and votes.

Each write runs in one ``board_tx`` (``web/routes/pinboard.py``). Releasing a
draft is batched, in ``web/routes/pinboard_release.py``. See docs/pinboard.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from storage.repo import pinboard as repo
from storage.repo.pinboard import BoardTx
from storage.repo.pinboard_read import notes_as_seen
from storage.repo.pinboard_views import iso, public_note, reply_view
from storage.repo.room_controls import check_board_post
from web.api import API, Ctx
from web.routes.pinboard import TAGS, board_tx

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
        return {**tx.fresh_views[note.id], "replies": [], "my_vote": False,
                "mine": note.author_id == tx.actor.id}
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
        await check_board_post(
            tx.db, ctx.me.id, acc.board.event_id, staff=acc.viewer.is_moderator
        )
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
             # An anonymous note's editor is its author: not shown (docs/pinboard.md).
             "editor_id": None if note.anonymous else r.editor_id,
             "replaced_at": iso(r.created_at)}
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
        await check_board_post(
            tx.db, ctx.me.id, acc.board.event_id, staff=acc.viewer.is_moderator
        )
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
