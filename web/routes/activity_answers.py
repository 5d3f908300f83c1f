"""The activities API for the room: answer, results, quiz scores; and for trainers the
exports and the presenter view's QR code.

An answer is not a transaction of its own: it goes to the answers' batch writer
(``web/activity_live.py``) and is answered after the common commit; the tally
follows, coalesced, on the activity's channel. Refusals are clear 4xx answers:
``activity_closed`` (409), ``already_answered`` (409), ``bad_answer`` (422), and 404
for an activity of an event (or group) the caller is not in.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Literal

import segno
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from storage import authz_board
from storage.activity_core import MAX_OPTIONS, MAX_TERM_CHARS, Kind, is_correct
from storage.repo import activities as repo
from storage.repo.activity_answers import AnswerRequest, answers_with_names, read_tally, scores
from storage.repo.logs import audit, log_activity
from web.activity_live import live
from web.api import API, Ctx

TAGS = ("activities",)

OptionIndex = Annotated[int, Field(ge=0, lt=MAX_OPTIONS)]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choices: list[OptionIndex] = Field(default_factory=list, max_length=MAX_OPTIONS,
                                       description="a poll: the chosen options' indexes")
    text: str = Field(default="", max_length=MAX_TERM_CHARS * 2,
                      description="a word cloud: a word or a short phrase")


ANSWER_ERRORS = {
    409: "closed (activity_closed), or answered already and not changeable (already_answered)",
    422: "the answer does not fit the activity (bad_answer)",
    503: "the answer could not be stored (store_unavailable); nothing changed",
}


@API.op("POST", "/api/activities/{activity_id:int}/answer", body=AnswerIn, tags=TAGS,
        errors=ANSWER_ERRORS,
        summary="Answer a poll or word cloud; again to change it where the activity allows")
async def answer(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(AnswerIn)
    done = await live(ctx.services).answer(AnswerRequest(
        ctx.me, ctx.path_int("activity_id"), tuple(body.choices), body.text
    ))
    return {**done.answer, "changed": done.changed}


@API.op("GET", "/api/activities/{activity_id:int}/results", tags=TAGS,
        summary="The tally: counts (or terms) once shown; always to the event's trainers")
async def results(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        acc = await repo.activity_for(db, ctx.me, ctx.path_int("activity_id"))
        tally = await read_tally(db, acc.activity)
    return tally.body(shown=acc.activity.results_shown, full=acc.manages)


@API.op("GET", "/api/events/{event_id:int}/quiz-scores", tags=TAGS,
        summary="Quiz scores: everyone's to the event's trainers; one's own (revealed quizzes)")
async def quiz_scores(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        viewer = await repo.event_viewer(db, ctx.me, event_id)
        manages = authz_board.may_moderate_board(viewer)
        found = await scores(db, event_id, revealed_only=not manages,
                             user_id=None if manages else ctx.me.id)
        await _audit_review(db, ctx, viewer, "review.quiz_scores", f"event:{event_id}")
        names = await repo.names_of(db, [s.user_id for s in found])
    return {
        "scores": [
            {"user_id": s.user_id, "name": names.get(s.user_id, ""), "correct": s.correct,
             "answered": s.answered}
            for s in found
        ],
        "all": manages,
    }


async def _audit_review(
    db: AsyncSession, ctx: Ctx, viewer: authz_board.BoardViewer, action: str, target: str
) -> None:
    """An admin reading people's answers in an event they do not train reviews someone
    else's data: audited like the board's ``review.board``."""
    if viewer.is_admin and not viewer.is_trainer:
        await audit(db, actor_id=ctx.me.id, action=action, target=target, ip=ctx.ip)


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] = "json"


@API.op("GET", "/api/activities/{activity_id:int}/export", query=ExportQuery, tags=TAGS,
        produces=("application/json", "text/csv"),
        summary="Export an activity's results and answers as JSON or CSV (trainers)")
async def export(ctx: Ctx) -> Response:
    fmt = ctx.query_as(ExportQuery).format
    async with ctx.services.db.session() as db:
        acc = await repo.activity_for(db, ctx.me, ctx.path_int("activity_id"))
        repo.require_manager(acc)
        a = acc.activity
        tally = await read_tally(db, a)
        rows = await answers_with_names(db, a)
        await log_activity(db, user_id=ctx.me.id, action="activity.export",
                           target=f"activity:{a.id}", ip=ctx.ip)
        await _audit_review(db, ctx, acc.viewer, "review.activity_export", f"activity:{a.id}")
    answers = [
        {
            "name": name,
            "answer": "; ".join(a.options[c] for c in ans.choices if c < len(a.options))
            if a.kind == Kind.POLL else ans.text,
            "term": ans.term,
            "correct": is_correct(ans.choices, a.correct) if a.correct else None,
            "answered_at": ans.updated_at.isoformat(),
        }
        for ans, name in rows
    ]
    name = f"activity-{a.id}.{fmt}"
    if fmt == "json":
        data = {"activity": repo.view_for(acc), "results": tally.body(shown=True, full=True),
                "answers": answers}
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        return _download(body, "application/json", name)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["name", "answer", "term", "correct", "answered_at"])
    writer.writeheader()
    for row in answers:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return _download(out.getvalue().encode(), "text/csv; charset=utf-8", name)


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _cell(value: Any) -> Any:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


def join_url(ctx: Ctx, event_id: int) -> str:
    return f"{ctx.services.settings.public_url}/events/{event_id}/activities"


@API.op("GET", "/api/events/{event_id:int}/join-qr.svg", tags=TAGS, produces="image/svg+xml",
        summary="A QR code (SVG) of the event's activities page, for the presenter view")
async def join_qr(ctx: Ctx) -> Response:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await repo.event_viewer(db, ctx.me, event_id)
    out = io.BytesIO()
    segno.make(join_url(ctx, event_id), error="m").save(
        out, kind="svg", scale=10, border=2, xmldecl=False, title="Join the activity"
    )
    return Response(out.getvalue(), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})

