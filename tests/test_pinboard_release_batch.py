"""Batched note releases on both backends: many releases, one transaction, the same rules.

``release_many`` is driven directly with a mix of good and refused releases;
the batch writer with an injected database failure (the others still commit,
the failed one stays a draft); and the HTTP operation with concurrent and
repeated releases. Timing is the benchmark's business (loadtest board-burst).
"""


from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from storage.batch_writer import BatchWriter
from storage.errors import DomainError, StoreUnavailable
from storage.models import Note
from storage.repo.channel_log import StoredEvent
from storage.repo.pinboard_release import Released, ReleaseOutcome, ReleaseRequest, release_many
from tests.pinboard_world import World, world  # noqa: F401 - fixture


async def _draft(w: World, who: str, board_id: int, text: str, **extra: Any) -> int:
    r = await w[who].post(f"/api/pinboard/boards/{board_id}/notes", json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _states(w: World, ids: list[int]) -> dict[int, tuple[str, int]]:
    async with w.services.db.session() as db:
        rows = (await db.execute(select(Note).where(Note.id.in_(ids)))).scalars()
        return {n.id: (n.state, n.position) for n in rows}


def _code(outcome: Any) -> int | str:
    return outcome.status if isinstance(outcome, DomainError) else outcome.note["state"]


async def test_one_transaction_many_outcomes(world: World) -> None:
    w = world
    snap = await w.board()
    board_id, channel, since = snap["board"]["id"], snap["channel"], snap["last_seq"]
    r = await w["tr"].get(f"/api/pinboard/groups/{w.group_id}/board")
    gboard, gchannel, gsince = r.json()["board"]["id"], r.json()["channel"], r.json()["last_seq"]
    assert (
        await w["tr"].patch(f"/api/pinboard/boards/{gboard}", json={"premoderation": True})
    ).status_code == 200
    gsince += 1  # board.updated
    section = (
        await w["tr"].post(f"/api/pinboard/boards/{board_id}/sections", json={"title": "Closed"})
    ).json()
    n1 = await _draft(w, "p1", board_id, "one")
    n2 = await _draft(w, "p1", board_id, "two")
    n3 = await _draft(w, "p2", board_id, "three")
    n4 = await _draft(w, "p1", board_id, "in a locked section", section_id=section["id"])
    assert (
        await w["tr"].patch(f"/api/pinboard/sections/{section['id']}", json={"locked": True})
    ).status_code == 200
    since += 2  # section.created, section.updated
    n5 = await _draft(w, "p1", gboard, "queued")
    n6 = await _draft(w, "tr", gboard, "a trainer skips the queue")
    u = w.users
    requests = [
        ReleaseRequest(u["p1"], n1),
        ReleaseRequest(u["p2"], n1),  # published by the request before, but not p2's
        ReleaseRequest(u["p2"], n3),
        ReleaseRequest(u["p1"], n1),  # again, in the same batch: harmless
        ReleaseRequest(u["p1"], n4),  # locked section
        ReleaseRequest(u["out"], n3),  # not on the board at all
        ReleaseRequest(u["p1"], n5),  # pre-moderated: into the queue
        ReleaseRequest(u["tr"], n6),
        ReleaseRequest(u["p1"], 987_654_321),
        ReleaseRequest(u["p2"], n4),  # someone else's draft: not even visible
        ReleaseRequest(u["p1"], n2),
    ]
    async with w.services.db.session() as db:
        batch = await release_many(db, requests)

    assert [_code(o) for o in batch.outcomes] == [
        "published",
        403,
        "published",
        409,
        423,
        404,
        "pending",
        "published",
        404,
        404,
        "published",
    ]
    assert batch.outcomes[3].code == "not_a_draft"  # type: ignore[union-attr]
    assert batch.outcomes[4].code == "section_locked"  # type: ignore[union-attr]
    first = batch.outcomes[0]
    assert isinstance(first, Released)
    assert (
        first.note["replies"] == []
        and first.note["my_vote"] is False
        and first.note["author"]["id"] == u["p1"].id
    )
    # Each release carries its own events (what its batch fans out), in the batch's order.
    assert [e.type for e in first.events] == ["note.published"]
    assert [e for o in batch.outcomes if isinstance(o, Released) for e in o.events] == batch.events

    # Released notes take the next places of their column in request order.
    states = await _states(w, [n1, n2, n3, n4, n5, n6])
    assert states[n1] == ("published", 1) and states[n3] == ("published", 2)
    assert states[n2] == ("published", 3)
    assert states[n4][0] == "draft" and states[n5][0] == "pending" and states[n6][0] == "published"

    # One append: every channel's events are gapless and in request order.
    board_log = await w.log(channel, since)
    assert [(e.seq, e.type, e.body["note"]["id"]) for e in board_log] == [
        (since + 1, "note.published", n1),
        (since + 2, "note.published", n3),
        (since + 3, "note.published", n2),
    ]
    group_log = await w.log(gchannel, gsince)
    assert [(e.seq, e.type) for e in group_log] == [
        (gsince + 1, "note.pending"),
        (gsince + 2, "note.published"),
    ]
    assert group_log[0].body == {"id": n5}  # a queued note's text stays out of the board log
    queued = [e for e in await w.log(f"user:{u['p1'].id}") if e.type == "note.queued"]
    assert [e.body["note_id"] for e in queued] == [n5]
    assert sorted(e.id for e in batch.events) == sorted(
        e.id for e in [*board_log, *group_log, *queued]
    )

    # Releasing again later: refused, nothing logged.
    async with w.services.db.session() as db:
        again = await release_many(db, [ReleaseRequest(u["p1"], n1)])
    assert _code(again.outcomes[0]) == 409 and again.events == []
    assert len(await w.log(channel, since)) == 3


async def test_a_failed_transaction_is_retried_release_by_release(world: World) -> None:
    w = world
    snap = await w.board()
    board_id, channel, since = snap["board"]["id"], snap["channel"], snap["last_seq"]
    good = [await _draft(w, who, board_id, f"fine {who}") for who in ("p1", "p2", "tr")]
    poison = await _draft(w, "p1", board_id, "this one's transaction fails")

    async def transact(reqs: list[ReleaseRequest]) -> list[ReleaseOutcome]:
        async with w.services.db.session() as db:
            batch = await release_many(db, reqs)
            if any(r.note_id == poison for r in reqs):
                # After the writes: the rollback must undo the notes and the sequences alike.
                raise OperationalError("UPDATE notes", {}, Exception("injected failure"))
        return batch.outcomes

    fanned: list[list[StoredEvent]] = []

    def fan_out(reqs: list[ReleaseRequest], outcomes: Sequence[Any]) -> None:
        events = [e for o in outcomes if isinstance(o, Released) for e in o.events]
        if events:
            fanned.append(events)

    writer: BatchWriter[ReleaseRequest, ReleaseOutcome] = BatchWriter(
        transact, fan_out, name="test"
    )
    writer.start()
    try:
        u = w.users
        reqs = [
            ReleaseRequest(u["p1"], good[0]),
            ReleaseRequest(u["p1"], poison),
            ReleaseRequest(u["p2"], good[1]),
            ReleaseRequest(u["tr"], good[2]),
        ]
        results = await asyncio.gather(*(writer.call(r) for r in reqs), return_exceptions=True)
        assert writer.batches == 1 and writer.retried_singly == 1  # queued together, retried singly
        assert isinstance(results[1], StoreUnavailable) and results[1].status == 503
        assert [r.note["state"] for i, r in enumerate(results) if i != 1] == ["published"] * 3  # type: ignore[union-attr]

        # A later burst that all goes well is one transaction and one fan-out.
        more = [await _draft(w, "p2", board_id, f"later {i}") for i in range(3)]
        await asyncio.gather(*(writer.call(ReleaseRequest(u["p2"], n)) for n in more))
        assert writer.batches == 2 and len(fanned[-1]) == 3
    finally:
        await writer.close()

    states = await _states(w, [*good, poison])
    assert states[poison] == ("draft", 0)
    log = await w.log(channel, since)
    assert [e.seq for e in log] == list(range(since + 1, since + 7))  # the failure left no gap
    assert sorted(e.body["note"]["id"] for e in log) == sorted([*good, *more])
    assert sorted(e.id for batch in fanned for e in batch) == sorted(e.id for e in log)


async def test_concurrent_and_repeated_releases_over_http(world: World) -> None:
    w = world
    snap = await w.board()
    board_id, channel, since = snap["board"]["id"], snap["channel"], snap["last_seq"]
    n1 = await _draft(w, "p1", board_id, "mine")
    n2 = await _draft(w, "p2", board_id, "yours")
    n3 = await _draft(w, "tr", board_id, "the trainer's")
    calls = [("p1", n1), ("p1", n1), ("p2", n2), ("tr", n3), ("p2", n1), ("p1", n1)]
    answers = await asyncio.gather(
        *(w[who].post(f"/api/pinboard/notes/{nid}/release") for who, nid in calls)
    )
    mine = [
        a.status_code
        for (who, nid), a in zip(calls, answers, strict=True)
        if nid == n1 and who == "p1"
    ]
    assert sorted(mine) == [200, 409, 409]  # exactly one release; the repeats are refused
    assert answers[2].status_code == 200 and answers[3].status_code == 200
    # Not p2's note: 404 while it is p1's draft, 403 once it is published.
    assert answers[4].status_code in (403, 404)
    ok = next(a for a in answers if a.status_code == 200)
    body = ok.json()
    assert body["state"] == "published" and body["replies"] == [] and body["my_vote"] is False
    log = await w.log(channel, since)
    assert [e.seq for e in log] == [since + 1, since + 2, since + 3]
    assert sorted(e.body["note"]["id"] for e in log) == sorted([n1, n2, n3])
    conflict = next(a for a in answers if a.status_code == 409)
    assert conflict.json()["error"]["code"] == "not_a_draft"


async def test_closing_lets_the_batch_in_flight_commit_and_refuses_new_ones(world: World) -> None:
    w = world
    snap = await w.board()
    board_id = snap["board"]["id"]
    drafts = [await _draft(w, who, board_id, f"last call {who}") for who in ("p1", "p2")]
    started = asyncio.Event()

    async def slow_transact(reqs: list[ReleaseRequest]) -> list[ReleaseOutcome]:
        async with w.services.db.session() as db:
            started.set()
            await asyncio.sleep(0.3)  # the server is asked to stop while this commits
            batch = await release_many(db, reqs)
        return batch.outcomes

    writer: BatchWriter[ReleaseRequest, ReleaseOutcome] = BatchWriter(
        slow_transact, name="closing"
    )
    writer.start()
    u = w.users
    pending = [
        asyncio.create_task(writer.call(ReleaseRequest(u[who], n)))
        for who, n in zip(("p1", "p2"), drafts, strict=True)
    ]
    await started.wait()
    await writer.close()
    assert [r.note["state"] for r in await asyncio.gather(*pending)] == ["published", "published"]  # type: ignore[union-attr]
    with pytest.raises(StoreUnavailable):
        await writer.call(ReleaseRequest(u["p1"], drafts[0]))
