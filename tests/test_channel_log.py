"""The channel log on both backends: gapless sequences, idempotent retries, reads."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from storage.repo.channel_log import NewEvent, append, last_seq, read_range, read_since
from tests.conftest import make_user


async def test_append_assigns_gapless_sequences_per_channel(services: Any) -> None:
    user = await make_user(services)
    a, b = f"test:{user.id}:a", f"test:{user.id}:b"
    async with services.db.session() as db:
        out = await append(
            db,
            [NewEvent(a, "message", {"text": str(i)}, user.id, f"c{i}") for i in range(3)]
            + [NewEvent(b, "message", {"text": "b"}, user.id, "cb")],
        )
    assert [(e.channel, e.seq) for e in out] == [(a, 1), (a, 2), (a, 3), (b, 1)]
    async with services.db.session() as db:
        more = await append(db, [NewEvent(a, "message", {"text": "x"}, user.id, "c9")])
        assert more[0].seq == 4
        assert await last_seq(db, a) == 4
        assert [e.seq for e in await read_since(db, a, 1, 10)] == [2, 3, 4]
        assert [e.seq for e in await read_since(db, a, 0, 2)] == [1, 2]
        assert [e.seq for e in await read_range(db, a, 2, 3)] == [2, 3]


async def test_retry_with_same_client_id_stores_once(services: Any) -> None:
    user = await make_user(services)
    ch = f"test:{user.id}:retry"
    async with services.db.session() as db:
        first = await append(db, [NewEvent(ch, "message", {"text": "hi"}, user.id, "same")])
    async with services.db.session() as db:
        again = await append(
            db,
            [
                NewEvent(ch, "message", {"text": "hi"}, user.id, "same"),
                NewEvent(ch, "message", {"text": "new"}, user.id, "other"),
                NewEvent(ch, "message", {"text": "new"}, user.id, "other"),
            ],
        )
    assert again[0].duplicate and again[0].id == first[0].id and again[0].seq == 1
    assert not again[1].duplicate and again[1].seq == 2
    assert again[2].duplicate and again[2].id == again[1].id
    async with services.db.session() as db:
        assert await last_seq(db, ch) == 2


async def test_concurrent_appenders_never_share_a_sequence(services: Any) -> None:
    user = await make_user(services)
    ch = f"test:{user.id}:race"

    async def writer(k: int) -> list[int]:
        seqs = []
        for i in range(5):
            async with services.db.session() as db:
                out = await append(db, [NewEvent(ch, "message", {}, user.id, f"{k}-{i}")])
            seqs.append(out[0].seq)
        return seqs

    results = await asyncio.gather(*(writer(k) for k in range(4)))
    flat = sorted(s for r in results for s in r)
    assert flat == list(range(1, 21))


# The hub's PostgreSQL appender (storage/repo/channel_log_pg.py) must give exactly
# the ORM appender's results: same sequences, ids, duplicate flags, bodies, reads.

def _pg_only(services: Any) -> None:
    assert not services.db.is_sqlite  # the tests below are parametrised to postgres only


async def _pg_conn(services: Any) -> Any:
    import asyncpg

    from storage.repo.channel_log_pg import asyncpg_dsn

    return await asyncpg.connect(asyncpg_dsn(services.db.url))


async def _matches_the_orm_appender(
    services: Any, raw_append: Any, tag: str
) -> tuple[Any, list[Any], Any]:
    """The same batch through the ORM and through ``raw_append``: same sequences, ids,
    duplicate flags, bodies, reads. Returns (user, the raw appender's results, the ORM's
    first event)."""
    user = await make_user(services)
    other = await make_user(services)
    a, b = f"test:{user.id}:{tag}a", f"test:{user.id}:{tag}b"
    async with services.db.session() as db:  # the ORM writes first: the two must interleave
        orm = await append(db, [NewEvent(a, "message", {"text": "orm"}, user.id, "o1")])
    batch = [
        NewEvent(b, "message", {"text": "b1 ünïcödé"}, user.id, "p1"),
        NewEvent(a, "message", {"text": "a2", "n": [1, 2]}, user.id, "p2", ref_id=orm[0].id),
        NewEvent(a, "message", {"text": "again"}, user.id, "o1"),  # stored before, by the ORM
        NewEvent(a, "message", {"text": "a2"}, user.id, "p2"),  # earlier in this batch
        NewEvent(a, "notice", {"text": "server"}),  # no author, no client id
        NewEvent(a, "message", {"text": "same id, other author"}, other.id, "p2"),
    ]
    out = await raw_append(batch)
    assert [(e.channel, e.seq, e.duplicate) for e in out] == [
        (b, 1, False), (a, 2, False), (a, 1, True), (a, 2, True), (a, 3, False), (a, 4, False),
    ]
    assert out[2].id == orm[0].id and out[2].body == {"text": "orm"}
    assert out[3].id == out[1].id
    assert out[1].ref_id == orm[0].id and out[4].author_id is None and out[4].client_id is None
    assert out[1].created_at.tzinfo is not None
    async with services.db.session() as db:
        stored = await read_since(db, a, 0, 10)
        assert [
            (e.seq, e.id, e.type, e.body, e.author_id, e.client_id, e.ref_id) for e in stored
        ] == [
            (e.seq, e.id, e.type, e.body, e.author_id, e.client_id, e.ref_id)
            for e in [orm[0], out[1], out[4], out[5]]
        ]
        assert abs((stored[1].created_at - out[1].created_at).total_seconds()) < 0.001
        assert await last_seq(db, a) == 4 and await last_seq(db, b) == 1
        # and the ORM appender continues the same sequence and sees the same duplicates
        more = await append(
            db,
            [NewEvent(a, "message", {}, user.id, "p2"), NewEvent(a, "message", {}, user.id, "o9")],
        )
        assert [(e.seq, e.duplicate) for e in more] == [(2, True), (5, False)]
    return user, out, orm[0]


@pytest.mark.parametrize("backend", ["postgres"])
async def test_pg_appender_matches_the_orm_appender(services: Any) -> None:
    from functools import partial

    from storage.repo import channel_log_pg

    _pg_only(services)
    conn = await _pg_conn(services)
    try:
        await _matches_the_orm_appender(services, partial(channel_log_pg.append, conn), "pg")
    finally:
        await conn.close()


async def _two_raw_and_one_orm_writer(
    services: Any, ch: str, user_id: int, raw_appends: list[Any]
) -> None:
    """Two writers through a raw appender and one through the ORM, ten events each, at
    once on one channel: 30 distinct sequences, 1..30."""

    async def raw_writer(k: int) -> list[int]:
        seqs = []
        for i in range(10):
            out = await raw_appends[k]([NewEvent(ch, "message", {}, user_id, f"r{k}-{i}")])
            seqs.append(out[0].seq)
        return seqs

    async def orm_writer() -> list[int]:
        seqs = []
        for i in range(10):
            async with services.db.session() as db:
                out = await append(db, [NewEvent(ch, "message", {}, user_id, f"o-{i}")])
            seqs.append(out[0].seq)
        return seqs

    results = await asyncio.gather(raw_writer(0), raw_writer(1), orm_writer())
    assert sorted(s for r in results for s in r) == list(range(1, 31))


@pytest.mark.parametrize("backend", ["postgres"])
async def test_pg_appender_and_orm_appender_racing_never_share_a_sequence(services: Any) -> None:
    from functools import partial

    from storage.repo import channel_log_pg

    _pg_only(services)
    user = await make_user(services)
    conns = [await _pg_conn(services) for _ in range(2)]
    try:
        await _two_raw_and_one_orm_writer(
            services,
            f"test:{user.id}:pgrace",
            user.id,
            [partial(channel_log_pg.append, c) for c in conns],
        )
    finally:
        for c in conns:
            await c.close()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_pg_appender_racing_duplicates_store_once(services: Any) -> None:
    import asyncpg

    from storage.repo import channel_log_pg

    _pg_only(services)
    user = await make_user(services)
    ch = f"test:{user.id}:pgdup"
    a, b = await _pg_conn(services), await _pg_conn(services)

    async def race(appender: Any, cid: str) -> Any:
        # Another process stores the same (author, client id) while our batch is on its way.
        tx = b.transaction()
        await tx.start()
        stored = await channel_log_pg.append(b, [NewEvent(ch, "message", {}, user.id, cid)])
        racing = asyncio.create_task(
            appender(
                a,
                [
                    NewEvent(ch, "message", {}, user.id, cid + "-other"),
                    NewEvent(ch, "message", {}, user.id, cid),
                ],
            )
        )
        await asyncio.sleep(0.3)
        await tx.commit()
        return stored[0], racing

    try:
        # The public appender: the optimistic statement fails on the unique constraint
        # (its sequence reservation undone with it), the careful path finds the stored one.
        first, racing = await race(channel_log_pg.append, "x")
        out = await racing
        assert [(e.seq, e.duplicate) for e in out] == [(2, False), (1, True)]
        assert out[1].id == first.id
        # The careful path alone, racing after its dedup read: refused as a whole (the
        # batch writer then retries item by item and finds the stored event).
        _, racing = await race(channel_log_pg._append_careful, "z")
        with pytest.raises(asyncpg.UniqueViolationError):
            await racing
        async with services.db.session() as db:
            assert [e.client_id for e in await read_since(db, ch, 0, 10)] == ["x", "x-other", "z"]
            assert await last_seq(db, ch) == 3
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("backend", ["postgres"])
async def test_pg_appender_single_statement_creates_the_channel(services: Any) -> None:
    from storage.repo import channel_log_pg

    _pg_only(services)
    user = await make_user(services)
    conn = await _pg_conn(services)
    try:
        # A brand-new channel: its row is created by the same statement that inserts
        # the events referencing it (foreign key checked at the end of the statement).
        out = await channel_log_pg.append(
            conn, [NewEvent(f"test:{user.id}:new", "message", {"text": "é"}, user.id, "n1")]
        )
        assert out[0].seq == 1 and not out[0].duplicate
        async with services.db.session() as db:
            assert (await read_since(db, f"test:{user.id}:new", 0, 5))[0].body == {"text": "é"}
    finally:
        await conn.close()


# The embedded default's appender (storage/repo/channel_log_sqlite.py): the same
# results as the ORM appender, written the same way, on one database.

@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_appender_matches_the_orm_appender(services: Any) -> None:
    from sqlalchemy import text

    from storage.repo.channel_log_sqlite import SqliteAppender

    assert services.db.is_sqlite
    appender = SqliteAppender(services.db.url)
    try:
        user, out, orm = await _matches_the_orm_appender(services, appender.append, "sq")
        a = out[1].channel
        assert out[2].created_at == orm.created_at  # read back from the ORM's stored text
        async with services.db.session() as db:
            assert (await read_since(db, a, 1, 1))[0].created_at == out[1].created_at
            # Stored as the ORM stores them: the same datetime and JSON text.
            raw = (await db.execute(text(
                "SELECT created_at, body FROM channel_events WHERE id IN (:o, :n) ORDER BY id"
            ), {"o": orm.id, "n": out[4].id})).all()
            assert len(raw[0][0]) == len(raw[1][0]) == len("2026-11-22 04:40:00.123456")
            assert raw[1][1] == '{"text": "server"}'
            # The full-text index saw the new rows (its trigger fired).
            hits = (
                await db.execute(
                    text("SELECT rowid FROM message_fts WHERE message_fts MATCH 'server'")
                )
            ).all()
            assert (out[4].id,) in hits
        # A failing batch stores nothing and leaves the connection usable.
        with pytest.raises(sqlite3.IntegrityError):
            await appender.append(
                [NewEvent(a, "message", {}, 999_999_999, "ghost")]
            )  # no such user
        async with services.db.session() as db:
            assert await last_seq(db, a) == 5
        again = await appender.append([NewEvent(a, "message", {}, user.id, "p9")])
        assert again[0].seq == 6
    finally:
        await appender.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_appender_and_orm_appender_racing_never_share_a_sequence(
    services: Any,
) -> None:
    from storage.repo.channel_log_sqlite import SqliteAppender

    user = await make_user(services)
    appenders = [SqliteAppender(services.db.url) for _ in range(2)]
    try:
        await _two_raw_and_one_orm_writer(
            services, f"test:{user.id}:sqrace", user.id, [ap.append for ap in appenders],
        )
    finally:
        for ap in appenders:
            await ap.close()
