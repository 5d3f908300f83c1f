"""Retention and the maintenance pass: exactly what is due goes, the rest stays, all audited."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from storage.channels import dm_channel
from storage.maintenance import run_maintenance
from storage.models import (
    ActivityEntry,
    AuditEntry,
    ChannelEvent,
    Event,
    Note,
    Question,
    Role,
    User,
    utcnow,
)
from tests.conftest import login, make_user
from tests.privacy_helpers import make_event, post
from tests.test_my_data import _board, _note, _png


async def _ids(services: Any, ids: list[int]) -> set[int]:
    async with services.db.session() as db:
        return set(
            (await db.execute(select(ChannelEvent.id).where(ChannelEvent.id.in_(ids)))).scalars()
        )


async def _end_event(services: Any, event_id: int, days_ago: int) -> None:
    async with services.db.session() as db:
        end = utcnow() - dt.timedelta(days=days_ago)
        await db.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(starts_at=end - dt.timedelta(hours=2), ends_at=end)
        )


async def test_retention_deletes_exactly_what_it_should(
    client: httpx.AsyncClient, services: Any, settings: Any
) -> None:
    p = await make_user(services)
    q = await make_user(services)
    a, ga = await make_event(
        services, (p, Role.PARTICIPANT), (q, Role.PARTICIPANT), group_members=(p,),
        chat_retention_days=30, notes_retention_days=60, photos_retention_days=10,
    )
    b, _ = await make_event(services, (p, Role.PARTICIPANT), chat_retention_days=30)
    c, _ = await make_event(services, (p, Role.PARTICIPANT))  # defaults: 365 days for all
    await login(client, p.email)
    board_a = await _board(client, a.id)
    note_a = await _note(client, board_a, "note in A")
    r = await client.post(
        f"/api/pinboard/notes/{note_a}/photo", files={"file": ("p.png", _png(), "image/png")}
    )
    photo_a = r.json()["photo"]["id"]
    # Photo and thumbnail: <id>-<variant>-<nonce hex> (storage/attachments.py).
    photo_files = list((Path(settings.var_dir) / "attachments").glob(f"{photo_a}-*"))
    assert len(photo_files) == 2
    board_c = await _board(client, c.id)
    note_c = await _note(client, board_c, "note in C")
    questions = {}
    for ev in (a, c):  # Q&A questions go with the notes (docs/qa.md)
        qa_id = (await client.get(f"/api/events/{ev.id}/qa")).json()["qa"]["id"]
        r = await client.post(f"/api/qa/{qa_id}/questions", json={"text": f"asked in {ev.id}"})
        assert r.status_code == 201, r.text
        questions[ev.id] = r.json()["id"]
    m = {
        "a_chat": await post(services, f"event:{a.id}:chat", p, "a chat"),
        "a_news": await post(services, f"event:{a.id}:news", None, "a news"),
        "a_group": await post(services, f"group:{ga.id}", p, "a group"),
        "a_board": await post(services, f"event:{a.id}:board", p, "a board"),
        "b_chat": await post(services, f"event:{b.id}:chat", p, "b chat"),
        "c_chat": await post(services, f"event:{c.id}:chat", p, "c chat"),
        "c_board": await post(services, f"event:{c.id}:board", p, "c board"),
        "dm_old": await post(
            services, dm_channel(p.id, q.id), p, "old dm", at=utcnow() - dt.timedelta(days=40)
        ),
        "dm_new": await post(services, dm_channel(p.id, q.id), p, "new dm"),
    }
    # Their announcements to the recipient (realtime.hub), as old as each message.
    for k, at in (("dm_old", utcnow() - dt.timedelta(days=40)), ("dm_new", None)):
        m[f"{k}_notice"] = await post(
            services, f"user:{q.id}", None, type="dm.received", ref_id=m[k].id,
            body={"channel": dm_channel(p.id, q.id), "from": p.id}, at=at,
        )
    await _end_event(services, a.id, 40)
    await _end_event(services, b.id, 5)
    await _end_event(services, c.id, 400)
    due = await make_user(services)
    later = await make_user(services)
    async with services.db.session() as db:
        old = ActivityEntry(user_id=p.id, action="old", at=utcnow() - dt.timedelta(days=200))
        recent = ActivityEntry(user_id=p.id, action="recent", at=utcnow() - dt.timedelta(days=10))
        db.add_all([old, recent])
        for user, days in ((due, -1), (later, 20)):
            row = await db.get(User, user.id)
            assert row is not None
            row.status, row.delete_after = "terminating", utcnow() + dt.timedelta(days=days)
    before_audit = utcnow()

    summary = await run_maintenance(services.db, settings)

    left = await _ids(services, [e.id for e in m.values()])
    gone = {k for k, e in m.items() if e.id not in left}
    assert gone == {"a_chat", "a_news", "a_group", "c_chat", "c_board"}
    async with services.db.session() as db:
        notes = set(
            (await db.execute(select(Note.id).where(Note.id.in_([note_a, note_c])))).scalars()
        )
        note_a_row = await db.get(Note, note_a)
        asked = set(
            (await db.execute(select(Question.id).where(Question.id.in_(questions.values()))))
            .scalars()
        )
        acts = set(
            (
                await db.execute(
                    select(ActivityEntry.action).where(ActivityEntry.id.in_([old.id, recent.id]))
                )
            ).scalars()
        )
        statuses = {u.id: (await db.get(User, u.id)).status for u in (due, later)}
        rows = (
            (
                await db.execute(
                    select(AuditEntry).where(
                        AuditEntry.at >= before_audit, AuditEntry.actor_id.is_(None)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert notes == {note_a}  # A's notes are kept for 60 days, C's are gone
    assert asked == {questions[a.id]}  # and so are the questions
    assert note_a_row is not None and note_a_row.photo_id is None  # A's photos only 10 days
    assert not any(f.exists() for f in photo_files)
    assert acts == {"recent"}
    assert statuses == {due.id: "deleted", later.id: "terminating"}
    assert {a.id, c.id} <= set(summary["events"]) and b.id not in summary["events"]
    assert due.id in summary["users_deleted"] and later.id not in summary["users_deleted"]
    retention_rows = [r for r in rows if r.action == "maintenance.retention"]
    assert retention_rows and {a.id, c.id} <= set(retention_rows[0].detail["events"])
    assert [r.target for r in rows if r.action == "user.delete"].count(f"user:{due.id}") == 1

    # Direct messages go only when DM_RETENTION_DAYS is set; then only the old ones.
    short = dataclasses.replace(settings, dm_retention_days=30)
    again = await run_maintenance(services.db, short)
    keys = ["dm_old", "dm_new", "dm_old_notice", "dm_new_notice", "a_board", "b_chat"]
    left = await _ids(services, [m[k].id for k in keys])
    assert left == {m[k].id for k in ("dm_new", "dm_new_notice", "a_board", "b_chat")}
    assert a.id not in again["events"] and c.id not in again["events"]  # nothing more was due


def test_maintenance_command_runs_once_and_reports(_sqlite_url: str, tmp_path: Path) -> None:
    # The command itself is backend-neutral (run_maintenance is tested on both above).
    env = {
        **os.environ,
        "DATABASE_URL": _sqlite_url,
        "CLASSHUB_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "s" * 40,
        "DATA_KEY": "d" * 40,
    }
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(  # noqa: PLW1510 - the test reads the exit code
        [sys.executable, "-m", "web.cli", "maintenance"],
        cwd=root, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"chat_events", "notes", "photos", "activity", "users_deleted"} <= set(summary)
    bad = subprocess.run(  # noqa: PLW1510 - the test reads the exit code
        [sys.executable, "-m", "web.cli", "maintenance", "--every", "-5"],
        cwd=root, env=env, capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "--every" in bad.stderr
