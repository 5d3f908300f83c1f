"""Decompression bombs against a running ``classhub serve``: refused, and the server's
memory stays put.

Issue 13, item 4: a 1.6 KB WebP of 6300x6300 pixels passed the old 40-megapixel
limit and decoded to ~770 MB; ten at once from one signed-in person took the
server to 6 GB. These run on the server's default limits (only the write and publish rates
are raised, so that sending ten at once is not refused for its rate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtest.photo_bombs import MB, Attack, attack, bomb, sign_in
from tests.browser_harness import Person, Server, seed_people, start_server, stop_server

# A safety bound, not a measurement: the old code grew by gigabytes here.
MAX_GROWTH = 300 * MB
OLD_LIMIT_BOMB = (6300, 6300)  # 39.7 MP: just under the old PHOTO_MAX_PIXELS


@pytest.fixture(scope="module")
def bomb_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, Person]]]:
    server = start_server(
        tmp_path_factory.mktemp("bombs"),
        PUBLISH_RATE="100", PUBLISH_BURST="100", WRITE_RATE="100", WRITE_BURST="200",
    )
    try:
        _, people = server.run(seed_people(server.db_url, "Bombs", {
            "mallory": "participant", "mina": "participant", "nora": "participant",
        }))
        yield server, people
    finally:
        stop_server(server)


async def _attack(
    server: Server, person: Person, images: list[bytes], kind: str, target: str
) -> Attack:
    limits = httpx.Limits(max_connections=len(images) + 4)
    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
        await sign_in(client, person.email, person.password)
        return await attack(client, server.proc.pid, images, kind, target)


@pytest.mark.parametrize("target", ["pinboard", "profile"])
async def test_ten_parallel_bombs_are_refused_and_memory_stays_bounded(
    bomb_server: tuple[Server, dict[str, Person]], target: str
) -> None:
    server, people = bomb_server
    for kind in ("webp", "png"):
        image = bomb(kind, *OLD_LIMIT_BOMB)
        assert len(image) < 200_000  # kilobytes that unpack to 40 million pixels
        result = await _attack(server, people["mallory"], [image] * 10, kind, target)
        assert result.statuses == [(422, "too_many_pixels")] * 10, (kind, result.statuses)
        assert result.growth < MAX_GROWTH, (kind, result.growth / MB)
    # Not a format we decode at all, however few its bytes.
    gif = bomb("gif", 4000, 4000)
    result = await _attack(server, people["mallory"], [gif] * 10, "gif", target)
    code = "unsupported_image" if target == "pinboard" else "not_an_image"
    assert result.statuses == [(415, code)] * 10
    assert server.proc.poll() is None, server.log_tail()


async def test_a_progressive_jpeg_gets_no_reduced_decode(
    bomb_server: tuple[Server, dict[str, Person]],
) -> None:
    # Its decoder holds every DCT coefficient of the full size, so its full size counts.
    server, people = bomb_server
    image = bomb("jpeg", 5000, 5000)
    result = await _attack(server, people["mallory"], [image] * 3, "jpeg", "pinboard")
    assert result.statuses == [(422, "too_many_pixels")] * 3
    assert result.growth < MAX_GROWTH


async def test_one_person_gets_two_decodes_at_a_time_and_others_still_get_theirs(
    bomb_server: tuple[Server, dict[str, Person]],
) -> None:
    # 4 MP WebPs within every limit: each takes a second or more to decode and re-encode,
    # so ten sent at once overlap. Two run (PHOTO_DECODES_PER_USER); the rest are told to
    # come back instead of queueing up decoded canvases.
    server, people = bomb_server
    image = bomb("webp", 2000, 2000)
    mina = asyncio.create_task(_attack(server, people["mina"], [image] * 10, "webp", "pinboard"))
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as nora:
        await sign_in(nora, people["nora"].email, people["nora"].password)
        other = await nora.put(
            "/api/me/photo", content=image, headers={"content-type": "image/webp"}
        )
    result = await mina
    ok = [s for s in result.statuses if s[0] == 200]
    busy = [s for s in result.statuses if s == (429, "busy")]
    assert 1 <= len(ok) <= 2 and len(ok) + len(busy) == 10, result.statuses
    assert result.growth < MAX_GROWTH, result.growth / MB
    assert other.status_code == 200, other.text  # someone else's waits its turn, then goes through


def test_bomb_files_are_what_they_claim(tmp_path: Path) -> None:
    from PIL import Image

    for kind in ("webp", "png", "gif"):
        path = tmp_path / f"b.{kind}"
        path.write_bytes(bomb(kind, 3000, 2000))
        with Image.open(path) as im:
            assert im.size == (3000, 2000) and im.format == kind.upper()


def _jpeg(size: tuple[int, int], **kw: object) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "JPEG", **kw)
    return out.getvalue()


def test_a_large_baseline_jpeg_is_decoded_reduced_a_progressive_one_refused() -> None:
    from storage.photos import PhotoRejected, clean_photo

    # 1,000,000 pixels against a limit of 250,000: libjpeg decodes it at 1/2.
    photo = clean_photo(_jpeg((1000, 1000)), max_bytes=10**7, max_pixels=250_000)
    assert (photo.width, photo.height) == (500, 500)
    with pytest.raises(PhotoRejected) as refused:
        clean_photo(_jpeg((1000, 1000), progressive=True), max_bytes=10**7, max_pixels=250_000)
    assert (refused.value.status, refused.value.code) == (422, "too_many_pixels")
    # Within the limit nothing is reduced.
    photo = clean_photo(_jpeg((400, 300)), max_bytes=10**7, max_pixels=250_000)
    assert (photo.width, photo.height) == (400, 300)


def test_pillows_own_bomb_ceiling_is_a_422_not_a_415_or_500() -> None:
    import struct
    import zlib

    from storage.photos import PhotoRejected, clean_photo

    # A PNG header claiming 20000 x 10000 pixels: past Pillow's DecompressionBombError.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(PhotoRejected) as refused:
        clean_photo(png, max_bytes=10**7, max_pixels=10**9)
    assert (refused.value.status, refused.value.code) == (422, "too_many_pixels")
