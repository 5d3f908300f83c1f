"""The pinboard's moderation over HTTP on both backends: taking notes offline, edit history,
pre-moderation, locked sections, pins and admin locks, export, an admin's audited read.

One board, two participants and a trainer (tests/pinboard_world.py); "live" is
asserted on the board's channel log, as in tests/test_pinboard.py.
"""

from __future__ import annotations

from storage.channels import dm_channel
from tests.pinboard_world import World, audit_rows, post_note, texts, world  # noqa: F401 - fixture


async def test_moderation_round_trip(world: World) -> None:
    w = world
    note = await post_note(w, "p1", "rude words here")
    channel = f"event:{w.event_id}:board"
    p1, tr = w.users["p1"], w.users["tr"]
    # Participants may not moderate.
    r = await w["p2"].post(f"/api/pinboard/notes/{note['id']}/offline", json={"reason": "x"})
    assert r.status_code == 403

    seq = (await w.board())["last_seq"]
    r = await w["tr"].post(f"/api/pinboard/notes/{note['id']}/offline",
                           json={"reason": "Please keep it civil"})
    assert r.status_code == 200 and r.json()["state"] == "offline"

    # Gone for everyone but the author and the trainers.
    assert all(n["id"] != note["id"] for n in (await w.board("p2"))["notes"])
    assert (await w["p2"].get(f"/api/pinboard/notes/{note['id']}")).status_code == 404
    mine = next(n for n in (await w.board("p1"))["notes"] if n["id"] == note["id"])
    assert mine["state"] == "offline" and mine["offline_reason"] == "Please keep it civil"
    assert any(n["id"] == note["id"] for n in (await w.board("tr"))["notes"])
    # The board log tells others only that it went; replay no longer yields its text.
    new = await w.log(channel, seq)
    assert [(e.type, e.body) for e in new] == [("note.offline", {"id": note["id"]})]
    whole = texts(await w.log(channel))
    assert "rude words here" not in whole and "keep it civil" not in whole
    # The author is told on their personal channel, and a DM opens with the reason.
    notices = await w.log(f"user:{p1.id}")
    assert notices[-1].type == "note.taken_offline"
    assert notices[-1].body["reason"] == "Please keep it civil"
    dm = dm_channel(p1.id, tr.id)
    assert notices[-1].body["dm"] == dm
    first = (await w.log(dm))[0]
    assert first.author_id == tr.id and first.body["text"] == "Please keep it civil"
    assert len(await audit_rows(w, "pinboard.note.offline", f"note:{note['id']}")) == 1

    # The author revises it; the trainer hears of it; still offline for others.
    r = await w["p1"].patch(f"/api/pinboard/notes/{note['id']}", json={"text": "kind words"})
    assert r.status_code == 200 and r.json()["state"] == "offline"
    assert (await w.log(f"user:{tr.id}"))[-1].type == "note.revised"
    assert len(await audit_rows(w, "pinboard.note.revised", f"note:{note['id']}")) == 1
    assert "kind words" not in texts(await w.log(channel))

    # The trainer reinstates it: back for everyone with the new text, live.
    r = await w["tr"].post(f"/api/pinboard/notes/{note['id']}/reinstate")
    assert r.status_code == 200 and r.json()["state"] == "published"
    last = (await w.log(channel))[-1]
    assert last.type == "note.published" and last.body["via"] == "reinstate"
    assert last.body["note"]["text"] == "kind words"
    assert (await w.log(f"user:{p1.id}"))[-1].type == "note.reinstated"
    assert len(await audit_rows(w, "pinboard.note.reinstate", f"note:{note['id']}")) == 1

    # Offline again, and this time the trainer deletes it.
    await w["tr"].post(f"/api/pinboard/notes/{note['id']}/offline", json={"reason": "again"})
    r = await w["tr"].delete(f"/api/pinboard/notes/{note['id']}", params={"reason": "spam"})
    assert r.status_code == 200 and r.json() == {"deleted": True, "tombstone": False}
    assert (await w.log(f"user:{p1.id}"))[-1].type == "note.deleted_by_moderator"
    assert len(await audit_rows(w, "pinboard.note.offline", f"note:{note['id']}")) == 2
    assert len(await audit_rows(w, "pinboard.note.delete", f"note:{note['id']}")) == 1
    assert (await w["p1"].get(f"/api/pinboard/notes/{note['id']}")).status_code == 404


