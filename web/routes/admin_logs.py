"""The audit log (admins and the data-protection officer) and the activity log (admins).

Reading either is itself an admin read and leaves one audit row. The audit log
has no write operation here: it is append-only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from storage.repo import log_review as repo
from web.api import API, Ctx
from web.review_common import (
    ExportFormat,
    TimeWindow,
    audited_read,
    export,
    page_json,
    require_log_reader,
)

AUDIT_COLUMNS = ("id", "at", "actor_id", "action", "target", "reason", "detail", "ip")


class AuditQuery(TimeWindow):
    actor_id: int | None = Field(None, ge=1)
    action: str | None = Field(None, min_length=1, max_length=64)
    target: str | None = Field(None, min_length=1, max_length=200)

    def to_filter(self) -> repo.AuditFilter:
        return repo.AuditFilter(self.actor_id, self.action, self.target, self.since, self.until)


class AuditPageQuery(AuditQuery):
    before_id: int | None = Field(None, ge=1)
    limit: int = Field(100, ge=1, le=500)


class AuditExportQuery(AuditQuery):
    format: ExportFormat = "jsonl"


class ActivityQuery(TimeWindow):
    user_id: int | None = Field(None, ge=1)
    action: str | None = Field(None, min_length=1, max_length=64)
    target: str | None = Field(None, min_length=1, max_length=200)
    ip: str | None = Field(None, min_length=1, max_length=64)
    before_id: int | None = Field(None, ge=1)
    limit: int = Field(100, ge=1, le=500)

    def to_filter(self) -> repo.ActivityFilter:
        return repo.ActivityFilter(
            self.user_id, self.action, self.target, self.ip, self.since, self.until
        )


class PageOut(BaseModel):
    items: list[dict[str, Any]]
    next_before: int | None


def _described(q: BaseModel) -> dict[str, Any]:
    return q.model_dump(mode="json", exclude_none=True)


@API.op(
    "GET",
    "/api/admin/audit",
    summary="The audit log, newest first, paged (admins and the data-protection officer)",
    query=AuditPageQuery,
    response=PageOut,
    tags=("admin logs",),
)
async def audit_log(ctx: Ctx) -> dict[str, Any]:
    require_log_reader(ctx)
    q = ctx.query_as(AuditPageQuery)
    async with ctx.services.db.session() as db:
        items, nxt = await repo.audit_page(db, q.to_filter(), before_id=q.before_id, limit=q.limit)
    await audited_read(ctx, action="audit.read", target="audit_log", detail=_described(q))
    return page_json(items, nxt)


@API.op(
    "GET",
    "/api/admin/audit/export",
    summary="Export the audit log as CSV or JSON Lines, streamed",
    query=AuditExportQuery,
    produces=("text/csv", "application/x-ndjson"),
    tags=("admin logs",),
)
async def audit_export(ctx: Ctx) -> Any:
    require_log_reader(ctx)
    q = ctx.query_as(AuditExportQuery)
    await audited_read(ctx, action="audit.export", target="audit_log", detail=_described(q))
    f = q.to_filter()
    return export(
        ctx, lambda db: repo.audit_stream(db, f),
        fmt=q.format, columns=AUDIT_COLUMNS, filename="audit-log",
    )


@API.op(
    "GET",
    "/api/admin/activity",
    summary="The activity log (time, IP, user, action, target), filtered, newest first",
    auth="admin",
    query=ActivityQuery,
    response=PageOut,
    tags=("admin logs",),
)
async def activity_log(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query_as(ActivityQuery)
    async with ctx.services.db.session() as db:
        items, nxt = await repo.activity_page(
            db, q.to_filter(), before_id=q.before_id, limit=q.limit
        )
    await audited_read(ctx, action="activity.read", target="activity_log", detail=_described(q))
    return page_json(items, nxt)
