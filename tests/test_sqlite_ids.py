"""SQLite migrations keep every row, and SQLite never hands out an id twice.

Migration 0007 rebuilt `notes` and `note_replies` with foreign keys enforced:
DROP TABLE deleted every note first and ON DELETE CASCADE took every vote and
reply with it. Migrations now run with foreign keys off (storage/migrations/env.py).
Migration 0008 makes every id-keyed table AUTOINCREMENT, so the id (and URL) of a
deleted newest row is never given to the next one.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from PIL import Image
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateTable

from storage.migrate import alembic_config
from storage.models import Base
from tests.pinboard_world import World, world  # noqa: F401 - fixture

BEFORE_0007 = "0006_mail"


def _fill(c: sqlite3.Connection, table: str, **given: Any) -> int:
    """Insert a row into ``table``: ``given`` columns, a plain value for the other required ones."""
    names, values = [], []
    for _cid, name, type_, notnull, default, pk in c.execute(f'PRAGMA table_info("{table}")'):
        if name in given:
            value = given[name]
        elif pk or not notnull or default is not None:
            continue
        else:
            t = type_.upper()
            value = (
                1 if t.startswith(("INT", "BIGINT"))
                else 0 if t.startswith("BOOL")
                else "{}" if t == "JSON"
                else b"\0" * 12 if t.startswith(("VARBINARY", "BLOB"))
                else "2026-01-01 00:00:00.000000" if t.startswith("DATETIME")
                else "x"
            )
        names.append(name)
        values.append(value)
    # table and column names come from the migrated schema's PRAGMA; values are bound
    cur = c.execute(
        f'INSERT INTO "{table}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})',  # noqa: S608
        values,
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _counts(c: sqlite3.Connection) -> dict[str, int]:
    tables = [
        r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'message_fts%' AND name != 'alembic_version'"
        )
    ]
    # table names come from sqlite_master of the test's own database
    return {t: c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608


def _world_at_0006(path: Path) -> dict[str, int]:
    """A database at 0006 with a row in every table that has children."""
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), BEFORE_0007)
    c = sqlite3.connect(path)
    ids: dict[str, int] = {}
    ids["user"] = u = _fill(c, "users", email="a@example.org", display_name="Ada")
    ids["other"] = o = _fill(c, "users", email="b@example.org", display_name="Bo")
    _fill(c, "auth_sessions", token_hash="t" * 64, user_id=u)
    ids["event"] = ev = _fill(c, "events", title="Kickoff")
    _fill(c, "enrolments", user_id=u, event_id=ev, role="participant")
    ids["group"] = g = _fill(c, "learning_groups", event_id=ev, name="g1")
    _fill(c, "group_members", group_id=g, user_id=u)
    _fill(c, "activity_log", user_id=u)
    _fill(c, "audit_log", actor_id=u)
    _fill(c, "channels", name=f"event:{ev}:chat", last_seq=1)
    ids["message"] = _fill(
        c, "channel_events", channel=f"event:{ev}:chat", seq=1, type="message", author_id=u,
        body=json.dumps({"text": "zebracrossing before"}),
    )
    ids["board"] = b = _fill(c, "boards", event_id=ev, group_id=None, channel=f"event:{ev}:board")
    ids["section"] = s = _fill(c, "board_sections", board_id=b, created_by=u)
    ids["photo"] = a = _fill(c, "attachments", board_id=b, owner_id=u)
    ids["note"] = n = _fill(
        c,
        "notes",
        board_id=b,
        section_id=s,
        author_id=u,
        photo_id=a,
        pinned_by=None,
        offline_by=None,
    )
    _fill(c, "note_revisions", note_id=n, version=1, editor_id=u, photo_id=a)
    _fill(c, "note_votes", note_id=n, user_id=o)
    _fill(c, "note_replies", note_id=n, parent_id=None, author_id=o)
    ids["change"] = ch = _fill(c, "event_changes", event_id=ev, actor_id=u)
    _fill(c, "event_change_seen", change_id=ch, user_id=o, via="live")
    ids["campaign"] = cp = _fill(c, "mail_campaigns", sender_id=u)
    _fill(c, "mail_deliveries", campaign_id=cp, user_id=o)
    _fill(c, "profile_photos", user_id=u)
    c.commit()
    c.close()
    return ids


def test_upgrade_keeps_every_row_and_the_schema_works(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    ids = _world_at_0006(path)
    c = sqlite3.connect(path)
    before = _counts(c)
    c.close()
    assert all(
        before[t] >= 1 for t in ("note_votes", "note_replies", "note_revisions", "auth_sessions")
    )

    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "heads")

    c = sqlite3.connect(path)
    c.execute("PRAGMA foreign_keys=ON")
    after = _counts(c)
    assert {t: after[t] for t in before} == before  # 0007 used to empty note_votes and note_replies
    assert all(after[t] == 0 for t in set(after) - set(before))  # later migrations' new tables
    assert c.execute("PRAGMA foreign_key_check").fetchall() == []
    # Search: the old message is still indexed, a new one is indexed by the recreated trigger.
    assert c.execute(
        "SELECT rowid FROM message_fts WHERE message_fts MATCH 'zebracrossing'"
    ).fetchall() == [(ids["message"],)]
    new_msg = _fill(
        c, "channel_events", channel=f"event:{ids['event']}:chat", seq=2, type="message",
        author_id=ids["user"], body=json.dumps({"text": "giraffeneck after"}),
    )
    assert c.execute(
        "SELECT rowid FROM message_fts WHERE message_fts MATCH 'giraffeneck'"
    ).fetchall() == [(new_msg,)]
    # The audit log is still append-only.
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        c.execute("UPDATE audit_log SET reason = 'rewritten'")
    # Cascades work again once the app turns foreign keys on.
    c.execute("DELETE FROM notes WHERE id = ?", (ids["note"],))
    assert c.execute("SELECT count(*) FROM note_votes").fetchone()[0] == 0
    # The newest note is gone: the next one does not get its id.
    again = _fill(c, "notes", board_id=ids["board"], author_id=ids["user"], section_id=None,
                  photo_id=None, pinned_by=None, offline_by=None)
    assert again > ids["note"]
    c.commit()
    c.close()


def test_every_id_keyed_table_is_autoincrement_in_models_and_migrations(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "heads")
    c = sqlite3.connect(path)
    stored = dict(c.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    c.close()
    keyed = [
        t for t in Base.metadata.sorted_tables
        if [col.name for col in t.primary_key.columns] == ["id"]
    ]
    assert len(keyed) >= 17
    for table in keyed:
        assert "AUTOINCREMENT" in str(
            CreateTable(table).compile(dialect=sqlite_dialect.dialect())
        ), table.name
        assert "AUTOINCREMENT" in stored[table.name], table.name


async def test_a_deleted_photo_id_is_not_given_to_the_next_upload(world: World) -> None:
    """The case that mattered: a trainer deletes the newest note and its photo; the next
    upload must not get the deleted photo's id, whose URL browsers cache for an hour."""
    w = world
    board_id = (await w.board("p1"))["board"]["id"]
    shown = []
    for who in ("p1", "p2"):
        r = await w[who].post(f"/api/pinboard/boards/{board_id}/notes", json={"text": "mine"})
        assert r.status_code == 201, r.text
        note = r.json()
        r = await w[who].post(
            f"/api/pinboard/notes/{note['id']}/photo",
            files={"file": ("a.png", _png(), "image/png")},
        )
        assert r.status_code in (200, 201), r.text
        shown.append((note["id"], r.json()["photo"]))
        if who == "p1":
            assert (
                await w["p1"].post(f"/api/pinboard/notes/{note['id']}/release")
            ).status_code == 200
            assert (await w["tr"].delete(f"/api/pinboard/notes/{note['id']}")).status_code == 200
            assert (await w["tr"].get(r.json()["photo"]["url"])).status_code == 404
    (first_note, first), (second_note, second) = shown
    assert second_note > first_note
    assert second["id"] > first["id"]
    assert second["url"] != first["url"] and second["thumb_url"] != first["thumb_url"]


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()
