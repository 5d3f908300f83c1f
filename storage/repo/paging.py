"""Filter, page and stream a log table: the one query helper of the audit log, the
activity log and the admin's message search.

A *filter* is a list of conditions (:func:`equal`, :func:`window` build the
common ones; a caller adds its own). A *page* is keyset paging by id, newest
first: ``before_id`` is the cursor (``next_before`` of the previous page), so a
page costs the same however deep the reader goes, and a row written meanwhile
never shifts one into the next page twice. A *stream* is every matching row,
oldest first, from a server-side cursor in chunks of :data:`CHUNK`: plain
column rows (no ORM objects, no identity map), so an export of a million rows
holds no more than one chunk.

Rows are SQLAlchemy ``Row`` objects of the statement's columns (one of them named
``id``, the key); each caller turns one into its JSON shape with one function
used for pages and streams alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, and_, true
from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 500
T = TypeVar("T")
Conditions = list[ColumnElement[bool]]


def equal(*pairs: tuple[Any, Any]) -> Conditions:
    """``column == value`` for every pair whose value is set (not None)."""
    return [column == value for column, value in pairs if value is not None]


def window(column: Any, since: dt.datetime | None, until: dt.datetime | None) -> Conditions:
    """``since <= column < until``, either bound optional."""
    conds: Conditions = []
    if since is not None:
        conds.append(column >= since)
    if until is not None:
        conds.append(column < until)
    return conds


def _where(stmt: Select[Any], conds: Sequence[ColumnElement[bool]]) -> Select[Any]:
    return stmt.where(and_(true(), *conds))


async def page(
    db: AsyncSession,
    stmt: Select[Any],
    id_column: Any,
    conds: Sequence[ColumnElement[bool]],
    *,
    before_id: int | None,
    limit: int,
    shape: Callable[[Row[Any]], T],
) -> tuple[list[T], int | None]:
    """One page, newest first, and the cursor of the next page (None: this is the last)."""
    where = list(conds)
    if before_id is not None:
        where.append(id_column < before_id)
    rows = (
        await db.execute(_where(stmt, where).order_by(id_column.desc()).limit(limit + 1))
    ).all()
    shown = rows[:limit]
    next_before = int(shown[-1].id) if len(rows) > limit else None
    return [shape(r) for r in shown], next_before


async def stream(
    db: AsyncSession,
    stmt: Select[Any],
    id_column: Any,
    conds: Sequence[ColumnElement[bool]],
    *,
    shape: Callable[[Row[Any]], T],
) -> AsyncIterator[T]:
    """Every matching row, oldest first, in chunks of CHUNK from a server-side cursor."""
    result = await db.stream(
        _where(stmt, conds).order_by(id_column).execution_options(yield_per=CHUNK)
    )
    try:
        async for row in result:
            yield shape(row)
    finally:
        await result.close()


__all__ = ["CHUNK", "Conditions", "equal", "page", "stream", "window"]
