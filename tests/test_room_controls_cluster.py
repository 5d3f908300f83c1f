"""Room controls across processes: a mute, a freeze or a word list set through process A
refuses (or holds) the next post a participant sends through process B at once, though
B had the room's state cached (the control topic's ``room_changed``); PostgreSQL + Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.models import Role
from tests.hub_support import HubClient, ServerProcess, World, frame_where, server_env
from tests.services import REDIS_URL, require_postgres, require_redis
from tests.test_room_controls_live import event_in, http, of_type

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


async def test_a_mute_in_process_a_refuses_a_send_in_process_b_at_once(
    _postgres_url: str, tmp_path: Path
) -> None:
    require_postgres()
    require_redis()
    world = World(_postgres_url)
    env = server_env(_postgres_url, tmp_path / "var", REDIS_URL=REDIS_URL,
                     PUBLISH_RATE="10000", PUBLISH_BURST="10000")
    servers = [ServerProcess(env) for _ in range(2)]
    try:
        t, ct = await world.user("Tina")
        p, cp = await world.user("Pat")
        ev = await world.event((t, Role.TRAINER), (p, Role.PARTICIPANT))
        chat = f"event:{ev}:chat"
        for s in servers:
            s.start()
        for s in servers:
            await s.wait_ready()
        a, b = servers
        pc = await HubClient.connect(b.port, cp)
        await pc.subscribe(chat, f"user:{p}")
        # B reads the room now and keeps it.
        assert (await pc.publish(chat, "hello"))["type"] == "ack"
        async with http(a.port, ct) as h:
            r = await h.post(f"/api/events/{ev}/room/mutes", json={"user_id": p, "minutes": 15})
            assert r.status_code == 200, r.text
            # The notice reaches B after the control message (one Redis connection, in order).
            await frame_where(pc, of_type("chat.muted"))
            refused = await pc.publish(chat, "but I want to talk")
            assert (refused["type"], refused.get("code")) == ("error", "muted")
            assert refused["until"] == r.json()["until"]
            assert (await h.delete(f"/api/events/{ev}/room/mutes/{p}")).status_code == 200
            await frame_where(pc, of_type("chat.unmuted"))
            assert (await pc.publish(chat, "thank you"))["type"] == "ack"
            r = await h.patch(f"/api/events/{ev}/room", json={"frozen": True})
            assert r.status_code == 200
            await frame_where(pc, lambda f: of_type("room.updated")(f) and event_in(
                f, "room.updated")["body"]["room"]["frozen"])
            assert (await pc.publish(chat, "hello?"))["code"] == "frozen"
            await h.patch(f"/api/events/{ev}/room", json={"frozen": False, "words": ["darn"]})
            await frame_where(pc, lambda f: of_type("room.updated")(f) and not event_in(
                f, "room.updated")["body"]["room"]["frozen"])
            assert (await pc.publish(chat, "darn"))["type"] == "held"
        await pc.close()
    finally:
        for s in servers:
            s.stop()
        await world.close()
