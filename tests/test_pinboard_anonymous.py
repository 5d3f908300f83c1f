"""Anonymous notes on a pinboard, over HTTP on both backends: a trainer turns them on; the
room, trainers included, sees no author of a note written since (not in snapshots, board
events, history or exports); the author still sees and edits their own note; taking it
offline opens no DM (which would name the author); an admin learns the author only with a
reason, audited; the person's own export lists it."""

from __future__ import annotations

import json

from tests.pinboard_world import World, audit_rows, post_note, texts, world  # noqa: F401


async def make_anonymous(w: World, on: bool = True) -> int:
    board = (await w.board("tr"))["board"]
    r = await w["p1"].patch(f"/api/pinboard/boards/{board['id']}", json={"anonymous": on})
    assert r.status_code == 403
    r = await w["tr"].patch(f"/api/pinboard/boards/{board['id']}", json={"anonymous": on})
    assert r.status_code == 200 and r.json()["anonymous"] is on
    assert r.json()["premoderation"] is False  # left as it was
    return int(board["id"])


async def test_anonymous_notes_name_nobody_in_the_room(world: World) -> None:
    w = world
    named = await post_note(w, "p1", "Written before: named")
    board_id = await make_anonymous(w)
    note = await post_note(w, "p1", "Nobody knows I wrote this")
    draft = await post_note(w, "p1", "A draft, released later", release=False)
    r = await w["p1"].post(f"/api/pinboard/notes/{draft['id']}/release")
    assert r.status_code == 200 and r.json()["author"] is None and r.json()["mine"] is True
    assert note["anonymous"] and note["author"] is None and note["mine"] is True
    # The author edits it (the client knows it is theirs from `mine`).
    r = await w["p1"].patch(f"/api/pinboard/notes/{note['id']}", json={"text": "Edited anon"})
    assert r.status_code == 200 and r.json()["author"] is None
    for who in ("p2", "tr", "org"):
        snap = await w.board(who)
        seen = {n["id"]: n for n in snap["notes"]}
        assert seen[note["id"]]["author"] is None and not seen[note["id"]]["mine"]
        assert seen[draft["id"]]["author"] is None
        assert seen[named["id"]]["author"]["name"] == "Pia"  # fixed when written
        assert "Pia" not in json.dumps([seen[note["id"]], seen[draft["id"]]])
    # No board event of an anonymous note carries its author, as actor or in the body.
    log = await w.log(f"event:{w.event_id}:board")
    about = [e for e in log if note["id"] in (e.body.get("id"), (e.body.get("note") or {}).get(
        "id")) or draft["id"] in (e.body.get("id"), (e.body.get("note") or {}).get("id"))]
    assert {e.type for e in about} >= {"note.published", "note.edited"}
    assert all(e.author_id is None for e in about)
    assert "Pia" not in texts(about)
    updated = [e.body for e in log if e.type == "board.updated"]
    assert updated[-1]["board"]["anonymous"] is True
    # History and exports for trainers: no author either.
    hist = (await w["tr"].get(f"/api/pinboard/notes/{note['id']}/history")).json()
    assert [r["editor_id"] for r in hist["revisions"]] == [None]
    assert hist["current"]["author"] is None
    for fmt in ("json", "csv"):
        r = await w["tr"].get(f"/api/pinboard/boards/{board_id}/export.{fmt}")
        assert r.status_code == 200
        assert "Edited anon" in r.text and r.text.count("Pia") == 1  # the named note only


async def test_moderating_an_anonymous_note_opens_no_dm(world: World) -> None:
    w = world
    await make_anonymous(w)
    note = await post_note(w, "p1", "Something rude, anonymously")
    r = await w["tr"].post(f"/api/pinboard/notes/{note['id']}/offline",
                           json={"reason": "Please keep it civil"})
    assert r.status_code == 200
    notices = [e for e in await w.log(f"user:{w.users['p1'].id}")
               if e.type == "note.taken_offline"]
    assert notices[-1].body["dm"] is None and notices[-1].body["reason"] == "Please keep it civil"
    lo, hi = sorted((w.users["p1"].id, w.users["tr"].id))
    assert await w.log(f"dm:{lo}:{hi}") == []


async def test_only_an_admin_with_a_reason_learns_who_wrote_it(world: World) -> None:
    w = world
    await make_anonymous(w)
    note = await post_note(w, "p1", "Who wrote me?")
    url = f"/api/admin/pinboard/notes/{note['id']}/author"
    assert (await w["tr"].get(url, params={"reason": "just curious"})).status_code == 403
    assert (await w["adm"].get(url)).status_code == 422
    assert (await w["adm"].get(url, params={"reason": "     x"})).status_code in (403, 422)
    r = await w["adm"].get(url, params={"reason": "complaint #7 by a participant"})
    assert r.status_code == 200
    assert r.json() == {"id": note["id"], "anonymous": True, "author_id": w.users["p1"].id,
                        "author_name": "Pia"}
    rows = await audit_rows(w, "review.note_author", f"note:{note['id']}")
    assert [(a.actor_id, a.reason) for a in rows] == [
        (w.users["adm"].id, "complaint #7 by a participant")]
    assert (await w["adm"].get("/api/admin/pinboard/notes/999999999/author",
                               params={"reason": "complaint #7"})).status_code == 404
    mine = (await w["p1"].get("/api/me/data")).json()
    assert [n["anonymous"] for n in mine["notes"] if n["id"] == note["id"]] == [True]
