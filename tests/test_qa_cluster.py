"""Q&A across two ``classhub serve`` processes sharing PostgreSQL and Redis.

A question asked on one process reaches a subscriber of the other; upvotes on both
processes at once (double clicks included) end in coalesced ``qa.votes`` counts that
count every person once, the newest version being the full count; an answered mark on
one process reaches the other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.models import Role
from tests.hub_support import SECRET, HubClient, ServerProcess, World, server_env
from tests.services import REDIS_URL, require_postgres, require_redis
from web.auth import csrf_token_for, unsign_token

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    require_postgres()
    return str(request.getfixturevalue("_postgres_url"))


def http(port: int, cookie: str) -> httpx.AsyncClient:
    token = unsign_token(SECRET, cookie)
    assert token is not None
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", cookies={"classhub_session": cookie},
        headers={"X-CSRF-Token": csrf_token_for(SECRET, token)}, timeout=20,
    )


async def event_where(c: HubClient, channel: str, type_: str, pred: Any) -> dict[str, Any]:
    """The first ``type_`` event on ``channel`` whose body matches (generous bound)."""
    async with asyncio.timeout(20):
        while True:
            for e in c.events.get(channel, []):
                if e["type"] == type_ and pred(e["body"]):
                    return e["body"]  # type: ignore[no-any-return]
            await c.recv()


async def test_questions_and_votes_on_two_processes(pg_url: str, tmp_path: Path) -> None:
    require_redis()
    world = World(pg_url)
    people = [await world.user(f"P{i}") for i in range(6)]
    tr, ct = await world.user("Tina")
    ev = await world.event(*[(uid, Role.PARTICIPANT) for uid, _ in people], (tr, Role.TRAINER))
    channel = f"event:{ev}:board"
    base = server_env(pg_url, tmp_path / "var", REDIS_URL=REDIS_URL)
    servers = [ServerProcess(base), ServerProcess(base)]
    try:
        for s in servers:
            s.start()
        for s in servers:
            await s.wait_ready()
        a, b = servers
        snap = (await http(b.port, ct).get(f"/api/events/{ev}/qa")).json()
        qa_id, since = snap["qa"]["id"], snap["last_seq"]
        watcher = await HubClient.connect(b.port, people[0][1])  # a participant, on B
        await watcher.subscribe((channel, since))

        r = await http(a.port, people[1][1]).post(f"/api/qa/{qa_id}/questions",
                                                  json={"text": "Asked on A"})
        assert r.status_code == 201, r.text
        qid = r.json()["id"]
        asked = await event_where(watcher, channel, "question.asked",
                                  lambda body: body["question"]["id"] == qid)
        assert asked["question"]["text"] == "Asked on A"

        # Everyone votes, on both processes, each twice at once: one vote per person.
        async def vote(i: int, server: ServerProcess) -> int:
            r = await http(server.port, people[i][1]).post(f"/api/qa/questions/{qid}/vote")
            return r.status_code

        codes = await asyncio.gather(*[vote(i, s) for i in range(6) for s in servers])
        assert sorted(codes).count(200) == 6, codes
        assert all(c in (200, 409) for c in codes), codes
        final = await event_where(watcher, channel, "qa.votes", lambda body: any(
            v["id"] == qid and v["votes"] == 6 for v in body["votes"]))
        assert final["qa_id"] == qa_id
        counts = [e["body"] for e in watcher.events[channel] if e["type"] == "qa.votes"]
        newest = max(counts, key=lambda body: body["version"])
        assert {v["id"]: v["votes"] for v in newest["votes"]}[qid] == 6

        r = await http(a.port, ct).patch(f"/api/qa/questions/{qid}", json={"answered": True})
        assert r.status_code == 200
        changed = await event_where(watcher, channel, "question.changed",
                                    lambda body: body["question"]["answered"])
        assert changed["question"]["votes"] == 6
        await watcher.close()
    finally:
        for s in servers:
            s.stop()
        await world.close()
