"""A channel's log stays replayable, gapless, after events were removed from it.

Immediate deletion, the end of a grace month, an admin's removal of contributions,
DM retention and event retention delete channel events for good; a database may
also hold holes from before the reader knew about them. A client resuming with a
``since`` before such a hole gets every sequence number after it, the removed ones
as contentless ``erased`` placeholders, and never an error it would retry for ever.
A live feed that meets a hole while filling a gap from the store does not stall.
Against a running server (uvicorn in the test's loop), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, update

from storage.channels import dm_channel
from storage.maintenance import run_maintenance
from storage.models import ChannelEvent, Enrolment, Event, Role, User, utcnow
from storage.repo.channel_log import NewEvent, append
from tests.hub_support import SECRET, HubClient, Stack, seqs

P = Role.PARTICIPANT


def _csrf(cookie: str) -> str:
    from web.auth import csrf_token_for, unsign_token

    token = unsign_token(SECRET, cookie)
    assert token is not None
    return csrf_token_for(SECRET, token)


async def _post(port: int, cookie: str, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        return await c.post(
            path,
            json=body,
            headers={"Cookie": f"classhub_session={cookie}", "X-CSRF-Token": _csrf(cookie)},
        )


async def _say(client: HubClient, channel: str, text: str) -> dict[str, Any]:
    ack = await client.publish(channel, text)
    assert ack["type"] == "ack", ack
    return ack


async def _resume(
    port: int, cookie: str, channel: str, since: int, head: int
) -> list[dict[str, Any]]:
    """A fresh connection resumes ``channel`` after ``since``; returns what it replayed."""
    client = await HubClient.connect(port, cookie)
    try:
        answer = await client.subscribe((channel, since))
        assert answer["channels"] == [{"channel": channel, "status": "recovered", "seq": head}], (
            answer
        )
        assert not [f for f in client.frames if f["type"] == "error"], client.frames
        events = await client.wait_events(channel, head - since)
        assert seqs(events) == list(range(since + 1, head + 1))
        return events
    finally:
        await client.close()


def _is_placeholder(ev: dict[str, Any]) -> bool:
    return (
        ev["type"] == "erased" and ev["id"] == 0 and ev["author"] is None
        and ev["body"] == {} and ev["ref"] is None and isinstance(ev["time"], str)
    )


async def test_resume_after_every_kind_of_removal(db_url: str, tmp_path: Path) -> None:
    marker = "m" + uuid.uuid4().hex
    async with Stack(db_url, tmp_path / "var") as st:
        w = st.world
        _admin, admin_c = await w.user("Admin", admin=True)
        stay, stay_c = await w.user("Stay")
        gone, gone_c = await w.user("Gone now")
        later, later_c = await w.user("Gone later")
        left, left_c = await w.user("Left")
        ev = await w.event((stay, P), (gone, P), (later, P), (left, P))
        ev_left = await w.event((stay, P), (left, P))
        ev_old = await w.event((stay, P))
        chat, chat_left, chat_old = (f"event:{e}:chat" for e in (ev, ev_left, ev_old))
        dm_later, dm_left = dm_channel(stay, later), dm_channel(stay, left)

        s = await HubClient.connect(st.port, stay_c)
        g = await HubClient.connect(st.port, gone_c)
        la = await HubClient.connect(st.port, later_c)
        le = await HubClient.connect(st.port, left_c)
        try:
            await _say(s, chat, "first")  # 1
            await _say(g, chat, f"{marker} deleted at once")  # 2: goes with the immediate deletion
            await _say(s, chat, "third")  # 3
            await _say(la, dm_later, f"{marker} gone after the grace month")  # 1
            await _say(s, dm_later, "a dm of someone who stays")  # 2
            dm_old = await _say(le, dm_left, f"{marker} an old dm")  # 1: DM retention
            await _say(s, dm_left, "a recent dm")  # 2
            await _say(s, chat_left, "before")  # 1
            await _say(le, chat_left, f"{marker} removed by an admin")  # 2
            await _say(s, chat_left, "after")  # 3
            for text in ("old one", "old two", "old three"):  # 1-3: event retention
                await _say(s, chat_old, text)
        finally:
            for c in (s, g, la, le):
                await c.close()

        # Immediate deletion and an admin's removal of contributions, through the API.
        r = await _post(
            st.port,
            admin_c,
            f"/api/admin/users/{gone}/terminate",
            {"reason": "asked to be forgotten", "immediately": True, "erase_content": True},
        )
        assert r.status_code == 200, r.text
        async with w.db.session() as db:
            await db.execute(
                delete(Enrolment).where(Enrolment.user_id == left, Enrolment.event_id == ev_left)
            )
        r = await _post(st.port, admin_c, "/api/admin/contributions/remove",
                        {"reason": "left the event", "user_id": left, "event_id": ev_left})
        assert r.status_code == 200 and r.json()["deleted_events"] == 1, r.text
        # A grace month that ended, an old DM and an event long over: the maintenance pass.
        r = await _post(
            st.port, admin_c, f"/api/admin/users/{later}/terminate", {"reason": "leaving"}
        )
        assert r.status_code == 200, r.text
        now = utcnow()
        async with w.db.session() as db:
            await db.execute(
                update(User).where(User.id == later).values(delete_after=now - dt.timedelta(days=1))
            )
            await db.execute(
                update(ChannelEvent).where(ChannelEvent.id == dm_old["event_id"])
                .values(created_at=now - dt.timedelta(days=40))
            )
            await db.execute(
                update(Event)
                .where(Event.id == ev_old)
                .values(
                    starts_at=now - dt.timedelta(days=401), ends_at=now - dt.timedelta(days=400)
                )
            )
        summary = await run_maintenance(
            w.db, dataclasses.replace(st.settings, dm_retention_days=30)
        )
        assert (
            later in summary["users_deleted"]
            and ev_old in summary["events"]
            and summary["dm_events"] >= 1
        )

        # (channel, removed seqs, head): heads include the deletions' notices.
        expect = [
            (chat, {2}, 4),  # + message.deleted for seq 2
            (dm_later, {1}, 3),  # + message.deleted for seq 1
            (dm_left, {1}, 2),
            (chat_left, {2}, 4),  # + message.deleted for seq 2
            (chat_old, {1, 2, 3}, 3),
        ]
        for channel, removed, head in expect:
            for since in (0, min(removed) - 1, min(removed)):
                if since >= head:
                    continue
                events = await _resume(st.port, stay_c, channel, since, head)
                placeholders = {e["seq"] for e in events if _is_placeholder(e)}
                assert placeholders == {n for n in removed if n > since}, (channel, since, events)
                assert marker not in json.dumps(events)
                assert all(e["author"] is None or e["author"]["id"] == stay for e in events), events


async def test_live_feed_fills_a_gap_across_a_hole(db_url: str, tmp_path: Path) -> None:
    """Events committed without reaching this process's feed, the first of them removed
    before the feed fills the gap from the store (a hole in an existing database reads
    the same): the feed delivers past it instead of waiting for ever."""
    async with Stack(db_url, tmp_path / "var", CLASSHUB_GAP_WAIT_SECS="0.05") as st:
        w = st.world
        a, a_c = await w.user("A")
        b, b_c = await w.user("B")
        ev = await w.event((a, P), (b, P))
        chat = f"event:{ev}:chat"
        reader = await HubClient.connect(st.port, b_c)
        writer = await HubClient.connect(st.port, a_c)
        try:
            answer = await reader.subscribe(chat)
            assert answer["channels"][0]["status"] == "ok"
            await _say(writer, chat, "one")
            await reader.wait_events(chat, 1)
            # Two events stored behind the hub's back (another process whose broker
            # message was lost), then the first of them erased.
            async with w.db.session() as db:
                stored = await append(
                    db,
                    [
                        NewEvent(chat, "message", {"text": t}, a, uuid.uuid4().hex)
                        for t in ("two", "three")
                    ],
                )
            assert [e.seq for e in stored] == [2, 3]
            async with w.db.session() as db:
                await db.execute(delete(ChannelEvent).where(ChannelEvent.id == stored[0].id))
            await _say(writer, chat, "four")  # seq 4 reaches the feed: a gap of 2-3 to fill
            events = await reader.wait_events(chat, 4, timeout=5)
            assert seqs(events) == [1, 2, 3, 4]
            assert _is_placeholder(events[1]) and events[2]["body"] == {"text": "three"}
            await _say(writer, chat, "five")  # and the feed goes on live
            assert seqs(await reader.wait_events(chat, 5, timeout=5)) == [1, 2, 3, 4, 5]
            # A resume across the same hole (no removal notice: as in an older database).
            replayed = await _resume(st.port, b_c, chat, 0, 5)
            assert [_is_placeholder(e) for e in replayed] == [False, True, False, False, False]
        finally:
            await reader.close()
            await writer.close()
