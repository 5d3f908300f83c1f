"""`classhub keys rotate`: re-encrypting photos under a new data key, on both backends.

Each test uses a database of its own: rotation walks every attachment, and
other tests' attachments (with files in their own temporary directories)
would otherwise be in the way.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from storage.migrate import upgrade
from storage.models import Attachment, Enrolment, Event, Role, utcnow
from storage.repo.accounts import create_session, create_user
from storage.settings import Settings
from tests.conftest import make_settings, unique_email
from tests.services import create_pg_database, drop_pg_database, pg_url, require_postgres
from web.auth import COOKIE_NAME, csrf_token_for, sign_token
from web.cli import main

OLD_KEY = "old-data-key-" + "a" * 32
NEW_KEY = "new-data-key-" + "b" * 32


@pytest.fixture
def own_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
        upgrade(url)
        yield url
        return
    require_postgres()
    name = asyncio.run(create_pg_database())
    try:
        upgrade(pg_url(name))
        yield pg_url(name)
    finally:
        asyncio.run(drop_pg_database(name))


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from web.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield app, client


async def _sign_in(app: Any, client: httpx.AsyncClient, user: Any) -> None:
    services = app.state.services
    async with services.db.session() as db:
        token = await create_session(db, user, max_secs=3600)
    client.cookies.set(COOKIE_NAME, sign_token(services.settings.secret_key, token))
    client.headers["X-CSRF-Token"] = csrf_token_for(services.settings.secret_key, token)


async def _photo_note(settings: Settings) -> tuple[Any, str, bytes]:
    """A participant's released note with a photo; returns the user, photo URL, photo bytes."""
    async with running(settings) as (app, client):
        services = app.state.services
        async with services.db.session() as db:
            user = await create_user(db, email=unique_email("k"), display_name="K")
            now = utcnow()
            ev = Event(title="E", starts_at=now, ends_at=now)
            db.add(ev)
            await db.flush()
            db.add(Enrolment(user_id=user.id, event_id=ev.id, role=Role.PARTICIPANT.value))
        await _sign_in(app, client, user)
        board = (await client.get(f"/api/pinboard/events/{ev.id}/board")).json()["board"]
        note = (await client.post(f"/api/pinboard/boards/{board['id']}/notes",
                                  json={"text": "n", "release": True})).json()
        png = io.BytesIO()
        Image.new("RGB", (30, 20), (1, 2, 3)).save(png, "PNG")
        r = await client.post(f"/api/pinboard/notes/{note['id']}/photo",
                              files={"file": ("p.png", png.getvalue(), "image/png")})
        assert r.status_code == 200, r.text
        url = r.json()["photo"]["url"]
        served = (await client.get(url)).content
        return user, url, served


async def _fetch(settings: Settings, user: Any, url: str) -> httpx.Response:
    async with running(settings) as (app, client):
        await _sign_in(app, client, user)
        return await client.get(url)


def _cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str, **env: str) -> int:
    for name in ("DATA_KEY", "DATA_KEY_PREVIOUS", "CLASSHUB_PRODUCTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLASSHUB_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(list(args))


async def test_rotate_with_previous_key_from_environment(
    own_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    var = tmp_path / "var"
    old = make_settings(own_db_url, var, DATA_KEY=OLD_KEY)
    user, url, plain = await _photo_note(old)
    before = sorted(p.name for p in (var / "attachments").iterdir())

    new_only = make_settings(own_db_url, var, DATA_KEY=NEW_KEY)
    assert (await _fetch(new_only, user, url)).status_code == 500  # not yet rotated

    code = await asyncio.to_thread(
        _cli, monkeypatch, old, "keys", "rotate", DATA_KEY=NEW_KEY, DATA_KEY_PREVIOUS=OLD_KEY
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 attachment(s) re-encrypted" in out
    after = sorted(p.name for p in (var / "attachments").iterdir())
    assert len(after) == 2 and not set(after) & set(before)  # old ciphertext removed

    # Now the new key alone opens it, and the old key alone no longer does.
    assert (await _fetch(new_only, user, url)).content == plain
    assert (await _fetch(old, user, url)).status_code == 500
    async with running(new_only) as (app, _), app.state.services.db.session() as db:
        from sqlalchemy import select

        key_ids = set((await db.execute(select(Attachment.key_id))).scalars())
    from storage.crypto import KeyRing

    assert key_ids == {KeyRing(NEW_KEY).current_id}

    # Running it again is a no-op; status reports one file under the current key.
    assert await asyncio.to_thread(_cli, monkeypatch, old, "keys", "rotate", DATA_KEY=NEW_KEY) == 0
    assert "0 attachment(s) re-encrypted, 1 already current" in capsys.readouterr().out
    assert await asyncio.to_thread(_cli, monkeypatch, old, "keys", "status", DATA_KEY=NEW_KEY) == 0
    assert "1 attachment(s), current" in capsys.readouterr().out


async def test_rotate_without_the_old_key_fails_loudly(
    own_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = make_settings(own_db_url, tmp_path / "var", DATA_KEY=OLD_KEY)
    user, url, plain = await _photo_note(old)
    code = await asyncio.to_thread(_cli, monkeypatch, old, "keys", "rotate", DATA_KEY=NEW_KEY)
    assert code == 1
    assert "no data key with id" in capsys.readouterr().err
    assert (await _fetch(old, user, url)).content == plain  # nothing was lost


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_generate_on_the_embedded_default(
    own_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    var = tmp_path / "var"
    embedded = make_settings(own_db_url, var, DATA_KEY="")  # key generated under var/
    first_key = (var / "data_key").read_text().strip()
    user, url, plain = await _photo_note(embedded)
    code = await asyncio.to_thread(_cli, monkeypatch, embedded, "keys", "rotate", "--generate")
    assert code == 0, capsys.readouterr()
    assert (var / "data_key").read_text().strip() != first_key
    assert (var / "data_key.previous").read_text().strip() == first_key
    restarted = make_settings(own_db_url, var, DATA_KEY="")
    assert (await _fetch(restarted, user, url)).content == plain
    code = await asyncio.to_thread(
        _cli, monkeypatch, embedded, "keys", "rotate", "--forget-previous"
    )
    assert code == 0 and not (var / "data_key.previous").exists()
    assert (await _fetch(make_settings(own_db_url, var, DATA_KEY=""), user, url)).content == plain
