"""The pinboard over HTTP on both backends: two participants and a trainer on one board.

"Live" is asserted on the board's channel log, which is exactly what the hub
fans out and what a subscriber replays with ``since``.
"""

from __future__ import annotations

import httpx

from storage.authz import may_publish, may_read_channel
from storage.channels import parse_channel
from storage.models import User
from storage.passwords import hash_password
from tests.conftest import PASSWORD, login
from tests.pinboard_world import World, audit_rows, post_note, texts, world  # noqa: F401 - fixture


async def test_drafts_stay_private_and_release_is_live(world: World) -> None:
    w = world
    snap = await w.board("p2")
    channel, seq0 = snap["channel"], snap["last_seq"]
    assert channel == f"event:{w.event_id}:board"
    draft = await post_note(w, "p1", "secret draft idea", release=False)
    assert draft["state"] == "draft"

    for who in ("p2", "tr", "adm"):
        assert all(n["id"] != draft["id"] for n in (await w.board(who))["notes"]), who
        assert (await w[who].get(f"/api/pinboard/notes/{draft['id']}")).status_code == 404
    assert any(n["id"] == draft["id"] for n in (await w.board("p1"))["notes"])
    assert "secret draft idea" not in texts(await w.log(channel))
    # Others cannot release or edit someone's draft either.
    assert (await w["p2"].post(f"/api/pinboard/notes/{draft['id']}/release")).status_code == 404

    r = await w["p1"].post(f"/api/pinboard/notes/{draft['id']}/release")
    assert r.status_code == 200 and r.json()["state"] == "published"
    events = await w.log(channel, seq0)
    assert [e.type for e in events] == ["note.published"]
    assert events[0].body["note"]["text"] == "secret draft idea"
    assert events[0].body["note"]["author"] == {"id": w.users["p1"].id, "name": "Pia"}
    assert any(n["id"] == draft["id"] for n in (await w.board("p2"))["notes"])
    # The snapshot's last_seq is where a subscriber continues.
    assert (await w.board("p2"))["last_seq"] == events[-1].seq
    # Outsiders see neither board nor note.
    assert (await w["out"].get(f"/api/pinboard/events/{w.event_id}/board")).status_code == 404
    assert (await w["out"].get(f"/api/pinboard/notes/{draft['id']}")).status_code == 404
    # Releasing twice is refused.
    assert (await w["p1"].post(f"/api/pinboard/notes/{draft['id']}/release")).status_code == 409


async def test_votes_are_one_per_account(world: World) -> None:
    w = world
    note = await post_note(w, "p1", "vote for me")
    url = f"/api/pinboard/notes/{note['id']}/vote"
    r = await w["p2"].post(url)
    assert r.status_code == 201 and r.json()["votes"] == 1
    r = await w["p2"].post(url)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_voted"
    # A "reset" client: a fresh sign-in without cookies is still the same account.
    async with w.services.db.session() as db:
        user = await db.get(User, w.users["p2"].id)
        assert user is not None
        user.password_hash = hash_password(PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=w.app), base_url="http://testserver"
    ) as fresh:
        await login(fresh, w.users["p2"].email)
        assert (await fresh.post(url)).status_code == 409
    assert (await w["tr"].post(url)).json()["votes"] == 2
    assert (await w["out"].post(url)).status_code == 404
    snap = await w.board("p2")
    mine = next(n for n in snap["notes"] if n["id"] == note["id"])
    assert mine["votes"] == 2 and mine["my_vote"] is True
    assert (await w["p2"].delete(url)).json()["votes"] == 1
    assert (await w["p2"].post(url)).status_code == 201
    counts = [e.body["votes"] for e in await w.log(snap["channel"]) if e.type == "vote.changed"
              and e.body["note_id"] == note["id"]]
    assert counts == [1, 2, 1, 2]


