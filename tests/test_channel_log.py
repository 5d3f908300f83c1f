"""The channel log on both backends: gapless sequences, idempotent retries, reads."""

from __future__ import annotations

import asyncio
from typing import Any

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
