"""The activities API for trainers: create, edit, open, close, reveal, hide terms, copy,
delete; and the listing everyone in the room reads.

Each change runs in one ``board_tx`` (``web/routes/pinboard.py``): the activity and
its ``activity.changed`` event commit together and are fanned out after. Answers,
results, scores, exports and the presenter's QR code are in
``web/routes/activity_answers.py``. Authorisation is the board's
(``storage/authz_board.py``): the event's (or group's) readers see open and closed
activities, its trainers, organisers and admins run them. See docs/activities.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.activity_core import MAX_OPTION_CHARS, MAX_OPTIONS, MAX_TERM_CHARS, MAX_TITLE_CHARS
from storage.models import ActivityAnswer
from storage.repo import activities as repo
from storage.repo.activity_answers import answer_view, read_tally
from storage.repo.channel_log import last_seq
from storage.repo.pinboard_access import event_board_channel, group_board_channel
from web.activity_live import live
from web.api import API, Ctx
from web.routes.pinboard import board_tx

TAGS = ("activities",)

Option = Annotated[str, Field(min_length=1, max_length=MAX_OPTION_CHARS)]
OptionIndex = Annotated[int, Field(ge=0, lt=MAX_OPTIONS)]


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["poll", "wordcloud"]
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS, description="the question")
    options: list[Option] = Field(default_factory=list, max_length=MAX_OPTIONS,
                                  description="a poll's options (2 to 12); none for a word cloud")
    correct: list[OptionIndex] = Field(
        default_factory=list, max_length=MAX_OPTIONS,
        description="quiz mode: the indexes of the correct options (empty: a plain poll)")
    multiple: bool = Field(default=False, description="several options may be chosen")
    changeable: bool = Field(default=True, description="an answer may change until closed")
    time_limit_secs: int | None = Field(default=None, ge=5, le=3600,
                                        description="closes by itself this long after opening")
    group_id: int | None = Field(default=None, ge=1, le=2**62,
                                 description="a learning group's activity (on create only)")

    def spec(self) -> repo.ActivitySpec:
        return repo.ActivitySpec(
            kind=self.kind, title=self.title, options=self.options, correct=self.correct,
            multiple=self.multiple, changeable=self.changeable,
            time_limit_secs=self.time_limit_secs,
        )


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: int | None = Field(default=None, ge=1, le=2**62,
                                 description="a learning group's activities instead")


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["open", "closed"]


class ResultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shown: bool


class TermIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    term: str = Field(min_length=1, max_length=MAX_TERM_CHARS * 2)
    hidden: bool = True


class CopyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: int = Field(ge=1, le=2**62)
    group_id: int | None = Field(default=None, ge=1, le=2**62)


async def full_view(db: AsyncSession, acc: repo.ActivityAccess, user_id: int) -> dict[str, Any]:
    """The activity as the caller sees it, with their own answer and the results they may see."""
    a = acc.activity
    out = repo.view_for(acc)
    mine = (await db.execute(select(ActivityAnswer).where(
        ActivityAnswer.activity_id == a.id, ActivityAnswer.user_id == user_id
    ))).scalar_one_or_none()
    out["my_answer"] = answer_view(a, mine) if mine is not None else None
    out["results"] = (await read_tally(db, a)).body(shown=a.results_shown, full=acc.manages)
    return out


@API.op("GET", "/api/events/{event_id:int}/activities", query=ListQuery, tags=TAGS,
        summary="The event's (or a group's) activities, drafts only to its trainers, with "
                "the channel and its last_seq to follow from")
async def list_activities(ctx: Ctx) -> dict[str, Any]:
    group_id = ctx.query_as(ListQuery).group_id
    event_id = ctx.path_int("event_id")
    channel = group_board_channel(group_id) if group_id else event_board_channel(event_id)
    async with ctx.services.db.session() as db:
        # Read before the activities: a change after it is replayed from the channel.
        seq = await last_seq(db, channel)
        viewer, rows = await repo.list_activities(db, ctx.me, event_id, group_id)
        items = [await full_view(db, repo.ActivityAccess(a, viewer), ctx.me.id) for a in rows]
    return {"activities": items, "channel": channel, "last_seq": seq,
            "manages": authz_board.may_moderate_board(viewer),
            "may_answer": authz_board.may_post_on_board(viewer)}


@API.op("POST", "/api/events/{event_id:int}/activities", body=ActivityIn, status=201, tags=TAGS,
        summary="Prepare a poll, quiz or word cloud as a draft (trainers)")
async def create_activity(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ActivityIn)
    async with board_tx(ctx) as tx:
        acc = await repo.create_activity(tx, ctx.path_int("event_id"), body.group_id, body.spec())
        return await full_view(tx.db, acc, ctx.me.id)


@API.op("GET", "/api/activities/{activity_id:int}", tags=TAGS,
        summary="One activity with the caller's answer and the results they may see")
async def get_activity(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        acc = await repo.activity_for(db, ctx.me, ctx.path_int("activity_id"))
        return await full_view(db, acc, ctx.me.id)


@API.op("PATCH", "/api/activities/{activity_id:int}", body=ActivityIn, tags=TAGS,
        errors={409: "not a draft any more (not_a_draft)"},
        summary="Edit a draft's question and options (trainers)")
async def edit_activity(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        acc = await repo.activity_for(tx.db, ctx.me, ctx.path_int("activity_id"), lock=True)
        await repo.edit_activity(tx, acc, ctx.body_as(ActivityIn).spec())
        return await full_view(tx.db, acc, ctx.me.id)


async def _after(ctx: Ctx, activity_id: int) -> None:
    live(ctx.services).tally_soon(activity_id)  # what the room may see of it changed


@API.op("POST", "/api/activities/{activity_id:int}/state", body=StateIn, tags=TAGS,
        errors={409: "not allowed from the current state (bad_transition)"},
        summary="Open (draft or closed) or close an activity (trainers)")
async def set_state(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        acc = await repo.activity_for(tx.db, ctx.me, ctx.path_int("activity_id"), lock=True)
        await repo.set_state(tx, acc, ctx.body_as(StateIn).state)
        out = await full_view(tx.db, acc, ctx.me.id)
    await _after(ctx, acc.activity.id)
    return out


@API.op("POST", "/api/activities/{activity_id:int}/results", body=ResultsIn, tags=TAGS,
        summary="Show the results to the room, or hide them again (trainers)")
async def show_results(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        acc = await repo.activity_for(tx.db, ctx.me, ctx.path_int("activity_id"), lock=True)
        await repo.show_results(tx, acc, ctx.body_as(ResultsIn).shown)
        out = await full_view(tx.db, acc, ctx.me.id)
    await _after(ctx, acc.activity.id)
    return out


@API.op("POST", "/api/activities/{activity_id:int}/hidden-terms", body=TermIn, tags=TAGS,
        summary="Hide a word cloud answer (all answers of that term) from the room, or show it")
async def hide_term(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(TermIn)
    async with board_tx(ctx) as tx:
        acc = await repo.activity_for(tx.db, ctx.me, ctx.path_int("activity_id"), lock=True)
        await repo.hide_term(tx, acc, body.term, body.hidden)
        out = await full_view(tx.db, acc, ctx.me.id)
    await _after(ctx, acc.activity.id)
    return out


@API.op("POST", "/api/activities/{activity_id:int}/copy", body=CopyIn, status=201, tags=TAGS,
        summary="Copy an activity as a new draft into an event the caller trains (no answers)")
async def copy_activity(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(CopyIn)
    async with board_tx(ctx) as tx:
        acc = await repo.activity_for(tx.db, ctx.me, ctx.path_int("activity_id"))
        copy = await repo.copy_activity(tx, acc, body.event_id, body.group_id)
        return await full_view(tx.db, copy, ctx.me.id)


@API.op("DELETE", "/api/activities/{activity_id:int}", tags=TAGS,
        summary="Delete an activity and its answers (trainers)")
async def delete_activity(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        acc = await repo.activity_for(tx.db, ctx.me, ctx.path_int("activity_id"), lock=True)
        await repo.delete_activity(tx, acc)
    return {"deleted": True}


