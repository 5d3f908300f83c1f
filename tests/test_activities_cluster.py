"""Activities across two ``classhub serve`` processes sharing PostgreSQL and Redis.

Answers stored on one process reach a subscriber of the other as coalesced tallies;
answers on both processes end in one tally that counts every answer exactly once
(the newest version wins, whichever process sent it).
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


async def tally_where(c: HubClient, channel: str, pred: Any) -> dict[str, Any]:
    """The first activity.tally on ``channel`` whose body matches (generous bound)."""
    async with asyncio.timeout(20):
        while True:
            for e in c.events.get(channel, []):
                if e["type"] == "activity.tally" and pred(e["body"]):
                    return e["body"]  # type: ignore[no-any-return]
            await c.recv()


async def test_answers_on_one_process_tally_on_the_other(pg_url: str, tmp_path: Path) -> None:
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
        trainer_a = http(a.port, ct)
        r = await trainer_a.post(f"/api/events/{ev}/activities", json={
            "kind": "poll", "title": "Tea or coffee?", "options": ["tea", "coffee"]})
        assert r.status_code == 201, r.text
        aid = r.json()["id"]
        assert (await trainer_a.post(f"/api/activities/{aid}/state",
                                     json={"state": "open"})).status_code == 200
        since = (await http(b.port, ct).get(f"/api/events/{ev}/activities")).json()["last_seq"]
        watcher = await HubClient.connect(b.port, people[0][1])  # a participant, on B
        await watcher.subscribe((channel, since))

        # One answer on A: B's subscriber hears the tally (hidden results: the total only).
        first = http(a.port, people[0][1])
        assert (await first.post(f"/api/activities/{aid}/answer",
                                 json={"choices": [0]})).status_code == 200
        got = await tally_where(watcher, channel, lambda t: t["total"] == 1)
        assert got["shown"] is False and "counts" not in got

        # Answers on both processes at once, then a reveal on B: the room on B sees every
        # answer counted once.
        async def one(i: int) -> int:
            server = servers[i % 2]
            r = await http(server.port, people[i][1]).post(
                f"/api/activities/{aid}/answer", json={"choices": [i % 2]})
            return r.status_code

        assert await asyncio.gather(*[one(i) for i in range(1, 6)]) == [200] * 5
        r = await http(b.port, ct).post(f"/api/activities/{aid}/results", json={"shown": True})
        assert r.status_code == 200 and r.json()["results"]["counts"] == [3, 3]
        final = await tally_where(watcher, channel, lambda t: t.get("shown") and t["total"] == 6)
        assert final["counts"] == [3, 3]
        # The newest version is the one that counted all six answers.
        versions = [e["body"] for e in watcher.events[channel] if e["type"] == "activity.tally"]
        newest = max(versions, key=lambda t: t["version"])
        assert newest["version"] == 6 and newest["total"] == 6
    finally:
        for s in servers:
            s.stop()
