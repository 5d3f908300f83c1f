"""Admin review of the message log: search, view one event with its history, export.

Every read writes exactly one audit row (who, when, the filter or target, the
reason, the IP), committed before the data is sent. Direct messages are only
read with a stated reason; without one the request is refused and nothing is
read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from storage.repo import search as repo
from web.api import API, Ctx
from web.errors import ApiError
from web.review_common import (
    ExportFormat,
    TimeWindow,
    audited_read,
    export,
    page_json,
    require_reason,
)
from web.schemas import ChannelName

EXPORT_COLUMNS = (
    "id",
    "created_at",
    "channel",
    "seq",
    "type",
    "author_id",
    "author_name",
    "ref_id",
    "text",
    "body",
)


class ReviewFilter(TimeWindow):
    event_id: int | None = Field(None, ge=1, description="every channel of this event")
    channel: ChannelName | None = None
    author_id: int | None = Field(None, ge=1)
    type: str | None = Field(None, min_length=1, max_length=40)
    q: str | None = Field(None, min_length=1, max_length=500, description="full-text: all words")
    include_dms: bool = Field(False, description="also search direct messages (needs reason)")
    reason: str | None = Field(None, max_length=1000, description="required to read DMs")

    @field_validator("q")
    @classmethod
    def _has_words(cls, value: str | None) -> str | None:
        # Checked with the rest of the query, before any audit row or byte of an export.
        if value is not None and not repo.WORD.search(value):
            raise ValueError(repo.NO_WORDS)
        return value

    def to_filter(self) -> repo.MessageFilter:
        return repo.MessageFilter(
            event_id=self.event_id,
            channel=self.channel,
            author_id=self.author_id,
            type=self.type,
            since=self.since,
            until=self.until,
            text=self.q,
            include_dms=self.include_dms,
        )


class SearchQuery(ReviewFilter):
    before_id: int | None = Field(None, ge=1, description="cursor: next_before of the last page")
    limit: int = Field(50, ge=1, le=200)


class ExportQuery(ReviewFilter):
    format: ExportFormat = "jsonl"


class ViewQuery(BaseModel):
    reason: str | None = Field(None, max_length=1000)


class HitOut(BaseModel):
    id: int
    channel: str
    seq: int
    type: str
    author_id: int | None
    author_name: str | None
    ref_id: int | None
    text: Any = None
    body: dict[str, Any]
    created_at: str
    history: list[dict[str, Any]]
    removed: dict[str, Any] | None = Field(
        None, description="a trainer removed it: the original `body`, `reason`, by whom, when"
    )


class SearchOut(BaseModel):
    items: list[HitOut]
    next_before: int | None


def _reason(f: repo.MessageFilter, reason: str | None, what: str) -> str:
    if f.reads_dms:
        return require_reason(reason, what)
    return (reason or "").strip()


@API.op(
    "GET",
    "/api/admin/messages",
    summary="Search every channel's log (DMs only with a reason); newest first, paged",
    auth="admin",
    query=SearchQuery,
    response=SearchOut,
    tags=("admin review",),
)
async def search_messages(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query_as(SearchQuery)
    f = q.to_filter()
    reason = _reason(f, q.reason, "this search")
    async with ctx.services.db.session() as db:
        hits, next_before = await repo.search(db, f, before_id=q.before_id, limit=q.limit)
    detail = {"filter": f.describe(), "before_id": q.before_id, "returned": len(hits)}
    await audited_read(
        ctx, action="review.search", target=f.channel or "all", reason=reason, detail=detail
    )
    return page_json(hits, next_before)


@API.op(
    "GET",
    "/api/admin/messages/{id:int}",
    summary="One event of a log with its edit, moderation and reply history",
    auth="admin",
    query=ViewQuery,
    response=HitOut,
    tags=("admin review",),
)
async def view_message(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query_as(ViewQuery)
    async with ctx.services.db.session() as db:
        hit = await repo.get_event(db, ctx.path_int("id"))
    if hit is None:
        raise ApiError(404, "not_found", "no such event")
    reason = (
        require_reason(q.reason, "this event is a direct message and")
        if repo.is_dm(hit["channel"])
        else (q.reason or "").strip()
    )
    await audited_read(
        ctx,
        action="review.view",
        target=f"channel_event:{hit['id']}",
        reason=reason,
        detail={"channel": hit["channel"]},
    )
    return hit


@API.op(
    "GET",
    "/api/admin/messages/export",
    summary="Export a search result as CSV or JSON Lines, streamed (any size)",
    auth="admin",
    query=ExportQuery,
    produces=("text/csv", "application/x-ndjson"),
    tags=("admin review",),
)
async def export_messages(ctx: Ctx) -> Any:
    q = ctx.query_as(ExportQuery)
    f = q.to_filter()
    reason = _reason(f, q.reason, "this export")
    await audited_read(
        ctx,
        action="review.export",
        target=f.channel or "all",
        reason=reason,
        detail={"filter": f.describe(), "format": q.format},
    )
    return export(
        ctx,
        lambda db: repo.stream(db, f),
        fmt=q.format,
        columns=EXPORT_COLUMNS,
        filename="messages",
    )
