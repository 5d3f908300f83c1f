"""Declarative base and column types shared by every model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An auto-incrementing 64-bit key; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Table option of every table keyed by a BigId. Without it SQLite hands out the id of
# a deleted newest row again (max + 1): a photo URL that browsers cached for an hour,
# a note id a retried request names, an event id in a channel name would then point
# at something else. PostgreSQL's identity sequences never reuse an id. (Migration
# 0008 rebuilt the existing SQLite tables this way; tests/test_sqlite_ids.py.)
AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC as a naive timestamp, returns aware UTC datetimes on both backends.

    SQLite has no time zones, so storing naive UTC everywhere keeps comparisons
    and ordering identical on SQLite and PostgreSQL.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite raw strings
            value = dt.datetime.fromisoformat(value)
        stamp: dt.datetime = value.replace(tzinfo=dt.UTC)
        return stamp


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
