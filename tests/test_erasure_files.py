"""After a deletion the person's words are in none of the embedded default's files.

Tables and the full-text index are checked elsewhere (tests/test_erasure.py);
here the raw bytes of the SQLite files themselves: the database, its
write-ahead log and the shared-memory index. A deleted row's bytes stay in the
WAL until a checkpoint, and in freed pages and cells unless SQLite overwrites
them (``secure_delete``). Against a running server, on a database of its own.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from storage.channels import dm_channel
from storage.migrate import upgrade_async
from storage.models import Role
from tests.hub_support import SECRET, HubClient, Stack

P = Role.PARTICIPANT


def _headers(cookie: str) -> dict[str, str]:
    from web.auth import csrf_token_for, unsign_token

    token = unsign_token(SECRET, cookie)
    assert token is not None
    return {"Cookie": f"classhub_session={cookie}", "X-CSRF-Token": csrf_token_for(SECRET, token)}


async def _publish(
    client: HubClient, channel: str, text: str, ref: int | None = None
) -> dict[str, Any]:
    cid = uuid.uuid4().hex
    await client.send(
        {"type": "publish", "id": cid, "channel": channel, "body": {"text": text}, "ref": ref}
    )
    while True:
        frame = await client.recv()
        if frame.get("id") == cid:
            assert frame["type"] == "ack", frame
            return frame


def _files_holding(path: Path, needle: bytes) -> list[str]:
    found = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        f = Path(f"{path}{suffix}")
        if f.exists() and needle in f.read_bytes():
            found.append(f.name)
    return found


async def test_immediate_deletion_leaves_no_bytes_in_sqlite_files(tmp_path: Path) -> None:
    path = tmp_path / "db" / "classhub.db"
    path.parent.mkdir()  # a database's directory must exist (a mistyped path is refused)
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    marker = "zq" + uuid.uuid4().hex  # one token: it would be in the text, the name and the index
    async with Stack(url, tmp_path / "var") as st:
        w = st.world
        _admin, admin_c = await w.user("Admin", admin=True)
        x, x_c = await w.user(f"Xena {marker}")
        y, y_c = await w.user("Yuri")
        ev = await w.event((x, P), (y, P))
        chat = f"event:{ev}:chat"
        cx = await HubClient.connect(st.port, x_c)
        cy = await HubClient.connect(st.port, y_c)
        try:
            for i in range(8):
                await _publish(cx, chat, f"{marker} message {i} " + "padding " * 40)
            asked = await _publish(cx, chat, f"{marker} a question someone answers")
            await _publish(
                cy, chat, "an answer", ref=asked["event_id"]
            )  # keeps a blanked tombstone
            await _publish(cx, dm_channel(x, y), f"{marker} a direct message")
        finally:
            await cx.close()
            await cy.close()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{st.port}", headers=_headers(x_c)
        ) as c:
            r = await c.get(f"/api/pinboard/events/{ev}/board")
            assert r.status_code == 200, r.text
            board = r.json()["board"]["id"]
            r = await c.post(
                f"/api/pinboard/boards/{board}/notes",
                json={"text": f"{marker} a note", "release": True},
            )
            assert r.status_code == 201, r.text
        assert _files_holding(path, marker.encode()), "the marker should have been written"

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{st.port}", headers=_headers(admin_c)
        ) as c:
            r = await c.post(
                f"/api/admin/users/{x}/terminate",
                json={
                    "reason": "asked to be forgotten",
                    "immediately": True,
                    "erase_content": True,
                },
            )
        assert r.status_code == 200, r.text

        # At once, while the server runs (it checkpoints at close anyway).
        assert _files_holding(path, marker.encode()) == []


def test_every_sqlite_connection_zeroes_what_it_deletes(tmp_path: Path) -> None:
    """``secure_delete`` is a compile-time default that differs between SQLite builds
    (Debian's is on, SQLite's own is off): the pragmas of every connection turn it on,
    so a deleted row's bytes leave the file's free space whatever the build."""
    import sqlite3

    from storage.db import _sqlite_pragmas, checkpoint_sqlite

    path = tmp_path / "plain.db"
    marker = "zq" + uuid.uuid4().hex
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=OFF")  # a build whose default is off
        _sqlite_pragmas(conn, None)
        assert conn.execute("PRAGMA secure_delete").fetchone() == (1,)
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany(
            "INSERT INTO t (body) VALUES (?)", [(f"keep {i} " * 30,) for i in range(50)]
        )
        conn.executemany(
            "INSERT INTO t (body) VALUES (?)", [(f"{marker} {i} " * 30,) for i in range(50)]
        )
        assert checkpoint_sqlite(str(path))
        assert marker.encode() in path.read_bytes()
        conn.execute("DELETE FROM t WHERE body LIKE ?", (f"{marker}%",))
        assert checkpoint_sqlite(str(path))
    finally:
        conn.close()
    assert _files_holding(path, marker.encode()) == []
