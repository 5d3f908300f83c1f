"""The pinboard live: a real server, WebSocket subscribers, changes made over HTTP.

Two participants and a trainer: a draft reaches nobody, a release reaches the
other participant at once, votes are counted live, and a moderation round
trip reaches the author on their personal channel and in a DM, while a
replay of the board channel from the start no longer carries the note's text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from storage.models import Role
from tests.hub_support import SECRET, HubClient, InProcessServer, World, make_settings
from web.auth import csrf_token_for, unsign_token


def http(port: int, cookie: str) -> httpx.AsyncClient:
    token = unsign_token(SECRET, cookie)
    assert token is not None
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        cookies={"classhub_session": cookie},
        headers={"X-CSRF-Token": csrf_token_for(SECRET, token)},
        timeout=10,
    )


async def test_release_votes_and_moderation_are_live(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "var")
    world = World(db_url)
    p1, c1 = await world.user("Pia")
    p2, c2 = await world.user("Paul")
    tr, ct = await world.user("Tina")
    ev = await world.event((p1, Role.PARTICIPANT), (p2, Role.PARTICIPANT), (tr, Role.TRAINER))
    board_ch = f"event:{ev}:board"
    async with InProcessServer(settings) as srv:
        h1, h2, ht = http(srv.port, c1), http(srv.port, c2), http(srv.port, ct)
        snap = (await h2.get(f"/api/pinboard/events/{ev}/board")).json()
        board_id, since = snap["board"]["id"], snap["last_seq"]

        ws2 = await HubClient.connect(srv.port, c2)
        ws1 = await HubClient.connect(srv.port, c1, proto="msgpack")
        ans = await ws2.subscribe((board_ch, since))
        assert ans["channels"][0]["status"] in ("ok", "recovered")
        dm = f"dm:{min(p1, tr)}:{max(p1, tr)}"
        await ws1.subscribe(board_ch, f"user:{p1}", dm)

        draft = (await h1.post(f"/api/pinboard/boards/{board_id}/notes",
                               json={"text": "private thought"})).json()
        note = (await h1.post(f"/api/pinboard/notes/{draft['id']}/release")).json()
        got = await ws2.wait_events(board_ch, 1)
        assert got[0]["type"] == "note.published"
        assert got[0]["body"]["note"]["text"] == "private thought"
        assert got[0]["seq"] == since + 1  # the draft was never on the board channel

        assert (await h2.post(f"/api/pinboard/notes/{note['id']}/vote")).status_code == 201
        assert (await h2.post(f"/api/pinboard/notes/{note['id']}/vote")).status_code == 409
        got = await ws2.wait_events(board_ch, 2)
        assert got[1]["type"] == "vote.changed" and got[1]["body"]["votes"] == 1

        r = await ht.post(f"/api/pinboard/notes/{note['id']}/offline", json={"reason": "off topic"})
        assert r.status_code == 200
        got = await ws2.wait_events(board_ch, 3)
        assert (got[2]["type"], got[2]["body"]) == ("note.offline", {"id": note["id"]})
        notice = (await ws1.wait_events(f"user:{p1}", 1))[0]
        assert notice["type"] == "note.taken_offline" and notice["body"]["reason"] == "off topic"
        opened = (await ws1.wait_events(dm, 1))[0]
        assert opened["type"] == "message" and opened["body"]["text"] == "off topic"
        assert opened["author"]["id"] == tr

        # A client replaying the board from the start no longer gets the text.
        late = await HubClient.connect(srv.port, c2)
        await late.subscribe((board_ch, 0))
        replay: list[dict[str, Any]] = await late.wait_events(board_ch, since + 3)
        assert "private thought" not in json.dumps(replay)

        for c in (ws1, ws2, late):
            await c.close()
        for h in (h1, h2, ht):
            await h.aclose()
    await world.close()
