"""Admins find every event: by part of the title and by time (past, current, future), paged.

Organisers and trainers see their own events through ``GET /api/events`` (with their
role in each); only admins look beyond the events they take part in. Titles, times and
head counts are not anyone's personal data, so a page of this list is not audited
(the members of an event are: ``members.read``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storage.models.base import utcnow
from storage.repo.events import FoundEvent, When, find_events
from web.api import API, Ctx
from web.routes.events import event_out
from web.schemas import EventOut

MAX_OFFSET = 1_000_000


class EventQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, min_length=1, max_length=200, description="part of the title")
    when: When | None = Field(
        None, description="past (ended), current (running now) or future (not started)"
    )
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="events to skip (paging)")
    limit: int = Field(50, ge=1, le=200)


class FoundEventOut(EventOut):
    enrolled: int


class EventPage(BaseModel):
    items: list[FoundEventOut]
    total: int  # events matching the search, over all pages


def _row(found: FoundEvent) -> dict[str, Any]:
    return {**event_out(found.event, found.my_role), "enrolled": found.enrolled}


@API.op(
    "GET",
    "/api/admin/events",
    summary="Find every event by part of its title and by time (past, current, future), "
    "paged; with the number enrolled and my own role (admins)",
    auth="admin",
    query=EventQuery,
    response=EventPage,
    tags=("events",),
)
async def search_events(ctx: Ctx) -> dict[str, Any]:
    query = ctx.query_as(EventQuery)
    async with ctx.services.db.session() as db:
        found, total = await find_events(
            db,
            viewer_id=ctx.me.id,
            now=utcnow(),
            text=query.q,
            when=query.when,
            offset=query.offset,
            limit=query.limit,
        )
    return {"items": [_row(f) for f in found], "total": total}
