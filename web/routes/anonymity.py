"""Who wrote an anonymous question or note: for admins only, with a stated reason, audited.

The room, trainers included, never sees the author of an anonymous Q&A question or
pinboard note (docs/privacy.md, "Anonymous questions and notes"). The author is
stored so that abuse can be answered: an admin who states a reason (at least
``MIN_REASON_CHARS`` characters; without one nothing is read) learns it here, and
the read writes one audit row, committed before the answer leaves, like a review
of direct messages (``web/routes/admin_review.py``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from storage.errors import NotFound
from storage.models import Note, Question, User
from web.api import API, Ctx
from web.errors import ApiError
from web.review_common import MIN_REASON_CHARS, audited_read
from web.schemas import Strict

TAGS = ("admin review",)


class RevealQuery(Strict):
    reason: str = Field(min_length=MIN_REASON_CHARS, max_length=1000,
                        description="why the author must be known (written to the audit log)")


def _reason(ctx: Ctx) -> str:
    reason = ctx.query_as(RevealQuery).reason.strip()
    if len(reason) < MIN_REASON_CHARS:
        raise ApiError(403, "reason_required",
                       f"state a reason (at least {MIN_REASON_CHARS} characters) in `reason`")
    return reason


async def _reveal(
    ctx: Ctx, model: type[Question] | type[Note], key: str, what: str
) -> dict[str, Any]:
    reason = _reason(ctx)
    row_id = ctx.path_int(key)
    async with ctx.services.db.session() as db:
        row: Question | Note | None = await db.get(model, row_id)
        if row is None:
            raise NotFound(what)
        user = await db.get(User, row.author_id) if row.author_id is not None else None
        answer = {
            "id": row.id,
            "anonymous": row.anonymous,
            "author_id": row.author_id,
            "author_name": user.display_name if user is not None else None,
        }
    await audited_read(ctx, action=f"review.{what}_author", target=f"{what}:{row_id}",
                       reason=reason, detail={"anonymous": answer["anonymous"]})
    return answer


@API.op("GET", "/api/admin/qa/questions/{question_id:int}/author", auth="admin",
        query=RevealQuery, tags=TAGS,
        summary="Who asked a question (anonymous ones too): with a stated reason, audited")
async def question_author(ctx: Ctx) -> dict[str, Any]:
    return await _reveal(ctx, Question, "question_id", "question")


@API.op("GET", "/api/admin/pinboard/notes/{note_id:int}/author", auth="admin",
        query=RevealQuery, tags=TAGS,
        summary="Who wrote a note (anonymous ones too): with a stated reason, audited")
async def note_author(ctx: Ctx) -> dict[str, Any]:
    return await _reveal(ctx, Note, "note_id", "note")
