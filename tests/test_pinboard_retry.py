"""Creating notes and replies is idempotent per author by client id, on both backends.

The web client's outbox replays a create whose answer was lost; the retry must
get the first note back (200, same body) and store nothing new.
"""


from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.models import Note, Reply
from storage.repo import pinboard as repo
from storage.repo.pinboard import BoardTx
from tests.pinboard_world import World, world  # noqa: F401 - fixture


def _cid() -> str:
    return f"c-{uuid.uuid4()}"


async def _board_id(w: World, who: str = "p1") -> int:
    return int((await w.board(who))["board"]["id"])


async def _count(w: World, model: type[Any], client_id: str) -> int:
    async with w.services.db.session() as db:
        return int(
            (
                await db.execute(select(func.count()).where(model.client_id == client_id))
            ).scalar_one()
        )


async def test_a_retried_note_is_stored_once(world: World) -> None:
    w = world
    board_id = await _board_id(w)
    url = f"/api/pinboard/boards/{board_id}/notes"
    cid = _cid()
    body = {"text": "posted on a bad network", "release": True, "client_id": cid}
    first = await w["p1"].post(url, json=body)
    assert first.status_code == 201, first.text
    again = await w["p1"].post(url, json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await _count(w, Note, cid) == 1
    channel = (await w.board())["channel"]
    published = [e for e in await w.log(channel) if e.type == "note.published"
                 and e.body["note"]["id"] == first.json()["id"]]
    assert len(published) == 1
    # The trainer sees one note with that text.
    texts = [n["text"] for n in (await w.board("tr"))["notes"]]
    assert texts.count("posted on a bad network") == 1


async def test_a_retry_answers_with_the_note_as_it_is_now(world: World) -> None:
    w = world
    url = f"/api/pinboard/boards/{await _board_id(w)}/notes"
    cid = _cid()
    draft = (await w["p1"].post(url, json={"text": "a draft", "client_id": cid})).json()
    assert draft["state"] == "draft"
    assert (await w["p1"].post(f"/api/pinboard/notes/{draft['id']}/release")).status_code == 200
    # A late retry of the create does not make a second draft and does not undo the release.
    again = await w["p1"].post(url, json={"text": "a draft", "client_id": cid})
    assert again.status_code == 200
    assert again.json()["id"] == draft["id"] and again.json()["state"] == "published"
    assert await _count(w, Note, cid) == 1


async def test_client_ids_are_per_author_and_name_one_note(world: World) -> None:
    w = world
    url = f"/api/pinboard/boards/{await _board_id(w)}/notes"
    cid = _cid()
    a = await w["p1"].post(url, json={"text": "mine", "client_id": cid})
    b = await w["p2"].post(url, json={"text": "yours", "client_id": cid})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    # Without a client id every create is a new note, as before.
    plain = [await w["p1"].post(url, json={"text": "no id"}) for _ in range(2)]
    assert [r.status_code for r in plain] == [201, 201]
    assert plain[0].json()["id"] != plain[1].json()["id"]
    # The same id on another board is the client's bug: refused, nothing stored.
    group = (await w["p1"].get(f"/api/pinboard/groups/{w.group_id}/board")).json()
    r = await w["p1"].post(
        f"/api/pinboard/boards/{group['board']['id']}/notes", json={"text": "x", "client_id": cid}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "client_id_reused"
    assert await _count(w, Note, cid) == 2


async def test_concurrent_retries_store_one_note(world: World) -> None:
    w = world
    url = f"/api/pinboard/boards/{await _board_id(w)}/notes"
    cid = _cid()
    body = {"text": "sent twice at once", "release": True, "client_id": cid}
    answers = await asyncio.gather(*(w["p1"].post(url, json=body) for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert await _count(w, Note, cid) == 1


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite has one writer: no such race
async def test_the_loser_of_an_insert_race_gets_the_winners_note(world: World) -> None:
    """Two transactions both miss the lookup; the unique index decides (PostgreSQL's path)."""
    w = world
    db_handle = w.services.db
    me = w.users["p1"]
    board_id = await _board_id(w)
    cid = _cid()
    assert not db_handle.is_sqlite
    async with db_handle.session() as db_a:
        acc_a = await repo.board_by_id(db_a, me, board_id)
        winner, new_a = await repo.create_note(
            BoardTx(db_a, me), acc_a, text="winner", colour="yellow", section_id=None,
            release=False, client_id=cid,
        )
        assert new_a

        async def loser() -> tuple[int, bool]:
            async with db_handle.session() as db_b:
                acc_b = await repo.board_by_id(db_b, me, board_id)
                tx_b = BoardTx(db_b, me)
                # The lookup cannot see A's uncommitted row: B goes on to insert.
                assert await repo.by_client_id(db_b, Note, me.id, cid) is None
                note, new = await repo.create_note(
                    tx_b, acc_b, text="loser", colour="yellow", section_id=None,
                    release=False, client_id=cid,
                )
                return note.id, new

        task = asyncio.create_task(loser())
        await asyncio.sleep(0.3)  # B is now waiting on the unique index
        assert not task.done()
        winner_id = winner.id
    loser_id, new_b = await task
    assert (loser_id, new_b) == (winner_id, False)
    assert await _count(w, Note, cid) == 1


async def test_a_retried_reply_is_stored_once(world: World) -> None:
    w = world
    url = f"/api/pinboard/boards/{await _board_id(w)}/notes"
    note = (await w["p1"].post(url, json={"text": "question?", "release": True})).json()
    replies = f"/api/pinboard/notes/{note['id']}/replies"
    cid = _cid()
    first = await w["p2"].post(replies, json={"text": "answer", "client_id": cid})
    assert first.status_code == 201, first.text
    again = await w["p2"].post(replies, json={"text": "answer", "client_id": cid})
    assert again.status_code == 200 and again.json() == first.json()
    assert await _count(w, Reply, cid) == 1
    other = (await w["p1"].post(url, json={"text": "other", "release": True})).json()
    r = await w["p2"].post(
        f"/api/pinboard/notes/{other['id']}/replies", json={"text": "answer", "client_id": cid}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "client_id_reused"
    channel = (await w.board())["channel"]
    added = [e for e in await w.log(channel) if e.type == "reply.added"
             and e.body["reply"]["id"] == first.json()["id"]]
    assert len(added) == 1


async def test_bad_client_ids_get_422(world: World) -> None:
    w = world
    url = f"/api/pinboard/boards/{await _board_id(w)}/notes"
    for bad in ("", "x" * 65, "has space", "tab\there", "é-accent", 7):
        r = await w["p1"].post(url, json={"text": "x", "client_id": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid"
