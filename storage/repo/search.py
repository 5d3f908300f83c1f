"""Admin review of the channel log: filtered, full-text, paged search and streamed export.

Full text runs on the index made by migration ``0003_privacy``: FTS5 on SQLite,
a ``tsvector`` with a GIN index on PostgreSQL. Both tokenise without stemming
(FTS5 ``unicode61``, PostgreSQL ``simple``), so a query finds the same rows on
either backend: every word of the query must occur in the text.

Paging and export go through ``storage.repo.paging`` like the audit and
activity logs: paging by key (``before_id``), never by offset, so a page costs
the same however deep the reviewer reads; export streams column rows from a
server-side cursor so memory stays flat however many rows match. Every result
row has one shape, built by :func:`review_row`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, literal_column, not_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import DomainError
from storage.models import ChannelEvent, LearningGroup, User
from storage.repo import paging
from storage.repo.room_controls import originals_of

WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 16
CE = ChannelEvent.__table__.c


@dataclass(frozen=True)
class MessageFilter:
    """What a reviewer asks for; also what the audit row records."""

    event_id: int | None = None
    channel: str | None = None
    author_id: int | None = None
    type: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None
    # Direct messages are left out unless asked for (and a reason given, see web).
    include_dms: bool = False

    def __post_init__(self) -> None:
        # Refused when the filter is made, not when its query first runs: an export
        # runs it after its audit row and its first bytes (issue 13, item 9).
        if self.text is not None:
            query_words(self.text)

    @property
    def reads_dms(self) -> bool:
        return self.include_dms or (self.channel or "").startswith("dm:")

    def describe(self) -> dict[str, Any]:
        """The filter as JSON-safe values for the audit row (only fields that are set)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value is None or value is False:
                continue
            out[key] = value.isoformat() if isinstance(value, dt.datetime) else value
        return out


NO_WORDS = "the text filter needs at least one word (letters or digits)"


def query_words(raw: str) -> list[str]:
    """The words of a text filter (at most MAX_QUERY_WORDS); refuses one without any."""
    words = WORD.findall(raw)[:MAX_QUERY_WORDS]
    if not words:
        raise DomainError("invalid_query", NO_WORDS, status=422)
    return words


def fts5_query(raw: str) -> str:
    """A safe FTS5 query: every word, each quoted, all required (no operators from input)."""
    words = query_words(raw)
    return " AND ".join('"' + w.replace('"', '""') + '"' for w in words)


def _text_condition(dialect: str, raw: str) -> ColumnElement[bool]:
    if dialect == "sqlite":
        matching = text("SELECT rowid FROM message_fts WHERE message_fts MATCH :q").bindparams(
            q=fts5_query(raw)
        )
        return CE.id.in_(matching.columns(literal_column("rowid")))
    words = " ".join(query_words(raw))
    return literal_column("channel_events.search_tsv").op("@@")(
        text("plainto_tsquery('simple', :q)").bindparams(q=words)
    )


async def event_channels(db: AsyncSession, event_id: int) -> list[str]:
    """Every channel that belongs to an event: chat, board, news, its groups and their boards."""
    groups = (
        await db.execute(select(LearningGroup.id).where(LearningGroup.event_id == event_id))
    ).scalars()
    names = [f"event:{event_id}:{k}" for k in ("chat", "board", "news")]
    for g in groups:
        names += [f"group:{g}", f"group:{g}:board"]
    return names


async def _conditions(db: AsyncSession, f: MessageFilter) -> paging.Conditions:
    conds = paging.equal((CE.channel, f.channel), (CE.author_id, f.author_id), (CE.type, f.type))
    conds += paging.window(CE.created_at, f.since, f.until)
    if f.event_id is not None:
        conds.append(CE.channel.in_(await event_channels(db, f.event_id)))
    if not f.reads_dms:
        conds.append(not_(CE.channel.like("dm:%")))
    if f.text:
        conds.append(_text_condition(db.get_bind().dialect.name, f.text))
    return conds


def _select() -> Select[Any]:
    """The columns of a review row: the event and its author's current name."""
    return select(
        CE.id, CE.created_at, CE.channel, CE.seq, CE.type, CE.author_id,
        User.display_name.label("author_name"), CE.ref_id, CE.body,
    ).outerjoin(User, User.id == CE.author_id)


def review_row(row: Row[Any]) -> dict[str, Any]:
    """The one shape of a review result: a search hit, a viewed event, an export row, a
    history entry (the first three as the export's columns; hits add ``history``)."""
    body = row.body
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "channel": row.channel,
        "seq": row.seq,
        "type": row.type,
        "author_id": row.author_id,
        "author_name": row.author_name,
        "ref_id": row.ref_id,
        "text": body.get("text") if isinstance(body, dict) else None,
        "body": body,
    }


async def history_of(db: AsyncSession, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Edits, moderation, reactions and replies that refer to each of ``ids``, oldest first.

    Only those in the same channel: a publish may refer to any id (the hub does not
    look it up), and a direct message answering a chat message privately must not
    show up in that message's history, which a reviewer reads without a reason.
    """
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    referred = ChannelEvent.__table__.alias("referred")
    rows = await db.execute(
        _select()
        .join(referred, referred.c.id == CE.ref_id)
        .where(CE.ref_id.in_(ids), CE.channel == referred.c.channel)
        .order_by(CE.id)
    )
    for row in rows:
        if row.ref_id is not None:  # always: it is one of ids
            out[row.ref_id].append({**review_row(row), "history": []})
    return out


async def _with_history(db: AsyncSession, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [h["id"] for h in hits]
    history = await history_of(db, ids)
    removed = await originals_of(db, ids)  # what a trainer's removal hid from the room
    for h in hits:
        h["history"] = history[h["id"]]
        if h["id"] in removed:
            h["removed"] = removed[h["id"]]
    return hits


async def search(
    db: AsyncSession, f: MessageFilter, *, before_id: int | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of hits, newest first, each with its history; and the next page's cursor."""
    hits, next_before = await paging.page(
        db, _select(), CE.id, await _conditions(db, f),
        before_id=before_id, limit=limit, shape=review_row,
    )
    return await _with_history(db, hits), next_before


async def get_event(db: AsyncSession, event_id: int) -> dict[str, Any] | None:
    row = (await db.execute(_select().where(CE.id == event_id))).one_or_none()
    if row is None:
        return None
    return (await _with_history(db, [review_row(row)]))[0]


async def stream(db: AsyncSession, f: MessageFilter) -> AsyncIterator[dict[str, Any]]:
    """Every hit as an export row (no history), oldest first, in chunks (``paging.stream``)."""
    async for row in paging.stream(
        db, _select(), CE.id, await _conditions(db, f), shape=review_row
    ):
        yield row


def is_dm(channel: str) -> bool:
    return channel.startswith("dm:")


__all__ = [
    "MessageFilter",
    "event_channels",
    "fts5_query",
    "get_event",
    "history_of",
    "is_dm",
    "review_row",
    "search",
    "stream",
]