async def test_edit_history_for_trainers(world: World) -> None:
    w = world
    note = await post_note(w, "p1", "version one")
    url = f"/api/pinboard/notes/{note['id']}"
    assert (await w["p1"].patch(url, json={"text": "version two"})).json()["version"] == 2
    r = await w["p1"].patch(url, json={"text": "version three", "colour": "blue"})
    assert r.json()["edited"] is True and r.json()["colour"] == "blue"
    assert (await w["p2"].patch(url, json={"text": "hijack"})).status_code == 403
    history = (await w["tr"].get(url + "/history")).json()
    assert [(r["version"], r["text"]) for r in history["revisions"]] == [
        (1, "version one"), (2, "version two")]
    assert history["current"]["text"] == "version three"
    assert (await w["adm"].get(url + "/history")).status_code == 200
    assert (await w["p1"].get(url + "/history")).status_code == 403
    assert (await w["p2"].get(url + "/history")).status_code == 403
    edited = [e for e in await w.log(f"event:{w.event_id}:board") if e.type == "note.edited"]
    assert [e.body["note"]["text"] for e in edited] == ["version two", "version three"]


async def test_premoderation_queue(world: World) -> None:
    w = world
    board_id = (await w.board())["board"]["id"]
    assert (await w["p1"].patch(f"/api/pinboard/boards/{board_id}",
                                json={"premoderation": True})).status_code == 403
    r = await w["tr"].patch(f"/api/pinboard/boards/{board_id}", json={"premoderation": True})
    assert r.status_code == 200 and r.json()["premoderation"] is True
    assert len(await audit_rows(w, "pinboard.premoderation", f"board:{board_id}")) == 1

    note = await post_note(w, "p1", "waiting for approval")
    assert note["state"] == "pending"
    assert all(n["id"] != note["id"] for n in (await w.board("p2"))["notes"])
    queue = (await w["tr"].get(f"/api/pinboard/boards/{board_id}/queue")).json()["notes"]
    assert [n["id"] for n in queue] == [note["id"]]
    assert (await w["p2"].get(f"/api/pinboard/boards/{board_id}/queue")).status_code == 403
    channel = f"event:{w.event_id}:board"
    assert "waiting for approval" not in texts(await w.log(channel))
    assert (await w.log(channel))[-1].body == {"id": note["id"]}

    r = await w["tr"].post(f"/api/pinboard/notes/{note['id']}/approve")
    assert r.status_code == 200 and r.json()["state"] == "published"
    assert any(n["id"] == note["id"] for n in (await w.board("p2"))["notes"])
    assert (await w.log(channel))[-1].body["via"] == "approve"
    assert (await w.log(f"user:{w.users['p1'].id}"))[-1].type == "note.approved"
    assert (await w["tr"].get(f"/api/pinboard/boards/{board_id}/queue")).json()["notes"] == []
    # A trainer's own note skips the queue; an edit of an approved note is checked again.
    assert (await post_note(w, "tr", "from the trainer"))["state"] == "published"
    r = await w["p1"].patch(f"/api/pinboard/notes/{note['id']}", json={"text": "changed later"})
    assert r.json()["state"] == "pending"


