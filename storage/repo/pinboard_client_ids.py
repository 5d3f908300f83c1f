"""Idempotent inserts of notes and replies by the author's client id.

A client id names one row of its author for all time: a retry of a create whose
answer was lost gets the row stored the first time, and changes nothing.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict
from storage.models import Note, Reply

RowT = TypeVar("RowT", Note, Reply)


async def by_client_id(
    db: AsyncSession, model: type[RowT], author_id: int, client_id: str
) -> RowT | None:
    return (
        await db.execute(
            select(model).where(model.author_id == author_id, model.client_id == client_id)
        )
    ).scalar_one_or_none()


def same_place(row: RowT, where: int, asked: int, what: str) -> RowT:
    """A client id names one row for all time: reusing it elsewhere is the client's bug."""
    if where != asked:
        raise Conflict("client_id_reused", f"this client_id names another {what} of yours")
    return row


async def insert_once(db: AsyncSession, row: RowT, author_id: int, client_id: str | None) -> RowT:
    """Insert ``row``; if a concurrent retry stored the same client id first, return that one.

    On PostgreSQL the insert runs in a savepoint: the loser of the race waits on
    the unique index until the winner commits, fails, and then reads the winner's
    row. SQLite needs no savepoint (and pysqlite's would commit the outer
    transaction early): board writes are serialised in the process and SQLite
    has one writer, so the lookup before the insert already saw any earlier row.
    """
    if client_id is None or db.get_bind().dialect.name != "postgresql":
        db.add(row)
        await db.flush()
        return row
    try:
        async with db.begin_nested():
            db.add(row)
    except IntegrityError:
        earlier = await by_client_id(db, type(row), author_id, client_id)
        if earlier is None:
            raise
        return earlier
    return row

