"""The hub over real WebSockets: rights and memberships that change under an open
connection, DMs, audited admin reads, heartbeats (uvicorn in the test's loop,
websockets client)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from storage.models import Role
from tests.hub_support import HubClient, Stack, eventually


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_membership_change_disconnect_and_seen(db_url: str, tmp_path: Path) -> None:
    from storage.repo.events import unenrol

    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        ev = await st.world.event((a, Role.PARTICIPANT))
        seen: list[tuple[int, str, int]] = []

        async def on_seen(user_id: int, channel: str, event_id: int) -> None:
            seen.append((user_id, channel, event_id))

        st.hub.on_seen(on_seen)
        c = await HubClient.connect(st.port, ca)
        await c.subscribe(f"event:{ev}:chat", f"event:{ev}:news")
        ack = await c.publish(f"event:{ev}:chat", "hi")
        await c.send({"type": "seen", "channel": f"event:{ev}:chat", "event_id": ack["event_id"]})
        await c.send({"type": "seen", "channel": "event:999:chat", "event_id": 1})
        assert (await c.recv_type("error"))["code"] == "not_subscribed"
        assert seen == [(a, f"event:{ev}:chat", ack["event_id"])]
        async with st.world.db.session() as db:
            await unenrol(db, a, ev)
        await st.hub.membership_changed([a])
        gone = await c.recv_type("unsubscribed")
        assert gone["reason"] == "forbidden" and sorted(gone["channels"]) == [
            f"event:{ev}:chat",
            f"event:{ev}:news",
        ]
        assert (await c.publish(f"event:{ev}:chat", "still?"))["code"] == "forbidden"
        await st.hub.disconnect_user(a, "signed out")
        with pytest.raises(ConnectionClosed) as err:
            await c.recv()
        assert err.value.rcvd is not None and err.value.rcvd.code == 4401


async def test_a_dm_closes_when_the_peer_leaves_the_last_shared_event(
    db_url: str, tmp_path: Path
) -> None:
    """DMs are for two active people who share an event (docs/protocol.md section 4). The
    right is cached per connection; it depends on the peer too, so the peer leaving (or
    being blocked) must reach the other side's cache, not only the peer's own."""
    from storage.channels import dm_channel
    from storage.repo.events import unenrol

    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        b, _ = await st.world.user("Bob")
        ev = await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))
        dm = dm_channel(a, b)
        c = await HubClient.connect(st.port, ca)
        assert (await c.publish(dm, "hello Bob"))["type"] == "ack"
        async with st.world.db.session() as db:
            await unenrol(db, b, ev)
        await st.hub.membership_changed([b])  # as the enrolment routes do
        answer = await c.publish(dm, "still there?")
        assert (answer["type"], answer.get("code")) == ("error", "forbidden")
        await c.close()


async def test_an_admins_live_read_of_someone_elses_log_is_audited(
    db_url: str, tmp_path: Path
) -> None:
    """Subscribing replays the log: for an admin who takes no part in the event that is
    a review like GET /api/admin/messages, and leaves its audit row (one per channel,
    committed before the replay). Reading one's own event's channels is no review."""
    from sqlalchemy import select

    from storage.models import AuditEntry

    async def rows(actor: int) -> list[AuditEntry]:
        async with st.hub.db.session() as db:
            found = await db.execute(
                select(AuditEntry).where(AuditEntry.actor_id == actor).order_by(AuditEntry.id)
            )
            return list(found.scalars())

    async with Stack(db_url, tmp_path) as st:
        adm, cadm = await st.world.user("Ada Admin", admin=True)
        p, cp = await st.world.user("Pia")
        ev = await st.world.event((p, Role.PARTICIPANT))
        mine = await st.world.event((adm, Role.PARTICIPANT))
        pia = await HubClient.connect(st.port, cp)
        await pia.publish(f"event:{ev}:chat", "only for the class")
        c = await HubClient.connect(st.port, cadm)
        ans = await c.subscribe((f"event:{ev}:chat", 0), f"event:{mine}:chat")
        assert [a["status"] for a in ans["channels"]] == ["recovered", "ok"]
        assert [e["body"]["text"] for e in await c.wait_events(f"event:{ev}:chat", 1)] == [
            "only for the class"
        ]
        audited = await rows(adm)
        assert [(r.action, r.target) for r in audited] == [("review.subscribe", f"event:{ev}:chat")]
        assert audited[0].detail == {"since": 0} and audited[0].ip
        await pia.subscribe(f"event:{ev}:chat")
        assert await rows(p) == []
        for client in (c, pia):
            await client.close()


async def test_admin_rights_taken_away_reach_an_open_connection(
    db_url: str, tmp_path: Path
) -> None:
    """An admin reads every event's channels; once the rights are gone (``classhub user
    make-admin --revoke``, or any change to the account's row), an open connection keeps
    none of them: its subscriptions are checked again, as for a membership change."""
    from storage.models import User

    async with Stack(db_url, tmp_path) as st:
        adm, cadm = await st.world.user("Ada Admin", admin=True)
        p, _ = await st.world.user("Pia")
        ev = await st.world.event((p, Role.PARTICIPANT))
        other = await st.world.event((p, Role.PARTICIPANT))
        c = await HubClient.connect(st.port, cadm)
        ans = await c.subscribe(f"event:{ev}:chat")
        assert ans["channels"][0]["status"] == "ok"
        # The change as the servers' own database handle commits it (the CLI's reaches
        # this hub as the same accounts_changed control message).
        async with st.hub.db.session() as db:
            user = await db.get(User, adm)
            assert user is not None
            user.is_admin = False
        gone = await c.recv_type("unsubscribed")
        assert gone["reason"] == "forbidden" and gone["channels"] == [f"event:{ev}:chat"]
        ans = await c.subscribe(f"event:{other}:chat", rid="s2")
        assert ans["channels"][0] == {
            "channel": f"event:{other}:chat",
            "status": "denied",
            "code": "forbidden",
        }
        await c.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_heartbeat_closes_silent_peers_and_revoked_sessions_close(
    db_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from storage.models import AuthSession, utcnow

    async with Stack(
        db_url,
        tmp_path,
        CLASSHUB_HEARTBEAT_SECS="1",
        CLASSHUB_HEARTBEAT_TIMEOUT_SECS="2.5",
        CLASSHUB_REVALIDATE_SECS="1",
    ) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        silent = await HubClient.connect(st.port, ca)
        alive = await HubClient.connect(st.port, cb)

        async def keep_reading() -> int:
            try:
                while True:
                    await alive.recv(timeout=30)  # answers every ping
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else -1

        reading = asyncio.create_task(keep_reading())
        # `silent` never reads, so never answers a ping: closed after the timeout.
        await eventually(lambda: not any(c.user_id == a for c in st.hub.clients.conns))
        assert any(c.user_id == b for c in st.hub.clients.conns) and not reading.done()
        with pytest.raises(ConnectionClosed) as err:
            while True:
                await silent.ws.recv()
        assert err.value.rcvd is not None and err.value.rcvd.code == 4408
        async with st.world.db.session() as db:  # signed out elsewhere: the socket follows
            await db.execute(
                update(AuthSession).where(AuthSession.user_id == b).values(revoked_at=utcnow())
            )
        assert await asyncio.wait_for(reading, 10) == 4401
        assert st.hub.stats.closes.get(4401) == 1


async def test_a_dm_is_announced_on_the_recipients_personal_channel(
    db_url: str, tmp_path: Path
) -> None:
    """Bob hears of Ada's message wherever he is: ``dm.received`` on user:<bob> names the
    conversation and the sender (no name, no text) and refers to the message."""
    from storage.channels import dm_channel

    async with Stack(db_url, tmp_path) as st:
        a, ca = await st.world.user("Ada")
        b, cb = await st.world.user("Bob")
        await st.world.event((a, Role.PARTICIPANT), (b, Role.PARTICIPANT))
        dm = dm_channel(a, b)
        ada = await HubClient.connect(st.port, ca)
        bob = await HubClient.connect(st.port, cb)
        await ada.subscribe(f"user:{a}")
        await bob.subscribe(f"user:{b}")
        ack = await ada.publish(dm, "a private word")
        assert ack["type"] == "ack"
        (notice,) = await bob.wait_events(f"user:{b}", 1)
        assert notice["type"] == "dm.received" and notice["ref"] == ack["event_id"]
        assert notice["body"] == {"channel": dm, "from": a} and notice["author"] is None
        again = await ada.publish(
            dm, "a private word", cid=None
        )  # a second message: a second notice
        assert (await bob.wait_events(f"user:{b}", 2))[1]["ref"] == again["event_id"]
        with pytest.raises(TimeoutError):  # the sender is not told of their own message
            await ada.recv(timeout=0.5)
        assert ada.events[f"user:{a}"] == []
        await ada.close()
        await bob.close()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_reviewing_admin_is_not_in_the_events_presence(
    db_url: str, tmp_path: Path
) -> None:
    """An admin who reads an event's channels only through admin rights (an audited
    review) is not attendance: the participants' "Here now" never lists them, while
    they still see who is there. An admin enrolled in the event attends like anyone."""
    async with Stack(db_url, tmp_path) as st:
        adm, cadm = await st.world.user("Ada Admin", admin=True)
        p, cp = await st.world.user("Pia")
        b, cb = await st.world.user("Bob")
        ev = await st.world.event((p, Role.PARTICIPANT), (b, Role.PARTICIPANT))
        pia = await HubClient.connect(st.port, cp)
        await pia.subscribe(f"event:{ev}:chat", presence=True)
        assert (await pia.recv_type("presence"))["present"] == [{"id": p, "name": "Pia"}]
        reviewer = await HubClient.connect(st.port, cadm)
        await reviewer.subscribe(f"event:{ev}:chat", f"event:{ev}:board", presence=True)
        snap = await reviewer.recv_type("presence")
        assert snap["present"] == [{"id": p, "name": "Pia"}]
        bob = await HubClient.connect(st.port, cb)
        await bob.subscribe(f"event:{ev}:board")
        change = await pia.recv_type("presence")
        assert change["joined"] == [{"id": b, "name": "Bob"}] and change["left"] == []
        change = await reviewer.recv_type("presence")
        assert change["joined"] == [{"id": b, "name": "Bob"}]
        await reviewer.close()
        await bob.close()
        change = await pia.recv_type("presence")
        assert change["joined"] == [] and change["left"] == [b]
        mine = await st.world.event((adm, Role.PARTICIPANT), (p, Role.PARTICIPANT))
        await pia.subscribe(f"event:{mine}:chat", presence=True)
        assert (await pia.recv_type("presence"))["present"] == [{"id": p, "name": "Pia"}]
        enrolled = await HubClient.connect(st.port, cadm)
        await enrolled.subscribe(f"event:{mine}:chat")
        change = await pia.recv_type("presence")
        assert change["joined"] == [{"id": adm, "name": "Ada Admin"}]
        for client in (enrolled, pia):
            await client.close()