async def test_locked_sections_refuse_writes(world: World) -> None:
    w = world
    board_id = (await w.board())["board"]["id"]
    r = await w["p1"].post(f"/api/pinboard/boards/{board_id}/sections", json={"title": "Mine"})
    assert r.status_code == 403
    s1 = (
        await w["tr"].post(f"/api/pinboard/boards/{board_id}/sections", json={"title": "Ideas"})
    ).json()
    s2 = (
        await w["tr"].post(f"/api/pinboard/boards/{board_id}/sections", json={"title": "Questions"})
    ).json()
    note = await post_note(w, "p1", "in ideas", section_id=s1["id"])
    r = await w["tr"].patch(
        f"/api/pinboard/sections/{s1['id']}", json={"locked": True, "title": "Ideas (closed)"}
    )
    assert r.status_code == 200 and r.json()["locked"] is True

    board = f"/api/pinboard/boards/{board_id}/notes"
    r = await w["p2"].post(board, json={"text": "late idea", "section_id": s1["id"]})
    assert r.status_code == 423 and r.json()["error"]["code"] == "section_locked"
    assert (
        await w["p1"].patch(f"/api/pinboard/notes/{note['id']}", json={"text": "x"})
    ).status_code == 423
    assert (await w["p2"].post(f"/api/pinboard/notes/{note['id']}/vote")).status_code == 423
    assert (
        await w["p2"].post(f"/api/pinboard/notes/{note['id']}/replies", json={"text": "x"})
    ).status_code == 423
    r = await w["p1"].post(f"/api/pinboard/notes/{note['id']}/move", json={"section_id": s2["id"]})
    assert r.status_code == 423
    assert (
        await w["tr"].post(board, json={"text": "summary", "section_id": s1["id"], "release": True})
    ).status_code == 201

    # Reorder, then an admin locks the trainer's section: read-only for the trainer too.
    r = await w["tr"].put(
        f"/api/pinboard/boards/{board_id}/sections/order", json={"order": [s2["id"], s1["id"]]}
    )
    assert [s["id"] for s in r.json()["sections"]] == [s2["id"], s1["id"]]
    assert (
        await w["tr"].patch(f"/api/pinboard/sections/{s1['id']}", json={"admin_locked": True})
    ).status_code == 403
    assert (
        await w["adm"].patch(f"/api/pinboard/sections/{s1['id']}", json={"admin_locked": True})
    ).status_code == 200
    assert (
        await w["tr"].patch(f"/api/pinboard/sections/{s1['id']}", json={"title": "Nope"})
    ).status_code == 423
    assert (
        await w["tr"].post(board, json={"text": "no", "section_id": s1["id"]})
    ).status_code == 423
    assert (await w["tr"].delete(f"/api/pinboard/sections/{s1['id']}")).status_code == 423
    assert len(await audit_rows(w, "pinboard.section.admin_lock", f"section:{s1['id']}")) == 1
    # The admin deletes the trainer's section: its notes move to unsorted.
    assert (await w["adm"].delete(f"/api/pinboard/sections/{s1['id']}")).status_code == 200
    moved = next(n for n in (await w.board("p2"))["notes"] if n["id"] == note["id"])
    assert moved["section_id"] is None
    assert len(await audit_rows(w, "pinboard.section.delete", f"section:{s1['id']}")) == 1


