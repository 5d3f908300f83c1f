"""Pinboard photos: content checks, metadata stripping, encryption at rest, who may see them."""


from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from storage.settings import Settings
from tests.conftest import make_settings
from tests.pinboard_world import World, world  # noqa: F401 - fixture

SECRET = b"SECRET-GPS-48.8584N-2.2945E"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # Small limits so the refusals are cheap to provoke.
    return make_settings(
        db_url, tmp_path / "var", PHOTO_MAX_PIXELS="250000", PHOTO_MAX_BYTES="300000"
    )


def jpeg_with_exif(size: tuple[int, int] = (200, 120)) -> bytes:
    im = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010E] = SECRET.decode()  # ImageDescription
    exif[0x0112] = 6  # Orientation: rotate 90 degrees on display
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET.decode())
    out = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 128, 255, 200)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 255, 0)).save(out, "WEBP")
    return out.getvalue()


async def _draft(w: World, who: str, text: str = "with photo") -> dict[str, Any]:
    board_id = (await w.board(who))["board"]["id"]
    r = await w[who].post(f"/api/pinboard/boards/{board_id}/notes", json={"text": text})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _upload(w: World, who: str, note_id: int, data: bytes, name: str = "x.jpg",
                  ctype: str = "image/jpeg") -> Any:
    return await w[who].post(f"/api/pinboard/notes/{note_id}/photo",
                             files={"file": (name, data, ctype)})


def _files(w: World) -> list[Path]:
    return sorted((w.services.settings.var_dir / "attachments").glob("*"))


async def test_photo_is_cleaned_encrypted_and_served_to_those_who_may_see_it(world: World) -> None:
    w = world
    note = await _draft(w, "p1")
    r = await _upload(w, "p1", note["id"], jpeg_with_exif())
    assert r.status_code == 200, r.text
    photo = r.json()["photo"]
    # Orientation 6 was applied before the EXIF block was dropped: 200x120 stands up.
    assert (photo["width"], photo["height"]) == (120, 200)
    url = photo["url"]

    served = await w["p1"].get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert SECRET not in served.content
    assert not Image.open(io.BytesIO(served.content)).getexif()
    thumb = await w["p1"].get(photo["thumb_url"])
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) <= 320

    # On disk: ciphertext only; nothing of the image or its plaintext appears.
    files = _files(w)
    assert len(files) == 2
    for f in files:
        raw = f.read_bytes()
        assert SECRET not in raw and served.content[:32] not in raw
        assert not raw.startswith(b"\xff\xd8") and b"JFIF" not in raw

    # A draft's photo: the author only. Others on the board get 403, outsiders 404.
    assert (await w["p2"].get(url)).status_code == 403
    assert (await w["tr"].get(url)).status_code == 403
    assert (await w["out"].get(url)).status_code == 404
    assert (await w["out"].get(photo["thumb_url"])).status_code == 404
    await w["p1"].post(f"/api/pinboard/notes/{note['id']}/release")
    assert (await w["p2"].get(url)).content == served.content
    assert (await w["out"].get(url)).status_code == 404
    # Offline: gone for the other participant again, still there for the trainer.
    await w["tr"].post(f"/api/pinboard/notes/{note['id']}/offline", json={"reason": "no photos"})
    assert (await w["p2"].get(url)).status_code == 403
    assert (await w["tr"].get(url)).status_code == 200


async def test_tampered_or_swapped_file_is_refused(world: World) -> None:
    w = world
    a = await _draft(w, "p1", "a")
    b = await _draft(w, "p1", "b")
    pa = (await _upload(w, "p1", a["id"], png_with_text(), "a.png", "image/png")).json()["photo"]
    pb = (await _upload(w, "p1", b["id"], webp(), "b.webp", "image/webp")).json()["photo"]
    ok = await w["p1"].get(pa["url"])
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    assert SECRET not in ok.content
    assert (await w["p1"].get(pb["url"])).headers["content-type"] == "image/webp"

    file_a = next(f for f in _files(w) if f.name.startswith(f"{pa['id']}-photo-"))
    file_b = next(f for f in _files(w) if f.name.startswith(f"{pb['id']}-photo-"))
    original = file_a.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    file_a.write_bytes(bytes(flipped))
    r = await w["p1"].get(pa["url"])
    assert r.status_code == 500 and r.json()["error"]["code"] == "attachment_integrity"
    # Another attachment's ciphertext under this name fails too (the id is the AAD).
    file_a.write_bytes(file_b.read_bytes())
    assert (await w["p1"].get(pa["url"])).status_code == 500
    file_a.write_bytes(original)
    assert (await w["p1"].get(pa["url"])).status_code == 200


