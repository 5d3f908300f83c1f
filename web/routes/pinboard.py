"""The pinboard's HTTP API: boards and sections, and the write transaction all
pinboard routes share.

Each write runs in one transaction (``board_tx``) that also appends the change
to the board's channel log; after commit the stored events go to the hub for
fan-out (``fan_out``). Notes, moderation, replies and votes are in
``web/routes/pinboard_notes.py``; releases, which come in bursts ("release your
notes now"), go through a batch writer instead, in
``web/routes/pinboard_release.py``: many releases, one transaction, one fan-out.
Photos and exports live in ``web/routes/pinboard_photos.py``. See docs/pinboard.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.repo import pinboard as repo
from storage.repo.channel_log import StoredEvent
from storage.repo.logs import audit
from storage.repo.pinboard import BoardTx
from storage.repo.pinboard_read import notes_as_seen, snapshot
from storage.repo.pinboard_views import board_view, section_view
from web.api import API, Ctx
from web.pinboard_attachments import attachment_store
from web.services import Services
from web.sqlite_writer import sqlite_writer as sqlite_writer  # re-exported: older callers

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
async def board_tx(ctx: Ctx) -> AsyncIterator[BoardTx]:
    """One transaction for the change and its events; fan-out after commit."""
    services = ctx.services
    async with sqlite_writer(services), services.db.session() as db:
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
    premoderation: bool | None = None
    anonymous: bool | None = Field(
        None, description="notes written from now on show no author (an admin can reveal it)"
    )


@API.op("PATCH", "/api/pinboard/boards/{board_id:int}", body=BoardPatch, tags=TAGS,
        summary="Pre-moderation and anonymous notes on or off (trainers, organisers, admins)")
async def patch_board(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(BoardPatch)
    async with board_tx(ctx) as tx:
        acc = await repo.board_by_id(tx.db, ctx.me, ctx.path_int("board_id"))
        board = await repo.update_board(
            tx, acc, premoderation=body.premoderation, anonymous=body.anonymous
        )
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