async def test_pin_move_and_admin_lock_of_pinned_note(world: World) -> None:
    w = world
    board_id = (await w.board())["board"]["id"]
    a = await post_note(w, "p1", "a")
    b = await post_note(w, "p2", "b")
    assert (
        await w["p1"].post(f"/api/pinboard/notes/{b['id']}/pin", json={"pinned": True})
    ).status_code == 403
    r = await w["tr"].post(f"/api/pinboard/notes/{b['id']}/pin", json={"pinned": True})
    assert r.json()["pinned"] is True
    s = (
        await w["tr"].post(f"/api/pinboard/boards/{board_id}/sections", json={"title": "S"})
    ).json()
    r = await w["p1"].post(
        f"/api/pinboard/notes/{a['id']}/move", json={"section_id": s["id"], "index": 0}
    )
    assert r.status_code == 200 and r.json()["section_id"] == s["id"]
    assert (
        await w["p2"].post(f"/api/pinboard/notes/{a['id']}/move", json={"section_id": None})
    ).status_code == 403
    moved = (await w.log(f"event:{w.event_id}:board"))[-1]
    assert moved.type == "note.moved" and moved.body["positions"] == [[a["id"], 1]]
    assert (
        await w["tr"].post(f"/api/pinboard/notes/{b['id']}/admin-lock", json={"locked": True})
    ).status_code == 403
    assert (
        await w["adm"].post(f"/api/pinboard/notes/{b['id']}/admin-lock", json={"locked": True})
    ).status_code == 200
    assert (
        await w["tr"].post(f"/api/pinboard/notes/{b['id']}/pin", json={"pinned": False})
    ).status_code == 423
    assert (
        await w["p2"].patch(f"/api/pinboard/notes/{b['id']}", json={"text": "x"})
    ).status_code == 403
    assert (await w["tr"].delete(f"/api/pinboard/notes/{b['id']}")).status_code == 403
    assert (await w["adm"].delete(f"/api/pinboard/notes/{b['id']}")).status_code == 200


async def test_export_for_trainers(world: World) -> None:
    w = world
    board_id = (await w.board())["board"]["id"]
    note = await post_note(w, "p1", 'quote " and, comma')
    await w["p2"].post(f"/api/pinboard/notes/{note['id']}/replies", json={"text": "re"})
    await post_note(w, "p2", "a private draft", release=False)
    for who in ("p1", "out"):
        assert (await w[who].get(f"/api/pinboard/boards/{board_id}/export.json")).status_code in (
            403,
            404,
        )
    r = await w["org"].get(f"/api/pinboard/boards/{board_id}/export.json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert [n["text"] for n in data["notes"]] == ['quote " and, comma']
    r = await w["tr"].get(f"/api/pinboard/boards/{board_id}/export.csv")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["kind"], x["text"]) for x in rows] == [
        ("note", 'quote " and, comma'),
        ("reply", "re"),
    ]
    assert "a private draft" not in r.text
    # A cell a spreadsheet would run as a formula is defused.
    await post_note(w, "p2", "=HYPERLINK(\"http://evil\")")
    rows = list(
        csv.DictReader(
            io.StringIO((await w["tr"].get(f"/api/pinboard/boards/{board_id}/export.csv")).text)
        )
    )
    assert rows[-1]["text"] == "'=HYPERLINK(\"http://evil\")"


async def test_an_admins_read_of_a_board_they_take_no_part_in_is_audited(world: World) -> None:
    """Admins read every board; for one of an event or group they take no part in that
    is a review of someone else's log, with its audit row (as over the WebSocket)."""
    w = world
    snap = await w.board("adm")
    channel = snap["board"]["channel"]
    assert len(await audit_rows(w, "review.board", channel)) == 1
    assert (await w["adm"].get(f"/api/pinboard/boards/{snap['board']['id']}")).status_code == 200
    group = (await w["adm"].get(f"/api/pinboard/groups/{w.group_id}/board")).json()
    assert len(await audit_rows(w, "review.board", channel)) == 2
    assert len(await audit_rows(w, "review.board", group["board"]["channel"])) == 1
    rows = await audit_rows(w, "review.board", channel)
    assert {r.actor_id for r in rows} == {w.users["adm"].id} and rows[0].ip
    # The event's own people read their boards without a review row.
    for who in ("p1", "tr", "org"):
        await w.board(who)
    await w["p1"].get(f"/api/pinboard/groups/{w.group_id}/board")
    await w["tr"].get(f"/api/pinboard/groups/{w.group_id}/board")
    assert len(await audit_rows(w, "review.board", channel)) == 2
    assert len(await audit_rows(w, "review.board", group["board"]["channel"])) == 1