@pytest.mark.parametrize(
    "data,ctype,status,code",
    [
        (b"GIF89a" + b"\x00" * 64, "image/gif", 415, "unsupported_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", 415, "unsupported_image"),
        (b"", "image/png", 422, "empty_file"),
        (png_with_text()[:60], "image/png", 422, "broken_image"),
    ],
)
async def test_bad_files_are_refused_saying_why(
    world: World, data: bytes, ctype: str, status: int, code: str
) -> None:
    note = await _draft(world, "p1")
    r = await _upload(world, "p1", note["id"], data, "photo.png", ctype)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert _files(world) == []


async def test_size_and_pixel_limits(world: World) -> None:
    w = world
    note = await _draft(w, "p1")
    big = io.BytesIO()
    Image.new("RGB", (600, 600)).save(big, "PNG")  # 360,000 pixels > 250,000
    r = await _upload(w, "p1", note["id"], big.getvalue(), "big.png", "image/png")
    assert (r.status_code, r.json()["error"]["code"]) == (422, "too_many_pixels")
    r = await _upload(w, "p1", note["id"], b"\x89PNG" + b"\x00" * 400_000, "huge.png", "image/png")
    assert r.status_code == 413
    r = await w["p1"].post(f"/api/pinboard/notes/{note['id']}/photo", json={"file": "x"})
    assert r.status_code == 415
    # Only the author changes a note's photo.
    await w["p1"].post(f"/api/pinboard/notes/{note['id']}/release")
    assert (await _upload(w, "p2", note["id"], webp(), "x.webp", "image/webp")).status_code == 403


async def test_a_drafts_replaced_photo_is_removed(world: World) -> None:
    w = world
    note = await _draft(w, "p1")
    first = (await _upload(w, "p1", note["id"], webp(), "1.webp", "image/webp")).json()["photo"]
    second = (await _upload(w, "p1", note["id"], webp(), "2.webp", "image/webp")).json()["photo"]
    assert (await w["p1"].get(first["url"])).status_code == 404
    assert (await w["p1"].get(second["url"])).status_code == 200
    assert {f.name.split("-")[0] for f in _files(w)} == {str(second["id"])}
    assert (await w["p1"].delete(f"/api/pinboard/notes/{note['id']}/photo")).json()["photo"] is None
    assert _files(w) == []


async def test_replaced_photo_stays_in_history_and_deletion_removes_files(world: World) -> None:
    w = world
    note = await _draft(w, "p1")
    await w["p1"].post(f"/api/pinboard/notes/{note['id']}/release")
    first = (await _upload(w, "p1", note["id"], webp(), "1.webp", "image/webp")).json()["photo"]
    second = (await _upload(w, "p1", note["id"], jpeg_with_exif(), "2.jpg")).json()["photo"]
    assert first["id"] != second["id"]
    history = (await w["tr"].get(f"/api/pinboard/notes/{note['id']}/history")).json()
    assert [r["photo_id"] for r in history["revisions"]] == [None, first["id"]]
    assert (await w["tr"].get(first["url"])).status_code == 200  # trainers see history
    assert (await w["p2"].get(first["url"])).status_code == 403
    assert (await w["p2"].get(second["url"])).status_code == 200

    zipped = await w["tr"].get(f"/api/pinboard/boards/{note['board_id']}/photos.zip")
    assert zipped.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert names == [f"note-{note['id']}-photo-{second['id']}.jpg"]
    assert (
        await w["p1"].get(f"/api/pinboard/boards/{note['board_id']}/photos.zip")
    ).status_code == 403

    assert len(_files(w)) == 4
    assert (await w["p1"].delete(f"/api/pinboard/notes/{note['id']}")).status_code == 200
    assert _files(w) == []
    assert (await w["tr"].get(second["url"])).status_code == 404
