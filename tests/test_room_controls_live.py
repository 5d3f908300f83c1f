"""The trainers' room controls over HTTP and real WebSockets, on SQLite and PostgreSQL:
removing a message (placeholder in replays, the author told, the original for admins),
mute, slow mode, freeze, the word list's review queue, the pinned announcement, and who
may use them. (Two processes over Redis: tests/test_room_controls_cluster.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from storage.models import Role
from tests.hub_support import SECRET, HubClient, Stack, frame_where
from web.auth import csrf_token_for, unsign_token


def http(port: int, cookie: str) -> httpx.AsyncClient:
    token = unsign_token(SECRET, cookie)
    assert token is not None
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        cookies={"classhub_session": cookie},
        headers={"X-CSRF-Token": csrf_token_for(SECRET, token)},
    )


def of_type(kind: str, ref: int | None = None) -> Any:
    def pred(frame: dict[str, Any]) -> bool:
        events = frame.get("events") or ([frame["event"]] if "event" in frame else [])
        return any(e["type"] == kind and (ref is None or e["ref"] == ref) for e in events)

    return pred


def event_in(frame: dict[str, Any], kind: str) -> dict[str, Any]:
    events = frame.get("events") or [frame["event"]]
    return next(e for e in events if e["type"] == kind)


async def test_a_removed_message_is_a_placeholder_for_everyone_but_admins(
    db_url: str, tmp_path: Path
) -> None:
    async with Stack(db_url, tmp_path) as st:
        t, ct = await st.world.user("Tina")
        p, cp = await st.world.user("Pat")
        q, cq = await st.world.user("Quinn")
        admin, cadmin = await st.world.user("Root", admin=True)
        ev = await st.world.event((t, Role.TRAINER), (p, Role.PARTICIPANT), (q, Role.PARTICIPANT))
        chat = f"event:{ev}:chat"
        pc = await HubClient.connect(st.port, cp)
        await pc.subscribe(chat, f"user:{p}")
        ack = await pc.publish(chat, "something rude")
        assert ack["type"] == "ack"
        async with http(st.port, ct) as h:
            r = await h.post(f"/api/events/{ev}/room/messages/{ack['event_id']}/remove",
                             json={"reason": "off topic"})
            assert r.status_code == 200, r.text
            again = await h.post(f"/api/events/{ev}/room/messages/{ack['event_id']}/remove",
                                 json={"reason": "twice"})
            assert again.status_code == 409
        # Live: the room's placeholder event and the author's own notice.
        removed = event_in(await frame_where(pc, of_type("message.removed")), "message.removed")
        assert removed["ref"] == ack["event_id"] and removed["body"] == {"reason": "off topic"}
        notice = event_in(await frame_where(pc, of_type("chat.removed")), "chat.removed")
        assert notice["channel"] == f"user:{p}" and notice["body"]["reason"] == "off topic"
        # A replay from the start carries the placeholder, never the text.
        qc = await HubClient.connect(st.port, cq)
        await qc.subscribe((chat, 0))
        replay = await qc.wait_events(chat, 2)
        assert "something rude" not in json.dumps(replay)
        assert replay[0]["body"] == {"removed": {"reason": "off topic"}}
        assert replay[1]["type"] == "message.removed"
        # Admin review still shows the original, with the removal's reason.
        async with http(st.port, cadmin) as h:
            hit = (await h.get(f"/api/admin/messages/{ack['event_id']}")).json()
            assert hit["removed"]["body"] == {"text": "something rude"}
            assert hit["removed"]["reason"] == "off topic"
            audit = (await h.get("/api/admin/audit", params={"action": "room.remove_message"}))
            assert audit.status_code == 200 and audit.json()["items"][0]["actor_id"] == t
        # Reversible: restored, the room gets the text back.
        async with http(st.port, ct) as h:
            r = await h.post(f"/api/events/{ev}/room/messages/{ack['event_id']}/restore")
            assert r.status_code == 200, r.text
        restored = event_in(await frame_where(qc, of_type("message.restored")), "message.restored")
        assert restored["body"] == {"body": {"text": "something rude"}}
        for c in (pc, qc):
            await c.close()
        assert admin


async def test_mute_slow_mode_and_freeze_refuse_posts_without_a_query_each(
    db_url: str, tmp_path: Path
) -> None:
    async with Stack(db_url, tmp_path) as st:
        t, ct = await st.world.user("Tina")
        p, cp = await st.world.user("Pat")
        q, cq = await st.world.user("Quinn")
        ev = await st.world.event((t, Role.TRAINER), (p, Role.PARTICIPANT), (q, Role.PARTICIPANT))
        chat = f"event:{ev}:chat"
        pc, qc, tc = [await HubClient.connect(st.port, c) for c in (cp, cq, ct)]
        await pc.subscribe(chat, f"user:{p}")
        await qc.subscribe(chat)
        assert (await pc.publish(chat, "one"))["type"] == "ack"
        loads = st.hub.rules.loads
        for i in range(5):
            assert (await qc.publish(chat, f"q{i}"))["type"] == "ack"
        assert st.hub.rules.loads == loads  # the room's state is cached
        h = http(st.port, ct)
        r = await h.post(f"/api/events/{ev}/room/mutes", json={"user_id": p, "minutes": 5})
        assert r.status_code == 200, r.text
        muted = event_in(await frame_where(pc, of_type("chat.muted")), "chat.muted")
        assert muted["body"]["event_id"] == ev and muted["body"]["until"] == r.json()["until"]
        refused = await pc.publish(chat, "let me talk")
        assert refused["code"] == "muted" and refused["until"] == r.json()["until"]
        assert refused["retry_after"] > 250
        assert (await qc.publish(chat, "I still can"))["type"] == "ack"
        me = (await http(st.port, cp).get(f"/api/events/{ev}/room")).json()
        assert me["muted_until"] == r.json()["until"] and me["staff"] is False
        assert "words" not in me or me["words"] is None
        assert (await h.post(f"/api/events/{ev}/room/mutes",
                             json={"user_id": t, "minutes": 5})).status_code == 400
        longer = await h.post(f"/api/events/{ev}/room/mutes", json={"user_id": p, "minutes": 60})
        assert longer.json()["until"] > r.json()["until"]  # a second mute replaces the first
        staff_view = (await h.get(f"/api/events/{ev}/room")).json()
        assert staff_view["mutes"] == [{"user_id": p, "until": longer.json()["until"]}]
        assert (await h.delete(f"/api/events/{ev}/room/mutes/{p}")).status_code == 200
        await frame_where(pc, of_type("chat.unmuted"))
        assert (await pc.publish(chat, "thanks"))["type"] == "ack"
        # Slow mode: one message per 60 s per person; trainers exempt.
        r = await h.patch(f"/api/events/{ev}/room", json={"slow_secs": 60})
        assert r.status_code == 200 and r.json()["slow_secs"] == 60
        update = await frame_where(qc, of_type("room.updated"))
        assert event_in(update, "room.updated")["body"]["room"]["slow_secs"] == 60
        assert (await qc.publish(chat, "first"))["type"] == "ack"
        too_soon = await qc.publish(chat, "second")
        assert too_soon["code"] == "slow_mode" and 0 < too_soon["retry_after"] <= 60
        assert (await tc.publish(chat, "trainer 1"))["type"] == "ack"
        assert (await tc.publish(chat, "trainer 2"))["type"] == "ack"
        # A retry of the post that passed (its ack lost) is not a second post.
        cid = "retry-me-1"
        assert (await pc.publish(chat, "once", cid))["type"] == "ack"
        assert (await pc.publish(chat, "once", cid))["type"] == "ack"
        # Freeze: only trainers post.
        r = await h.patch(f"/api/events/{ev}/room", json={"frozen": True, "slow_secs": 0})
        assert r.json()["frozen"] is True
        await frame_where(pc, lambda f: of_type("room.updated")(f) and any(
            e["body"].get("room", {}).get("frozen") for e in f.get("events") or [f["event"]]))
        assert (await pc.publish(chat, "hello?"))["code"] == "frozen"
        assert (await tc.publish(chat, "quiet please"))["type"] == "ack"
        r = await h.patch(f"/api/events/{ev}/room", json={"frozen": False,
                                                             "announcement": "Break at 11"})
        assert r.json()["announcement"] == "Break at 11"
        ann = await frame_where(qc, lambda f: of_type("room.updated")(f) and any(
            e["body"]["room"]["announcement"] for e in f.get("events") or [f["event"]]))
        assert event_in(ann, "room.updated")["body"]["room"]["announcement"] == "Break at 11"
        assert (await pc.publish(chat, "back"))["type"] == "ack"
        # Audited with the value before (reversible).
        audits = [e for e in await _audit(st, "room.settings") if "frozen" in e["detail"]]
        assert audits and audits[0]["detail"]["frozen"] in ([True, False], [False, True])
        await h.aclose()
        for c in (pc, qc, tc):
            await c.close()


async def _audit(st: Stack, action: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from storage.models import AuditEntry

    async with st.world.db.session() as db:
        rows = (await db.execute(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
        )).scalars()
        return [{"actor_id": r.actor_id, "detail": r.detail} for r in rows]


async def test_the_word_list_holds_posts_for_the_trainers_queue(
    db_url: str, tmp_path: Path
) -> None:
    async with Stack(db_url, tmp_path) as st:
        t, ct = await st.world.user("Tina")
        p, cp = await st.world.user("Pat")
        q, cq = await st.world.user("Quinn")
        ev = await st.world.event((t, Role.TRAINER), (p, Role.PARTICIPANT), (q, Role.PARTICIPANT))
        chat = f"event:{ev}:chat"
        h = http(st.port, ct)
        r = await h.patch(f"/api/events/{ev}/room", json={"words": ["Darn", "no way"]})
        assert r.json()["words"] == ["darn", "no way"]
        pc, qc, tc = [await HubClient.connect(st.port, c) for c in (cp, cq, ct)]
        await pc.subscribe(chat, f"user:{p}")
        await qc.subscribe(chat)
        await tc.subscribe(f"user:{t}")
        assert (await pc.publish(chat, "a darning needle"))["type"] == "ack"  # a whole word only
        held = await pc.publish(chat, "Oh DARN it", "held-1")
        assert held["type"] == "held" and held["held_id"] >= 1
        assert (await pc.publish(chat, "Oh DARN it", "held-1"))["held_id"] == held["held_id"]
        notice = event_in(await frame_where(tc, of_type("room.held")), "room.held")
        assert notice["body"] == {"event_id": ev, "held_id": held["held_id"], "channel": chat}
        queue = (await h.get(f"/api/events/{ev}/room/held")).json()["held"]
        assert [(x["id"], x["body"], x["word"]) for x in queue] == [
            (held["held_id"], {"text": "Oh DARN it"}, "darn")]
        assert (await http(st.port, cq).get(f"/api/events/{ev}/room/held")).status_code == 403
        _, cadmin = await st.world.user("Root", admin=True)
        async with http(st.port, cadmin) as admin:
            assert len((await admin.get(f"/api/events/{ev}/room/held")).json()["held"]) == 1
        assert [a["detail"] for a in await _audit(st, "review.held")] == [{}]  # not the trainer's
        r = await h.post(f"/api/events/{ev}/room/held/{held['held_id']}", json={"approve": True})
        assert r.status_code == 200 and r.json()["status"] == "approved"
        shown = await frame_where(qc, lambda f: any(
            e["type"] == "message" and e["body"] == {"text": "Oh DARN it"}
            for e in f.get("events") or ([f["event"]] if "event" in f else [])))
        assert event_in(shown, "message")["author"]["id"] == p
        assert (await h.post(f"/api/events/{ev}/room/held/{held['held_id']}",
                             json={"approve": False})).status_code == 409
        other = await pc.publish(chat, "no way!")
        assert other["type"] == "held"
        r = await h.post(f"/api/events/{ev}/room/held/{other['held_id']}", json={"approve": False})
        assert r.json()["status"] == "rejected"
        rejected = event_in(await frame_where(pc, of_type("chat.rejected")), "chat.rejected")
        assert rejected["body"]["held_id"] == other["held_id"]
        assert not [e for e in qc.events[chat] if e["body"] == {"text": "no way!"}]
        # A rejection is reversible: approved after all, it appears.
        r = await h.post(f"/api/events/{ev}/room/held/{other['held_id']}", json={"approve": True})
        assert r.json()["status"] == "approved"
        await frame_where(qc, lambda f: any(
            e["type"] == "message" and e["body"] == {"text": "no way!"}
            for e in f.get("events") or ([f["event"]] if "event" in f else [])))
        assert (await h.post(f"/api/events/{ev}/room/held/{other['held_id']}",
                             json={"approve": False})).status_code == 409
        await h.aclose()
        for c in (pc, qc, tc):
            await c.close()


async def test_only_the_events_trainers_control_its_room(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path) as st:
        t, ct = await st.world.user("Tina")
        p, cp = await st.world.user("Pat")
        o, co = await st.world.user("Other trainer")
        ev = await st.world.event((t, Role.TRAINER), (p, Role.PARTICIPANT))
        ev2 = await st.world.event((o, Role.TRAINER), (p, Role.PARTICIPANT))
        pc = await HubClient.connect(st.port, cp)
        ack = await pc.publish(f"event:{ev}:chat", "hi")
        async with http(st.port, cp) as h:
            assert (await h.patch(f"/api/events/{ev}/room", json={"frozen": True})).status_code \
                == 403
            assert (await h.post(f"/api/events/{ev}/room/messages/{ack['event_id']}/remove",
                                 json={"reason": "x"})).status_code == 403
        async with http(st.port, co) as h:
            assert (await h.get(f"/api/events/{ev}/room")).status_code == 404
            # Another event's trainer: not through their own event either.
            assert (await h.post(f"/api/events/{ev2}/room/messages/{ack['event_id']}/remove",
                                 json={"reason": "x"})).status_code == 404
            assert (await h.post(f"/api/events/{ev}/room/mutes",
                                 json={"user_id": p, "minutes": 5})).status_code == 403
        async with http(st.port, ct) as h:
            assert (await h.post(f"/api/events/{ev}/room/mutes",
                                 json={"user_id": p, "minutes": 0})).status_code == 422
            assert (await h.patch(f"/api/events/{ev}/room", json={"slow": 1})).status_code == 422
        await pc.close()


async def test_mute_and_freeze_reach_the_events_board(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path) as st:
        t, ct = await st.world.user("Tina")
        p, cp = await st.world.user("Pat")
        ev = await st.world.event((t, Role.TRAINER), (p, Role.PARTICIPANT))
        async with http(st.port, ct) as trainer, http(st.port, cp) as pat:
            board = (await pat.get(f"/api/pinboard/events/{ev}/board")).json()["board"]["id"]
            note = {"text": "an idea", "release": True}
            first = await pat.post(f"/api/pinboard/boards/{board}/notes", json=note)
            assert first.status_code == 201, first.text
            await trainer.post(f"/api/events/{ev}/room/mutes", json={"user_id": p, "minutes": 5})
            refused = await pat.post(f"/api/pinboard/boards/{board}/notes", json=note)
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "muted")
            reply = await pat.post(f"/api/pinboard/notes/{first.json()['id']}/replies",
                                   json={"text": "me too"})
            assert (reply.status_code, reply.json()["error"]["code"]) == (403, "muted")
            await trainer.delete(f"/api/events/{ev}/room/mutes/{p}")
            await trainer.patch(f"/api/events/{ev}/room", json={"frozen": True})
            refused = await pat.post(f"/api/pinboard/boards/{board}/notes", json=note)
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "frozen")
            ok = await trainer.post(f"/api/pinboard/boards/{board}/notes", json=note)
            assert ok.status_code == 201


async def test_a_learning_groups_chat_follows_its_events_room(db_url: str, tmp_path: Path) -> None:
    from storage.repo.groups import add_member, create_group

    async with Stack(db_url, tmp_path) as st:
        t, ct = await st.world.user("Tina")
        p, cp = await st.world.user("Pat")
        ev = await st.world.event((t, Role.TRAINER), (p, Role.PARTICIPANT))
        async with st.world.db.session() as db:
            group = await create_group(db, ev, "Team A")
            await add_member(db, group, p)
            gid = group.id
        chat = f"group:{gid}"
        pc = await HubClient.connect(st.port, cp)
        await pc.subscribe(chat)
        ack = await pc.publish(chat, "in the group")
        async with http(st.port, ct) as h:
            r = await h.patch(f"/api/events/{ev}/room", json={"frozen": True})
            assert r.status_code == 200
            update = event_in(await frame_where(pc, of_type("room.updated")), "room.updated")
            assert update["channel"] == chat and update["body"]["room"]["frozen"] is True
            assert (await pc.publish(chat, "hello?"))["code"] == "frozen"
            r = await h.post(f"/api/events/{ev}/room/messages/{ack['event_id']}/remove",
                             json={"reason": "not for the group"})
            assert r.status_code == 200
            await frame_where(pc, of_type("message.removed", ack["event_id"]))
        await pc.close()
