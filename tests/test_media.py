"""Trainers' media: publishing checks at the door, encryption at rest, range requests,
who may see them (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.settings import Settings
from tests.conftest import make_settings
from tests.media_helpers import WEBM_HEAD, fake_mp4, png, publish
from tests.pinboard_world import World, audit_rows, world  # noqa: F401 - fixture

VIDEO_LIMIT = 300_000


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "var", MEDIA_VIDEO_MAX_BYTES=str(VIDEO_LIMIT))


def _files(w: World) -> list[Path]:
    root = Path(w.services.settings.var_dir) / "media"
    return sorted(root.glob("*")) if root.exists() else []


async def test_a_video_is_encrypted_and_streamed_with_ranges(world: World) -> None:
    w = world
    data = fake_mp4(200_000)  # several 64 KiB chunks
    r = await publish(w, "tr", data, "video/mp4")
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["kind"] == "video" and item["size"] == len(data)
    # At rest: nothing of the plaintext is in the file.
    (stored,) = _files(w)
    assert data[1000:1064] not in stored.read_bytes()

    url = item["url"]
    whole = await w["p1"].get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    # A range across a chunk boundary, an open range and a suffix.
    for header, lo, hi in [("bytes=65000-70000", 65000, 70000),
                           ("bytes=199990-", 199990, len(data) - 1),
                           ("bytes=-10", len(data) - 10, len(data) - 1),
                           ("bytes=0-0", 0, 0),
                           ("bytes=150000-999999", 150000, len(data) - 1)]:
        part = await w["p2"].get(url, headers={"Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.content == data[lo:hi + 1], header
        assert part.headers["content-range"] == f"bytes {lo}-{hi}/{len(data)}"
        assert int(part.headers["content-length"]) == hi - lo + 1
    for bad in ["bytes=200000-", "bytes=5-2", "bytes=abc", "bytes=-0"]:
        refused = await w["p1"].get(url, headers={"Range": bad})
        assert refused.status_code == 416, bad
        assert refused.headers["content-range"] == f"bytes */{len(data)}"
    head = await w["p1"].head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    # A stale If-Range gets the whole (current) file.
    stale = await w["p1"].get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == data


async def test_only_members_see_media_and_an_admins_look_is_audited(world: World) -> None:
    w = world
    item = (await publish(w, "tr", png(), "image/png")).json()
    assert (await w["out"].get(item["url"])).status_code == 404
    assert (await w["out"].get(f"/api/events/{w.event_id}/media")).status_code == 403
    listed = (await w["p1"].get(f"/api/events/{w.event_id}/media")).json()
    assert [i["id"] for i in listed["items"]] == [item["id"]]
    assert "tags" not in listed["items"][0] and "due" not in listed
    assert (await w["adm"].get(item["url"])).status_code == 200
    assert await audit_rows(w, "media.read", f"media:{item['id']}")


async def test_uploads_are_refused_at_the_door(world: World) -> None:
    w = world
    # Participants do not publish.
    assert (await publish(w, "p1", png(), "image/png")).status_code == 403
    # The content must be what the Content-Type says.
    r = await publish(w, "tr", png(), "video/mp4")
    assert r.status_code == 415 and "looks like image/png" in r.json()["error"]["message"]
    r = await publish(w, "tr", b"<html>" + b"x" * 5000, "image/jpeg")
    assert r.status_code == 415
    assert (await publish(w, "tr", png(), "text/html")).status_code == 415
    assert (await publish(w, "tr", b"", "video/webm")).status_code == 422
    # Too large: refused while it streams in, and nothing is left behind.
    r = await publish(w, "tr", fake_mp4(VIDEO_LIMIT + 1), "video/mp4")
    assert r.status_code == 413
    assert _files(w) == []
    listed = (await w["tr"].get(f"/api/events/{w.event_id}/media")).json()
    assert listed["items"] == []
    # A WebM is recognised by its EBML header and doctype.
    ok = await publish(w, "tr", WEBM_HEAD + b"\x00" * 5000, "video/webm")
    assert ok.status_code == 201, ok.text


async def test_a_poster_and_a_withdrawal(world: World) -> None:
    w = world
    item = (await publish(w, "tr", fake_mp4(10_000), "video/mp4")).json()
    r = await w["tr"].put(f"/api/media/{item['id']}/poster", content=png(),
                          headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    poster = await w["p1"].get(r.json()["poster_url"])
    assert poster.status_code == 200 and poster.content.startswith(b"\x89PNG")
    r = await w["tr"].post(f"/api/media/{item['id']}/withdraw", json={"reason": "blurry"})
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    assert (await w["p1"].get(item["url"])).status_code == 410
    assert _files(w) == []
    assert await audit_rows(w, "media.withdraw", f"media:{item['id']}")


async def test_key_rotation_re_encrypts_media_chunk_by_chunk(world: World) -> None:
    from storage.crypto import KeyRing
    from storage.media_files import MediaStore
    from storage.media_rotation import rotate_media
    from storage.models import MediaItem

    w = world
    settings = w.services.settings
    data = fake_mp4(150_000)
    item = (await publish(w, "tr", data, "video/mp4")).json()
    r = await w["tr"].put(f"/api/media/{item['id']}/poster", content=png(),
                          headers={"Content-Type": "image/png"})
    assert r.status_code == 200
    before = {p.name for p in _files(w)}
    root = Path(settings.var_dir) / "media"
    new_store = MediaStore(root, KeyRing("rotated-key-" + "z" * 32, [settings.data_key]))
    report = await rotate_media(w.services.db, new_store)
    assert item["id"] not in report.failed  # (other tests' media have no files here)
    async with w.services.db.session() as db:
        row = await db.get(MediaItem, item["id"])
    assert row is not None
    assert row.key_id == new_store.keys.current_id == row.poster_key_id
    after = {p.name for p in _files(w)}
    assert after and not (after & before)  # new files, the old ones removed
    from storage.repo.media import sealed_file

    assert new_store.read_all(row.id, "file", sealed_file(row)) == data
    # Served under the new key once the server has it.
    w.services.extras["media.store"] = new_store
    assert (await w["p1"].get(f"/api/media/{row.id}/file",
                              headers={"Range": "bytes=70000-70009"})).content == data[70000:70010]
