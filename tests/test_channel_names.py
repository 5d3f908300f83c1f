"""Channel names from clients (issue 13 item 5): only the canonical spelling is a channel.

``event:١:chat`` (Arabic-Indic digit one) passed the access check of ``event:1:chat``
(Python's int() reads it) and was stored under the raw name: a hidden copy of the chat
that trainers did not see, that admin review by event missed and that retention did not
delete. ``event:²:chat`` raised in the parser and told the client to retry. Every other
spelling int() or str.isdigit() takes is refused the same way, on the WebSocket and in
the HTTP API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from storage.channels import parse_channel
from storage.models import Channel, Role
from tests.conftest import login, make_user
from tests.hub_support import HubClient, Stack

FAST = {
    "PUBLISH_RATE": "10000",
    "PUBLISH_BURST": "10000",
    "SUBSCRIBE_RATE": "10000",
    "SUBSCRIBE_BURST": "10000",
}

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def spellings(n: int) -> list[str]:
    """Ways of writing ``n`` that int() or str.isdigit() accepts, none of them canonical."""
    d = str(n)
    out = [
        d.translate(ARABIC_INDIC), d.translate(FULLWIDTH), d.translate(SUPERSCRIPT),
        "0" + d, "+" + d, " " + d, d + " ", d + "\n", "\t" + d, "٠" + d,
        d[:-1] + d[-1].translate(ARABIC_INDIC),
    ]
    if len(d) > 1:
        out.append(d[0] + "_" + d[1:])
    return out


@pytest.mark.parametrize(
    "name",
    ["event:١:chat", "event:²:chat", "event:１:chat", "event:01:chat", "event:+1:chat",
     "event: 1:chat", "event:1 :chat", "event:1_0:chat", "event:10\n:chat", "group:٣",
     "group:３:board", "user:⁴", "dm:1:٢", "dm:01:2", "dm:1:+2", "event:1:chat\n",
     "event:9223372036854775807:chat", "event:1000000000000000000:chat", "EVENT:1:chat",
     "event:1:Chat", "event:1:chat:", ":event:1:chat"],
)
def test_only_the_canonical_spelling_parses(name: str) -> None:
    assert parse_channel(name) is None


def test_every_parsed_name_is_its_own_canonical_form() -> None:
    for name in ("event:1:chat", "event:999999999999999999:news", "group:7", "group:7:board",
                 "user:12", "dm:3:40"):
        ref = parse_channel(name)
        assert ref is not None and ref.name == name


async def test_a_non_canonical_channel_name_is_refused_on_the_websocket(
    db_url: str, tmp_path: Path
) -> None:
    async with Stack(db_url, tmp_path, **FAST) as st:
        p, cp = await st.world.user("Pia")
        t, ct = await st.world.user("Tom")
        ev = await st.world.event((p, Role.PARTICIPANT), (t, Role.TRAINER))
        canonical = f"event:{ev}:chat"
        trainer = await HubClient.connect(st.port, ct, proto="msgpack")
        assert (await trainer.subscribe(canonical))["channels"][0]["status"] == "ok"
        for proto in ("json", "msgpack"):
            c = await HubClient.connect(st.port, cp, proto=proto)
            for i, spelled in enumerate(spellings(ev)):
                name = f"event:{spelled}:chat"
                answer = await c.subscribe(name, rid=f"s{i}")
                assert answer["channels"] == [
                    {"channel": name, "status": "denied", "code": "bad_channel"}
                ]
                sent = await c.publish(name, "hidden?", cid=f"{proto}-{i}")
                assert (sent["type"], sent.get("code")) == ("error", "bad_channel"), (name, sent)
                await c.send({"type": "seen", "channel": name, "event_id": 1})
                assert (await c.recv_type("error"))["code"] == "not_subscribed"
            # The connection is well, and the one real spelling works for everyone.
            ack = await c.publish(canonical, f"visible {proto}")
            assert ack["type"] == "ack" and ack["channel"] == canonical
            await c.close()
        got = await trainer.wait_events(canonical, 2)
        assert [e["body"]["text"] for e in got] == ["visible json", "visible msgpack"]
        await trainer.close()
        async with st.world.db.session() as db:
            names = (await db.execute(select(Channel.name))).scalars().all()
        # The database is shared with other tests (whose channels are theirs to check):
        # this event's channel exists under its canonical name only.
        hidden = {f"event:{spelled}:chat" for spelled in spellings(ev)} & set(names)
        assert canonical in names and not hidden, hidden


async def test_the_http_api_refuses_a_non_canonical_channel_name(
    client: httpx.AsyncClient, services: Any
) -> None:
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    for name in (
        "event:١:chat",
        "event:²:chat",
        "event:01:chat",
        "dm:1:٢",
        " event:1:chat",
        "nonsense",
    ):
        r = await client.get("/api/admin/messages", params={"channel": name})
        assert r.status_code == 422, (name, r.text)
        assert "channel" in r.text
        r = await client.get("/api/admin/messages/export", params={"channel": name})
        assert r.status_code == 422, (name, r.text)
        r = await client.post(
            "/api/admin/contributions/remove", json={"channel": name, "reason": "cleanup"}
        )
        assert r.status_code == 422, (name, r.text)
    r = await client.get("/api/admin/messages", params={"channel": "event:1:chat"})
    assert r.status_code == 200, r.text