async def test_tombstones_keep_reply_chains(world: World) -> None:
    w = world
    note = await post_note(w, "p1", "discuss this")
    r1 = (
        await w["p2"].post(f"/api/pinboard/notes/{note['id']}/replies", json={"text": "first"})
    ).json()
    r2 = await w["tr"].post(f"/api/pinboard/notes/{note['id']}/replies",
                            json={"text": "answer to first", "parent_id": r1["id"]})
    assert r2.status_code == 201 and r2.json()["parent_id"] == r1["id"]
    r = await w["p1"].delete(f"/api/pinboard/notes/{note['id']}")
    assert r.json() == {"deleted": True, "tombstone": True}
    tomb = next(n for n in (await w.board("p2"))["notes"] if n["id"] == note["id"])
    assert tomb["state"] == "deleted" and tomb["text"] == "" and tomb["author"] is None
    assert [x["text"] for x in tomb["replies"]] == ["first", "answer to first"]
    assert tomb["replies"][1]["parent_id"] == r1["id"]
    channel = f"event:{w.event_id}:board"
    assert "discuss this" not in texts(await w.log(channel))
    assert (await w.log(channel))[-1].body == {"id": note["id"], "tombstone": True}
    # A reply deleted keeps its place; a note without replies goes entirely.
    assert (await w["p2"].delete(f"/api/pinboard/replies/{r1['id']}")).status_code == 200
    tomb = next(n for n in (await w.board("p2"))["notes"] if n["id"] == note["id"])
    assert [(x["deleted"], x["text"]) for x in tomb["replies"]] == [
        (True, ""),
        (False, "answer to first"),
    ]
    lonely = await post_note(w, "p2", "nobody answers")
    assert (await w["p2"].delete(f"/api/pinboard/notes/{lonely['id']}")).json()[
        "tombstone"
    ] is False
    assert all(n["id"] != lonely["id"] for n in (await w.board("p2"))["notes"])
    assert (await w["p1"].post(f"/api/pinboard/notes/{note['id']}/replies",
                               json={"text": "late"})).status_code == 409


async def test_group_board_is_for_the_group(world: World) -> None:
    w = world
    r = await w["p1"].get(f"/api/pinboard/groups/{w.group_id}/board")
    assert r.status_code == 200 and r.json()["channel"] == f"group:{w.group_id}:board"
    assert (await w["p2"].get(f"/api/pinboard/groups/{w.group_id}/board")).status_code == 404
    assert (await w["tr"].get(f"/api/pinboard/groups/{w.group_id}/board")).status_code == 200
    board_id = r.json()["board"]["id"]
    r = await w["p1"].post(
        f"/api/pinboard/boards/{board_id}/notes", json={"text": "group note", "release": True}
    )
    assert r.status_code == 201
    assert (await w["p2"].get(f"/api/pinboard/boards/{board_id}")).status_code == 404
    events = await w.log(f"group:{w.group_id}:board")
    assert [e.type for e in events] == ["note.published"]
    # The hub subscribes by the same rule: group members, the event's trainers, admins.
    ref = parse_channel(f"group:{w.group_id}:board")
    assert ref is not None
    async with w.services.db.session() as db:
        for who, ok in (("p1", True), ("p2", False), ("tr", True), ("adm", True), ("out", False)):
            user = await db.get(User, w.users[who].id)
            assert user is not None
            assert await may_read_channel(db, user, ref) is ok, who
            assert await may_publish(db, user, ref) is False, who


async def test_bad_input_gets_4xx(world: World) -> None:
    w = world
    board_id = (await w.board())["board"]["id"]
    url = f"/api/pinboard/boards/{board_id}/notes"
    # A moderator's reason for deleting: a NUL (PostgreSQL stores none: it was a 500) or
    # an over-long one (it was cut in silence) is refused, and the note stays.
    doomed = (await w["p1"].post(url, json={"text": "doomed", "release": True})).json()
    for reason in ("a\x00b", "x" * 2001):
        r = await w["tr"].delete(f"/api/pinboard/notes/{doomed['id']}", params={"reason": reason})
        assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid"), r.text
    assert (await w["p2"].get(f"/api/pinboard/notes/{doomed['id']}")).json()["state"] == "published"
    r = await w["tr"].delete(f"/api/pinboard/notes/{doomed['id']}", params={"reason": "x" * 2000})
    assert r.status_code == 200
    rows = await audit_rows(w, "pinboard.note.delete", f"note:{doomed['id']}")
    assert rows[0].reason == "x" * 2000
    assert (await w["p1"].post(url, json={"text": "x", "colour": "chartreuse"})).status_code == 422
    assert (await w["p1"].post(url, json={"text": "   "})).status_code == 422
    assert (await w["p1"].post(url, json={"text": "x", "section_id": 999999})).status_code == 404
    assert (
        await w["p1"].post("/api/pinboard/boards/999999/notes", json={"text": "x"})
    ).status_code == 404
    r = await w["tr"].put(f"/api/pinboard/boards/{board_id}/sections/order", json={"order": [1, 1]})
    assert r.status_code == 422
