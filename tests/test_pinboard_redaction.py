"""Note and reply redaction is one function, used by the pinboard and by erasure.

Both blank the earlier board events that carried the text, whoever emitted
them, to the shape docs/pinboard.md names; neither fails on a board event of
another shape (a faulty feature's or an old row's): a moderator's action or an
account's erasure must not break on someone else's malformed row. Before they
were unified the pinboard's copy raised on such a row (a 500 for the trainer).
"""

from __future__ import annotations

from typing import Any

from storage.event_types import NOTE_PUBLISHED, REPLY_ADDED
from storage.repo.channel_log import NewEvent, append
from storage.repo.erasure import erase_user
from tests.pinboard_world import World, world  # noqa: F401 - fixture


async def _note(w: World, who: str, text: str) -> dict[str, Any]:
    board_id = (await w.board(who))["board"]["id"]
    r = await w[who].post(
        f"/api/pinboard/boards/{board_id}/notes", json={"text": text, "release": True}
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _odd_rows(w: World, channel: str) -> None:
    """Board events of the redacted types whose bodies name no note or reply by a map."""
    async with w.services.db.session() as db:
        await append(
            db,
            [
                NewEvent(channel, NOTE_PUBLISHED, {"note": "legacy"}),
                NewEvent(channel, NOTE_PUBLISHED, {"note": None, "text": "x"}),
                NewEvent(channel, REPLY_ADDED, {"reply": 7}),
            ],
        )


async def test_offline_and_reply_deletion_redact_and_survive_odd_rows(world: World) -> None:
    w = world
    channel = (await w.board())["channel"]
    note = await _note(w, "p1", "secret words")
    await _odd_rows(w, channel)
    r = await w["p2"].post(f"/api/pinboard/notes/{note['id']}/replies", json={"text": "my reply"})
    assert r.status_code == 201, r.text
    reply = r.json()
    r = await w["p2"].delete(f"/api/pinboard/replies/{reply['id']}")
    assert r.status_code == 200, r.text
    r = await w["tr"].post(
        f"/api/pinboard/notes/{note['id']}/offline", json={"reason": "off topic"}
    )
    assert r.status_code == 200, r.text
    log = await w.log(channel)
    published = [e.body for e in log if e.type == NOTE_PUBLISHED]
    assert {"note": {"id": note["id"]}, "redacted": True} in published
    assert {"note": "legacy"} in published and {"note": None, "text": "x"} in published
    added = [e.body for e in log if e.type == REPLY_ADDED]
    assert {"reply": {"id": reply["id"], "note_id": note["id"]}, "redacted": True} in added
    assert {"reply": 7} in added
    assert "secret words" not in repr([e.body for e in log])
    assert "my reply" not in repr([e.body for e in log])


async def test_erasure_redacts_like_the_pinboard(world: World) -> None:
    w = world
    channel = (await w.board())["channel"]
    note = await _note(w, "p1", "erase these words")
    # The trainer's re-publication carries the text under the trainer's name.
    assert (await w["tr"].post(f"/api/pinboard/notes/{note['id']}/offline",
                               json={"reason": "check"})).status_code == 200
    assert (await w["tr"].post(f"/api/pinboard/notes/{note['id']}/reinstate")).status_code == 200
    await _odd_rows(w, channel)
    async with w.services.db.session() as db:
        await erase_user(db, w.users["p1"].id, erase_content=True)
    log = await w.log(channel)
    assert "erase these words" not in repr([e.body for e in log])
    published = [e.body for e in log if e.type == NOTE_PUBLISHED]
    assert {"note": {"id": note["id"]}, "redacted": True} in published
    assert {"note": "legacy"} in published
