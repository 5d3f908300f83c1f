from __future__ import annotations

from pathlib import Path

from storage.models import Role
from tests.hub_support import HubClient, InProcessServer, World, make_settings, seqs


async def test_publish_and_receive(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "var")
    world = World(db_url)
    a, ca = await world.user("Ada")
    b, cb = await world.user("Bob")
    ev = await world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))
    ch = f"event:{ev}:chat"
    async with InProcessServer(settings) as srv:
        x = await HubClient.connect(srv.port, ca)
        y = await HubClient.connect(srv.port, cb, proto="msgpack")
        ans = await y.subscribe(ch)
        assert ans["channels"][0]["status"] == "ok"
        ack = await x.publish(ch, "hello")
        assert ack["type"] == "ack" and ack["seq"] == 1
        got = await y.wait_events(ch, 1)
        assert got[0]["body"] == {"text": "hello"} and got[0]["author"] == {"id": a, "name": "Ada"}
        assert seqs(got) == [1]
        await x.close()
        await y.close()
    await world.close()
