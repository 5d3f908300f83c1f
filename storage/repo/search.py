"""Admin review of the channel log: filtered, full-text, paged search and streamed export.

Full text runs on the index made by migration ``0003_privacy``: FTS5 on SQLite,
a ``tsvector`` with a GIN index on PostgreSQL. Both tokenise without stemming
(FTS5 ``unicode61``, PostgreSQL ``simple``), so a query finds the same rows on
either backend: every word of the query must occur in the text.

Paging is by key (``before_id``), never by offset, so a page costs the same
however deep the reviewer reads; export streams rows from a server-side
cursor so memory stays flat however many rows match.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, literal_column, not_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.errors import DomainError
from storage.models import ChannelEvent, LearningGroup, User

EXPORT_BATCH = 500
WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 16


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


@dataclass
class Hit:
    id: int
    channel: str
    seq: int
    type: str
    author_id: int | None
    author_name: str | None
    ref_id: int | None
    body: dict[str, Any]
    created_at: dt.datetime
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "seq": self.seq,
            "type": self.type,
            "author_id": self.author_id,
            "author_name": self.author_name,
            "ref_id": self.ref_id,
            "body": self.body,
            "text": self.body.get("text") if isinstance(self.body, dict) else None,
            "created_at": self.created_at.isoformat(),
            "history": self.history,
        }


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
        return ChannelEvent.id.in_(matching.columns(literal_column("rowid")))
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


async def _conditions(db: AsyncSession, f: MessageFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.event_id is not None:
        conds.append(ChannelEvent.channel.in_(await event_channels(db, f.event_id)))
    if f.channel is not None:
        conds.append(ChannelEvent.channel == f.channel)
    if not f.reads_dms:
        conds.append(not_(ChannelEvent.channel.like("dm:%")))
    if f.author_id is not None:
        conds.append(ChannelEvent.author_id == f.author_id)
    if f.type is not None:
        conds.append(ChannelEvent.type == f.type)
    if f.since is not None:
        conds.append(ChannelEvent.created_at >= f.since)
    if f.until is not None:
        conds.append(ChannelEvent.created_at < f.until)
    if f.text:
        conds.append(_text_condition(db.get_bind().dialect.name, f.text))
    return conds


def _base() -> Select[ChannelEvent, str]:
    return select(ChannelEvent, User.display_name).outerjoin(
        User, User.id == ChannelEvent.author_id
    )


def _hit(ev: ChannelEvent, name: str | None) -> Hit:
    return Hit(
        id=ev.id,
        channel=ev.channel,
        seq=ev.seq,
        type=ev.type,
        author_id=ev.author_id,
        author_name=name,
        ref_id=ev.ref_id,
        body=ev.body,
        created_at=ev.created_at,
    )


async def history_of(db: AsyncSession, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Edits, moderation, reactions and replies that refer to each of ``ids``, oldest first.

    Only those in the same channel: a publish may refer to any id (the hub does not
    look it up), and a direct message answering a chat message privately must not
    show up in that message's history, which a reviewer reads without a reason.
    """
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return out
    referred = aliased(ChannelEvent)
    rows = await db.execute(
        _base()
        .join(referred, referred.id == ChannelEvent.ref_id)
        .where(ChannelEvent.ref_id.in_(ids), ChannelEvent.channel == referred.channel)
        .order_by(ChannelEvent.id)
    )
    for ev, name in rows:
        if ev.ref_id is not None:  # always: it is one of ids
            out[ev.ref_id].append(_hit(ev, name).as_json())
    return out


async def search(
    db: AsyncSession, f: MessageFilter, *, before_id: int | None = None, limit: int = 50
) -> tuple[list[Hit], int | None]:
    """One page of hits, newest first, each with its history; and the next page's cursor."""
    conds = await _conditions(db, f)
    if before_id is not None:
        conds.append(ChannelEvent.id < before_id)
    stmt = _base().where(and_(true(), *conds)).order_by(ChannelEvent.id.desc()).limit(limit + 1)
    rows = (await db.execute(stmt)).all()
    hits = [_hit(ev, name) for ev, name in rows[:limit]]
    history = await history_of(db, [h.id for h in hits])
    for h in hits:
        h.history = history[h.id]
    next_cursor = hits[-1].id if len(rows) > limit else None
    return hits, next_cursor


async def get_event(db: AsyncSession, event_id: int) -> Hit | None:
    row = (await db.execute(_base().where(ChannelEvent.id == event_id))).one_or_none()
    if row is None:
        return None
    hit = _hit(*row)
    hit.history = (await history_of(db, [hit.id]))[hit.id]
    return hit


async def stream(db: AsyncSession, f: MessageFilter) -> AsyncIterator[dict[str, Any]]:
    """Every hit as a flat export row, oldest first, from a server-side cursor.

    Plain column rows (no ORM objects, no identity map) in batches of
    EXPORT_BATCH: nothing here holds more than one batch, so a million rows
    cost the memory of five hundred.
    """
    conds = await _conditions(db, f)
    ce = ChannelEvent.__table__.c
    stmt = (
        select(
            ce.id, ce.channel, ce.seq, ce.type, ce.author_id, User.display_name,
            ce.ref_id, ce.body, ce.created_at,
        )
        .outerjoin(User, User.id == ce.author_id)
        .where(and_(true(), *conds))
        .order_by(ce.id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    result = await db.stream(stmt)
    try:
        async for row in result:
            body = row[7]
            yield {
                "id": row[0],
                "created_at": row[8].isoformat(),
                "channel": row[1],
                "seq": row[2],
                "type": row[3],
                "author_id": row[4],
                "author_name": row[5],
                "ref_id": row[6],
                "text": body.get("text") if isinstance(body, dict) else None,
                "body": body,
            }
    finally:
        await result.close()


def is_dm(channel: str) -> bool:
    return channel.startswith("dm:")


__all__ = [
    "Hit",
    "MessageFilter",
    "event_channels",
    "fts5_query",
    "get_event",
    "history_of",
    "is_dm",
    "search",
    "stream",
]
