"""Small media files and uploads for the media and consent tests."""

from __future__ import annotations

import io
import os
from typing import Any

from PIL import Image

from tests.pinboard_world import World

# An MP4's first box says "ftyp"; the rest of a real file is opaque to the server.
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
WEBM_HEAD = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04webm"


def fake_mp4(size: int) -> bytes:
    """An MP4 header followed by ``size`` bytes in all of random content."""
    return MP4_HEAD + os.urandom(size - len(MP4_HEAD))


def png(size: tuple[int, int] = (120, 80), colour: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    im = Image.new("RGB", size, colour)
    # A sharp pattern, so blurring it changes the pixels measurably.
    for x in range(0, size[0], 4):
        for y in range(size[1]):
            im.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


async def publish(w: World, who: str, data: bytes, ctype: str, title: str = "Section 1") -> Any:
    return await w[who].post(
        f"/api/events/{w.event_id}/media", params={"title": title}, content=data,
        headers={"Content-Type": ctype},
    )


async def consent(w: World, who: str, decision: str) -> Any:
    r = await w[who].put(f"/api/events/{w.event_id}/media/consent", json={"decision": decision})
    assert r.status_code == 200, r.text
    return r.json()
