"""Pieces the admin review and log routes share: time parsing, audited reads, pages and
streamed files.

Every admin read of a log goes the same way: check the reader, read one page
(``storage.repo.paging`` under the repo's filter) or audit first and then
stream the export in a session of its own (:func:`export`), and answer a page
as :func:`page_json`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse

from storage.repo.logs import audit
from web.api import Ctx
from web.errors import ApiError
from web.schemas import UtcWhen

ExportFormat = Literal["csv", "jsonl"]
MIN_REASON_CHARS = 5
# Characters a spreadsheet would run as a formula at the start of a cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class TimeWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: UtcWhen | None = Field(None, description="inclusive, ISO 8601; naive means UTC")
    until: UtcWhen | None = Field(None, description="exclusive, ISO 8601; naive means UTC")


def require_reason(reason: str | None, what: str) -> str:
    """The stated reason for reading direct messages; refuses a missing or token one."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON_CHARS:
        raise ApiError(
            403,
            "reason_required",
            f"{what} includes direct messages: state a reason (at least "
            f"{MIN_REASON_CHARS} characters) in `reason`",
        )
    return text


def require_log_reader(ctx: Ctx) -> None:
    """Admins and the data-protection officer may read the audit log."""
    if not (ctx.me.is_admin or ctx.me.is_dpo):
        raise ApiError(403, "forbidden", "only admins and the data-protection officer may do this")


async def audited_read(
    ctx: Ctx, *, action: str, target: str, reason: str = "", detail: dict[str, Any] | None = None
) -> None:
    """Write the one audit row of an admin read, committed before any data leaves."""
    async with ctx.services.db.session() as db:
        await audit(
            db,
            actor_id=ctx.me.id,
            action=action,
            target=target,
            reason=reason,
            detail=detail,
            ip=ctx.ip,
        )


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def page_json(items: list[dict[str, Any]], next_before: int | None) -> dict[str, Any]:
    """A page of a log: its rows, newest first, and the cursor of the next page."""
    return {"items": items, "next_before": next_before}


def export(
    ctx: Ctx,
    rows: Callable[[AsyncSession], AsyncIterator[dict[str, Any]]],
    *,
    fmt: ExportFormat,
    columns: Sequence[str],
    filename: str,
) -> StreamingResponse:
    """Stream ``rows(db)`` as a file, reading in a session of its own: the response
    outlives the handler (and its session). The audit row is the caller's, written before."""
    db_handle = ctx.services.db

    async def read() -> AsyncIterator[dict[str, Any]]:
        async with db_handle.sessionmaker() as db, db.begin():
            async for row in rows(db):
                yield row

    return streamed_file(read(), fmt=fmt, columns=columns, filename=filename)


def streamed_file(
    rows: AsyncIterator[dict[str, Any]],
    *,
    fmt: ExportFormat,
    columns: Sequence[str],
    filename: str,
) -> StreamingResponse:
    """A CSV or JSON Lines download written row by row as the cursor yields."""

    async def body() -> AsyncIterator[bytes]:
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(columns)
            async for row in rows:
                writer.writerow([_csv_cell(_scalar(row.get(c))) for c in columns])
                if buf.tell() > 64 * 1024:
                    yield buf.getvalue().encode()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue().encode()
        else:
            chunk: list[str] = []
            size = 0
            async for row in rows:
                line = json.dumps(row, ensure_ascii=False, default=str)
                chunk.append(line)
                size += len(line)
                if size > 64 * 1024:
                    yield ("\n".join(chunk) + "\n").encode()
                    chunk, size = [], 0
            if chunk:
                yield ("\n".join(chunk) + "\n").encode()

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    ext = "csv" if fmt == "csv" else "jsonl"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{filename}.{ext}"'},
    )


def _scalar(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


RowFn = Callable[[Any], dict[str, Any]]
