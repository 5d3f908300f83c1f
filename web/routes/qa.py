"""The Q&A's HTTP API for the room: read a Q&A, its settings, ask, upvote.

Writes run in one ``board_tx`` (``web/routes/pinboard.py``: the change and its
board-channel events in one transaction, fan-out after commit); upvotes go
through the batched path of ``web/qa_live.py``. Trainers' actions, exports and
the admin's audited reveal of an anonymous author are in
``web/routes/qa_moderation.py``. See docs/qa.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from storage import authz_board
from storage.qa_core import MAX_QUESTION_CHARS, Order
from storage.repo import qa as repo
from storage.repo.logs import audit
from storage.repo.qa_views import qa_view, questions_as_seen, snapshot
from storage.repo.qa_votes import VoteRequest
from web.api import API, Ctx
from web.qa_live import qa_live
from web.routes.pinboard import board_tx
from web.schemas import Strict

TAGS = ("qa",)


class OrderQuery(Strict):
    order: Order = Field(Order.VOTES, description="votes (most first) or time (newest first)")


class QaPatch(Strict):
    open: bool | None = None
    premoderation: bool | None = Field(None, description="hold questions until approved")
    anonymous: bool | None = Field(
        None, description="new questions are asked anonymously (an admin can still reveal)"
    )


class QuestionIn(Strict):
    text: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)


async def _read(ctx: Ctx, db: AsyncSession, acc: repo.QaAccess) -> dict[str, Any]:
    """The snapshot; an admin who takes no part in the event reviews it, audited like the
    board's ``review.board``."""
    v = acc.viewer
    if v.is_admin and not authz_board.may_read_board(dataclasses.replace(v, is_admin=False)):
        await audit(db, actor_id=ctx.me.id, action="review.qa", target=f"qa:{acc.board.id}",
                    ip=ctx.ip)
    return await snapshot(db, acc.board, ctx.me.id, moderator=acc.moderator,
                          order=ctx.query_as(OrderQuery).order)


@API.op("GET", "/api/events/{event_id:int}/qa", query=OrderQuery, tags=TAGS,
        summary="An event's Q&A as the caller sees it (created on first use), with last_seq")
async def event_qa(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        return await _read(ctx, db, await repo.event_qa(db, ctx.me, ctx.path_int("event_id")))


@API.op("GET", "/api/groups/{group_id:int}/qa", query=OrderQuery, tags=TAGS,
        summary="A learning group's Q&A (its members, the event's trainers)")
async def group_qa(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        return await _read(ctx, db, await repo.group_qa(db, ctx.me, ctx.path_int("group_id")))


@API.op("GET", "/api/qa/{qa_id:int}", query=OrderQuery, tags=TAGS,
        summary="A Q&A by id as the caller sees it")
async def get_qa(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        return await _read(ctx, db, await repo.qa_by_id(db, ctx.me, ctx.path_int("qa_id")))


@API.op("PATCH", "/api/qa/{qa_id:int}", body=QaPatch, tags=TAGS,
        summary="Open or close a Q&A, pre-moderation, anonymous questions (trainers)")
async def patch_qa(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(QaPatch)
    async with board_tx(ctx) as tx:
        acc = await repo.qa_by_id(tx.db, ctx.me, ctx.path_int("qa_id"))
        board = await repo.update_settings(
            tx, acc, open_=body.open, premoderation=body.premoderation, anonymous=body.anonymous
        )
        return qa_view(board)


@API.op("POST", "/api/qa/{qa_id:int}/questions", body=QuestionIn, status=201, tags=TAGS,
        summary="Ask a question (held for approval on a pre-moderated Q&A)")
async def ask(ctx: Ctx) -> JSONResponse:
    async with board_tx(ctx) as tx:
        acc = await repo.qa_by_id(tx.db, ctx.me, ctx.path_int("qa_id"))
        q = await repo.ask(tx, acc, ctx.body_as(QuestionIn).text)
        out = (await questions_as_seen(tx.db, ctx.me.id, [q]))[0]
    return JSONResponse(out, status_code=201)


async def _vote(ctx: Ctx, up: bool) -> dict[str, Any]:
    voted = await qa_live(ctx.services).vote(
        VoteRequest(ctx.me, ctx.path_int("question_id"), up)
    )
    return {"question_id": voted.question_id, "votes": voted.votes, "my_vote": voted.my_vote}


VOTE_ERRORS = {503: "the vote could not be stored (store_unavailable); nothing changed"}


@API.op("POST", "/api/qa/questions/{question_id:int}/vote", tags=TAGS, errors=VOTE_ERRORS,
        summary="Upvote a question (one per person; 409 already_voted)")
async def vote(ctx: Ctx) -> dict[str, Any]:
    return await _vote(ctx, True)


@API.op("DELETE", "/api/qa/questions/{question_id:int}/vote", tags=TAGS, errors=VOTE_ERRORS,
        summary="Withdraw one's upvote")
async def unvote(ctx: Ctx) -> dict[str, Any]:
    return await _vote(ctx, False)
