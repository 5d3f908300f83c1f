"""Request bodies are refused while they stream in, not after they are in memory or on disk.

Each upload here is chunked (no Content-Length, as any client may send it), and the
test counts how much of it the server pulled: a limit checked only after reading
would pull all of it. Also the profile photo's decoder limits (format and pixels).
"""


from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from storage.models import Enrolment, Event, Role, utcnow
from storage.settings import Settings
from tests.conftest import login, make_settings, make_user
from tests.pinboard_world import World, world  # noqa: F401 - fixture
from web.api import MAX_JSON_BYTES
from web.routes.events import MAX_CSV_BYTES
from web.routes.my_data import MAX_PHOTO_BYTES

CHUNK = 64 * 1024
PHOTO_LIMIT = 300_000


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        db_url, tmp_path / "var", PHOTO_MAX_PIXELS="250000", PHOTO_MAX_BYTES=str(PHOTO_LIMIT)
    )


class Body:
    """A chunked request body of ``total`` bytes that counts how much was read of it."""

    def __init__(self, total: int, head: bytes = b"", tail: bytes = b"") -> None:
        self.total, self.head, self.tail = total, head, tail
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        self.sent += len(self.head)
        while self.sent < self.total:
            chunk = b"a" * min(CHUNK, self.total - self.sent)
            self.sent += len(chunk)
            yield chunk
        yield self.tail


def multipart(total: int, filename: str, ctype: str) -> tuple[Body, dict[str, str]]:
    boundary = "classhubtestboundary"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {ctype}\r\n\r\n"
    ).encode()
    body = Body(total, head, f"\r\n--{boundary}--\r\n".encode())
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def assert_refused_early(r: httpx.Response, body: Body, limit: int) -> None:
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    # At most the limit, its multipart allowance and the chunk that crossed it.
    assert body.sent <= limit + 2 * CHUNK + 64 * 1024, (body.sent, limit)


async def test_an_oversize_json_body_is_refused_while_it_streams(
    client: httpx.AsyncClient,
) -> None:
    body = Body(20 * MAX_JSON_BYTES, head=b'{"email": "a@b.example", "password": "')
    r = await client.post(
        "/api/login", content=body, headers={"content-type": "application/json"}
    )
    assert_refused_early(r, body, MAX_JSON_BYTES)
    # A declared length over the limit is refused before a byte is read.
    declared = Body(2 * MAX_JSON_BYTES)
    r = await client.post(
        "/api/login",
        content=declared,
        headers={"content-type": "application/json", "content-length": str(2 * MAX_JSON_BYTES)},
    )
    assert r.status_code == 413 and declared.sent <= CHUNK


async def test_an_oversize_profile_photo_is_refused_while_it_streams(
    client: httpx.AsyncClient, services: Any
) -> None:
    me = await make_user(services)
    await login(client, me.email)
    body = Body(10 * MAX_PHOTO_BYTES, head=b"\xff\xd8\xff")
    r = await client.put("/api/me/photo", content=body, headers={"content-type": "image/jpeg"})
    assert_refused_early(r, body, MAX_PHOTO_BYTES)
    assert (await client.get(f"/api/users/{me.id}/photo")).status_code == 404


def _png(size: tuple[int, int], mode: str = "1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG")
    return out.getvalue()


async def test_profile_photo_decoding_is_bounded(
    client: httpx.AsyncClient, services: Any
) -> None:
    me = await make_user(services)
    await login(client, me.email)
    # A 1-bit PNG of 4,000,000 pixels is a few kilobytes; decoded to RGB, 12 MB. The
    # pixel limit (250,000 here) is checked from the header, before decoding.
    bomb = _png((2000, 2000))
    assert len(bomb) < 10_000
    r = await client.put("/api/me/photo", content=bomb, headers={"content-type": "image/png"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "too_many_pixels")
    # Only PNG, JPEG and WebP reach a decoder, whatever else Pillow could open.
    gif = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(gif, "GIF")
    r = await client.put(
        "/api/me/photo", content=gif.getvalue(), headers={"content-type": "image/gif"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (415, "not_an_image")
    assert (await client.get(f"/api/users/{me.id}/photo")).status_code == 404
    # Within the limits it still works.
    r = await client.put(
        "/api/me/photo", content=_png((400, 300), "RGB"), headers={"content-type": "image/png"}
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"/api/users/{me.id}/photo")).status_code == 200


async def test_an_oversize_pinboard_photo_is_refused_while_it_streams(world: World) -> None:
    w = world
    board_id = (await w.board("p1"))["board"]["id"]
    note = (await w["p1"].post(f"/api/pinboard/boards/{board_id}/notes", json={"text": "x"})).json()
    body, headers = multipart(20 * PHOTO_LIMIT, "big.png", "image/png")
    r = await w["p1"].post(f"/api/pinboard/notes/{note['id']}/photo", content=body, headers=headers)
    assert_refused_early(r, body, PHOTO_LIMIT)
    assert not (w.services.settings.var_dir / "attachments").exists() or not any(
        (w.services.settings.var_dir / "attachments").iterdir()
    )
    # The note is untouched.
    assert (await w["p1"].get(f"/api/pinboard/notes/{note['id']}")).json()["photo"] is None


async def test_an_oversize_enrolment_csv_is_refused_while_it_streams(
    client: httpx.AsyncClient, services: Any
) -> None:
    admin = await make_user(services, admin=True)
    async with services.db.session() as db:
        now = utcnow()
        event = Event(title="Course", starts_at=now, ends_at=now + dt.timedelta(hours=2))
        db.add(event)
        await db.flush()
        db.add(Enrolment(user_id=admin.id, event_id=event.id, role=Role.ORGANISER.value))
        event_id = event.id
    await login(client, admin.email)
    body, headers = multipart(20 * MAX_CSV_BYTES, "people.csv", "text/csv")
    r = await client.post(f"/api/events/{event_id}/enrolments/csv", content=body, headers=headers)
    assert_refused_early(r, body, MAX_CSV_BYTES)
    members = (await client.get(f"/api/events/{event_id}/members")).json()["members"]
    assert [m["user_id"] for m in members] == [admin.id]
