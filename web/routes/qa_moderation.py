"""The trainers' Q&A actions (approve, hide, answered, pin, merge) and exports.

Anonymity holds for trainers too: their views and exports carry no author of an
anonymous question; only an admin learns it, audited (``web/routes/anonymity.py``).
See docs/qa.md and docs/privacy.md.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from pydantic import Field
from starlette.responses import Response

from storage.errors import Forbidden
from storage.models import Question, utcnow
from storage.repo import qa as repo
from storage.repo.logs import log_activity
from storage.repo.qa_views import (
    EXPORT_COLUMNS,
    export_rows,
    qa_view,
    questions_as_seen,
)
from web.api import API, Ctx
from web.routes.pinboard import board_tx
from web.routes.qa import TAGS
from web.schemas import Id, Strict


class ModerateIn(Strict):
    action: Literal["approve", "hide", "unhide"]


class QuestionPatch(Strict):
    answered: bool | None = None
    pinned: bool | None = None


class MergeIn(Strict):
    into: Id = Field(description="the question that keeps the votes")


async def _question_out(tx: Any, q: Question) -> dict[str, Any]:
    return (await questions_as_seen(tx.db, tx.actor.id, [q]))[0]


@API.op("POST", "/api/qa/questions/{question_id:int}/moderate", body=ModerateIn, tags=TAGS,
        summary="Approve a held question, hide one from the room, or show it again (trainers)")
async def moderate(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        q, acc = await repo.question_for(tx.db, ctx.me, ctx.path_int("question_id"), lock=True)
        await repo.moderate(tx, acc, q, ctx.body_as(ModerateIn).action)
        return await _question_out(tx, q)


@API.op("PATCH", "/api/qa/questions/{question_id:int}", body=QuestionPatch, tags=TAGS,
        summary="Mark a question answered, or pin it to the top (trainers)")
async def patch_question(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(QuestionPatch)
    async with board_tx(ctx) as tx:
        q, acc = await repo.question_for(tx.db, ctx.me, ctx.path_int("question_id"), lock=True)
        await repo.mark(tx, acc, q, answered=body.answered, pinned=body.pinned)
        return await _question_out(tx, q)


@API.op("POST", "/api/qa/questions/{question_id:int}/merge", body=MergeIn, tags=TAGS,
        summary="Merge a duplicate into another question: its votes move, nobody counts twice")
async def merge(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        q, acc = await repo.question_for(tx.db, ctx.me, ctx.path_int("question_id"), lock=True)
        target = await repo.merge(tx, acc, q, ctx.body_as(MergeIn).into)
        return await _question_out(tx, target)


async def _export(ctx: Ctx) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with ctx.services.db.session() as db:
        acc = await repo.qa_by_id(db, ctx.me, ctx.path_int("qa_id"))
        if not acc.moderator:
            raise Forbidden("only the event's trainers, organisers and admins may export")
        rows = [row async for row in export_rows(db, acc.board)]
        await log_activity(db, user_id=ctx.me.id, action="qa.export",
                           target=f"qa:{acc.board.id}", ip=ctx.ip)
        return qa_view(acc.board), rows


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@API.op("GET", "/api/qa/{qa_id:int}/export.json", tags=TAGS,
        summary="Export a Q&A as JSON (trainers); anonymous questions without author")
async def export_json(ctx: Ctx) -> Response:
    qa, rows = await _export(ctx)
    data = {"qa": qa, "exported_at": utcnow().isoformat(), "questions": rows}
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return _download(body, "application/json", f"qa-{qa['id']}.json")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@API.op("GET", "/api/qa/{qa_id:int}/export.csv", tags=TAGS, produces="text/csv",
        summary="Export a Q&A as CSV, one row per question (trainers)")
async def export_csv(ctx: Ctx) -> Response:
    qa, rows = await _export(ctx)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return _download(out.getvalue().encode(), "text/csv; charset=utf-8", f"qa-{qa['id']}.csv")
