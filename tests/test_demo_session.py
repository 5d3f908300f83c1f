"""``classhub demo`` loads a session in progress, once (issue 17, "The demo").

The demo runs twice, in-process, on a fresh database of each backend; its content is
there exactly once: chat, notes in sections with photos, a reply chain with votes, a
closed poll with its results shown, a Q&A with upvotes and a note taken offline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.attachments import AttachmentStore
from storage.db import Database
from storage.event_types import MESSAGE
from storage.migrate import upgrade
from storage.models import (
    Activity,
    ActivityAnswer,
    Attachment,
    BoardSection,
    ChannelEvent,
    Note,
    Question,
    QuestionVote,
    Reply,
    Vote,
)
from storage.repo.activity_answers import read_tally
from storage.settings import Settings
from tests.conftest import BACKENDS, make_settings
from tests.services import create_pg_database, drop_pg_database, pg_url, require_postgres
from web.commands import demo_session
from web.commands.demo import load_demo


@pytest.fixture(params=BACKENDS)
def fresh_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A database of the test's own: the demo's fixed accounts meet no other test's."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
        upgrade(url)
        yield make_settings(url, tmp_path / "var")
        return
    require_postgres()
    name = asyncio.run(create_pg_database())
    try:
        upgrade(pg_url(name))
        yield make_settings(pg_url(name), tmp_path / "var")
    finally:
        asyncio.run(drop_pg_database(name))


async def _count(db: Any, model: Any, *where: Any) -> int:
    return int((await db.execute(select(func.count()).select_from(model).where(*where))).scalar())


async def test_the_demo_room_is_a_session_in_progress_loaded_once(
    fresh_settings: Settings,
) -> None:
    _, event_id = await load_demo(fresh_settings)
    _, again = await load_demo(fresh_settings)
    assert again == event_id
    db = Database(fresh_settings.database_url, pool_size=1)
    try:
        async with db.session() as s:
            chat = (await s.execute(select(ChannelEvent).where(
                ChannelEvent.channel == f"event:{event_id}:chat", ChannelEvent.type == MESSAGE
            ))).scalars().all()
            assert len(chat) == len(demo_session.CHAT)
            assert len({e.author_id for e in chat}) >= 5  # several people talk
            assert chat[0].body == {"text": demo_session.CHAT[0][1]}

            assert await _count(s, BoardSection) == 3
            notes = (await s.execute(select(Note).order_by(Note.id))).scalars().all()
            assert len(notes) == len(demo_session.NOTES) + 1
            assert sum(n.state == "published" for n in notes) == len(demo_session.NOTES)
            offline = [n for n in notes if n.state == "offline"]
            assert len(offline) == 1 and offline[0].offline_reason == demo_session.OFFLINE_NOTE[2]

            photos = [n for n in notes if n.photo_id is not None]
            assert len(photos) == 2
            store = AttachmentStore.from_settings(fresh_settings)
            for n in photos:
                att = await s.get(Attachment, n.photo_id)
                assert att is not None
                assert store.read(att, "photo")[:8] == b"\x89PNG\r\n\x1a\n"
                assert store.read(att, "thumb")
            assert await _count(s, Attachment) == 2

            replies = (await s.execute(select(Reply).order_by(Reply.id))).scalars().all()
            assert len(replies) == len(demo_session.REPLIES)
            assert all(r.note_id == notes[0].id for r in replies)
            assert [r.parent_id for r in replies] == [None, replies[0].id, replies[1].id]
            assert await _count(s, Vote, Vote.note_id == notes[0].id) == len(
                demo_session.NOTE_VOTERS
            )

            polls = (await s.execute(select(Activity))).scalars().all()
            assert len(polls) == 1
            poll = polls[0]
            assert poll.state == "closed" and poll.results_shown
            assert await _count(s, ActivityAnswer) == len(demo_session.POLL_ANSWERS)
            tally = await read_tally(s, poll)
            assert tally.counts == [3, 6, 2, 1]

            questions = (await s.execute(select(Question).order_by(Question.id))).scalars().all()
            assert [q.text for q in questions] == [q[1] for q in demo_session.QUESTIONS]
            for q, (_, _, voters, answered) in zip(questions, demo_session.QUESTIONS,
                                                   strict=True):
                assert q.state == "visible" and q.answered is answered
                assert await _count(s, QuestionVote, QuestionVote.question_id == q.id) == len(
                    voters
                )
    finally:
        await db.close()


async def test_a_demo_participant_sees_the_room_in_progress(tmp_path: Path) -> None:
    """Through the API, as a newcomer signed in as a demo participant would."""
    import httpx

    from web.app import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(url, tmp_path / "var")
    created, event_id = await load_demo(settings)
    account, password = next((a, p) for a, p in created if a.email.startswith("participant05"))
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        r = await c.post("/api/login", json={"email": account.email, "password": password})
        assert r.status_code == 200
        board = (await c.get(f"/api/pinboard/events/{event_id}/board")).json()
        assert [s["title"] for s in board["sections"]] == ["Expectations", "Flipcharts",
                                                          "Parking lot"]
        notes = board["notes"]
        # The note taken offline is not in the room's view (its author's and trainers' only).
        assert [n["text"] for n in notes] == [n[2] for n in demo_session.NOTES]
        assert notes[0]["votes"] == len(demo_session.NOTE_VOTERS)
        assert len(notes[0]["replies"]) == len(demo_session.REPLIES)
        photos = [n["photo"] for n in notes if n["photo"]]
        assert len(photos) == 2
        for photo in photos:
            got = await c.get(photo["url"])
            assert got.status_code == 200 and got.content[:4] == b"\x89PNG"
        poll = (await c.get(f"/api/events/{event_id}/activities")).json()["activities"][0]
        assert poll["state"] == "closed" and poll["results"]["counts"] == [3, 6, 2, 1]
        assert poll["my_answer"]["choices"] == [demo_session.POLL_ANSWERS[5]]
        qa = (await c.get(f"/api/events/{event_id}/qa")).json()
        assert [q["votes"] for q in qa["questions"]] == [6, 3, 2]


async def test_a_failed_session_load_keeps_the_accounts_and_is_retried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The passwords are printed once: a session that cannot be stored (here its photo
    store is a file, not a folder) must not take them with it, nor leave half a room."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(url, tmp_path / "var")
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "attachments").write_text("in the way")
    created, event_id = await load_demo(settings)
    assert len(created) == 15
    assert "session content was not loaded" in capsys.readouterr().err
    db = Database(url, pool_size=1)
    try:
        async with db.session() as s:
            assert await _count(s, Note) == 0 and await _count(s, Activity) == 0
            assert await _count(s, ChannelEvent, ChannelEvent.type == MESSAGE) == 0
        (tmp_path / "var" / "attachments").unlink()
        assert await load_demo(settings) == ([], event_id)
        async with db.session() as s:
            assert await _count(s, Note) == len(demo_session.NOTES) + 1
            assert await _count(s, Activity) == 1
    finally:
        await db.close()
