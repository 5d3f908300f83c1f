"""The one batch writer (storage/batch_writer.py) and the appender factory (storage/event_log.py).

The writer's rules are driven with small ``transact`` functions that raise the
store's real exception types; the event log's writer (chat publishes) runs on
both backends against the real database. The pinboard's use of the writer is
tested in test_pinboard_release_batch.py, the hub's in test_hub_*.py.
"""

from __future__ import annotations

import ast
import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from storage.batch_writer import BatchWriter, event_writer
from storage.db import Database
from storage.errors import StoreUnavailable
from storage.event_log import OrmAppender, WriteItem, open_appender
from storage.repo.channel_log import NewEvent, StoredEvent, read_since
from storage.repo.channel_log_pg import PgAppender
from storage.repo.channel_log_sqlite import SqliteAppender
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parent.parent


class Log:
    """What happened, in order: answers and commit hooks."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def answer(self, req: int) -> Any:
        return lambda outcome: self.seen.append(("answer", (req, outcome)))

    def committed(self, reqs: list[int], outcomes: Sequence[Any]) -> None:
        self.seen.append(("committed", list(reqs)))


async def test_queued_requests_share_a_transaction_and_answers_precede_the_hook() -> None:
    log = Log()
    gate = asyncio.Event()
    batches: list[list[int]] = []

    async def transact(reqs: list[int]) -> list[int]:
        batches.append(list(reqs))
        if len(batches) == 1:
            await gate.wait()  # a transaction in flight: the next requests queue
        return [r * 10 for r in reqs]

    writer: BatchWriter[int, int] = BatchWriter(transact, log.committed, name="t", max_batch=3)
    writer.start()
    try:
        writer.submit(1, log.answer(1))
        await asyncio.sleep(0)
        for r in (2, 3, 4, 5):
            writer.submit(r, log.answer(r))
        assert writer.queued == 4
        gate.set()
        for _ in range(50):
            if writer.batches == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await writer.close()
    assert batches == [[1], [2, 3, 4], [5]]  # bounded by max_batch
    assert log.seen == [
        ("answer", (1, 10)), ("committed", [1]),
        ("answer", (2, 20)), ("answer", (3, 30)), ("answer", (4, 40)), ("committed", [2, 3, 4]),
        ("answer", (5, 50)), ("committed", [5]),
    ]


async def test_a_store_error_is_retried_item_by_item_and_costs_only_the_bad_item() -> None:
    log = Log()
    calls: list[list[int]] = []
    lost_race_once = {4}

    async def transact(reqs: list[int]) -> list[int]:
        calls.append(list(reqs))
        if 3 in reqs:
            raise sqlite3.IntegrityError("injected: one bad item")
        if reqs == [4] and lost_race_once:
            lost_race_once.clear()
            raise OSError("injected: lost the race once")
        return reqs

    writer: BatchWriter[int, int] = BatchWriter(transact, log.committed, name="t")
    writer.submit(1, log.answer(1))  # queued before start: one batch of four
    for r in (2, 3, 4):
        writer.submit(r, log.answer(r))
    writer.start()
    for _ in range(50):
        if writer.batches:
            break
        await asyncio.sleep(0.01)
    await writer.close()
    assert writer.batches == 1 and writer.retried_singly == 1
    assert calls == [[1, 2, 3, 4], [1], [2], [3], [3], [4], [4]]  # each single one twice at most
    answers = dict(v for k, v in log.seen if k == "answer")
    assert answers[1] == 1 and answers[2] == 2 and answers[4] == 4
    assert isinstance(answers[3], StoreUnavailable) and answers[3].code == "store_unavailable"
    assert answers[3].status == 503 and answers[3].problem == "IntegrityError"
    assert log.seen[-1] == ("committed", [1, 2, 3, 4])


async def test_refusals_are_outcomes_and_unexpected_errors_answer_the_batch() -> None:
    from storage.errors import Conflict

    async def transact(reqs: list[int]) -> list[int | Conflict]:
        if 0 in reqs:
            raise RuntimeError("a bug, not a store error")
        return [Conflict("taken", "no") if r == 2 else r for r in reqs]

    writer: BatchWriter[int, int | Conflict] = BatchWriter(transact, name="t")
    writer.start()
    try:
        ok, refused = await asyncio.gather(writer.call(1), writer.call(2), return_exceptions=True)
        assert ok == 1 and isinstance(refused, Conflict)  # the refusal left request 1 alone
        with pytest.raises(StoreUnavailable, match="internal error"):
            await writer.call(0)  # answered, not left waiting; the writer goes on
        assert await writer.call(3) == 3
    finally:
        await writer.close()


async def test_close_drains_then_refuses_and_answers_what_is_left() -> None:
    log = Log()
    release_calls: list[str] = []
    gate = asyncio.Event()

    async def transact(reqs: list[int]) -> list[int]:
        await gate.wait()
        return reqs

    async def release() -> None:
        release_calls.append("released")

    writer: BatchWriter[int, int] = BatchWriter(
        transact, log.committed, name="t", close_wait=0.2, release=release
    )
    writer.start()
    writer.submit(1, log.answer(1))
    await asyncio.sleep(0)
    writer.submit(2, log.answer(2))  # queued behind a transaction that never ends
    await writer.close()  # waits 0.2 s, then gives up
    answers = dict(v for k, v in log.seen if k == "answer")
    assert isinstance(answers[1], StoreUnavailable) and isinstance(answers[2], StoreUnavailable)
    assert "shutting down" in answers[2].message
    writer.submit(3, log.answer(3))  # after close: answered at once
    assert isinstance(dict(v for k, v in log.seen if k == "answer")[3], StoreUnavailable)
    assert release_calls == ["released"]

    # A transaction that ends in time commits and is answered before close returns.
    log2 = Log()
    gate.set()
    writer2: BatchWriter[int, int] = BatchWriter(transact, log2.committed, name="t")
    writer2.start()
    for r in (1, 2):
        writer2.submit(r, log2.answer(r))
    await writer2.close()
    assert log2.seen == [("answer", (1, 1)), ("answer", (2, 2)), ("committed", [1, 2])]


async def test_event_writer_stores_a_batch_and_fails_only_a_bad_event(services: Any) -> None:
    user = await make_user(services)
    ch = f"test:{user.id}:writer"
    answers: dict[int, StoredEvent | StoreUnavailable] = {}
    committed: list[list[StoredEvent | StoreUnavailable]] = []

    def answer(k: int) -> Any:
        return lambda outcome: answers.__setitem__(k, outcome)

    writer = event_writer(
        services.db, lambda items, outcomes: committed.append(list(outcomes)), name="test"
    )
    items = [
        WriteItem(NewEvent(ch, "message", {"text": "one"}, user.id, "c1"), "Test User"),
        # No such user: the foreign key fails this event's transaction, and only its.
        WriteItem(NewEvent(ch, "message", {"text": "bad"}, 987_654_321, "c2"), None),
        WriteItem(NewEvent(ch, "message", {"text": "two"}, user.id, "c3"), "Test User"),
        WriteItem(NewEvent(ch, "message", {"text": "one"}, user.id, "c1"), "Test User"),
    ]
    for k, item in enumerate(items):
        writer.submit(item, answer(k))
    writer.start()
    for _ in range(500):
        if len(answers) == 4:
            break
        await asyncio.sleep(0.01)
    await writer.close()
    assert writer.batches == 1 and writer.retried_singly == 1
    first, bad, second, again = (answers[k] for k in range(4))
    assert isinstance(bad, StoreUnavailable)
    assert isinstance(first, StoredEvent) and isinstance(second, StoredEvent)
    assert isinstance(again, StoredEvent) and again.duplicate and again.id == first.id
    assert committed == [[first, bad, second, again]]
    async with services.db.session() as db:
        stored = await read_since(db, ch, 0, 10)
    assert [(e.seq, e.body["text"]) for e in stored] == [(1, "one"), (2, "two")]  # no gap


def test_the_appender_is_chosen_from_the_database_url(tmp_path: Path) -> None:
    cases = {
        "postgresql+asyncpg://u@127.0.0.1:1/x": PgAppender,
        f"sqlite+aiosqlite:///{tmp_path}/x.db": SqliteAppender,
        "sqlite+aiosqlite:///:memory:": OrmAppender,  # per connection: the engine's own
    }
    for url, kind in cases.items():
        assert type(open_appender(Database(url))) is kind, url


def test_realtime_and_web_leave_store_errors_and_drivers_to_storage() -> None:
    """The dialect decision and the store's exception types live in storage."""
    banned = ("sqlite3", "asyncpg", "sqlalchemy.exc", "aiosqlite")
    found = []
    for package in ("realtime", "web"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                )
                found += [
                    f"{path.relative_to(ROOT)}: {n}"
                    for n in names if any(n == b or n.startswith(b + ".") for b in banned)
                ]
    assert found == []
