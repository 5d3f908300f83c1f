"""Blurring rectangles of a media photo (Pillow; bytes in, bytes out).

Each rectangle is pixelated to blocks of about a twelfth of its shorter side (at
least 8 px) and then blurred: a Gaussian blur alone can be partly undone, averaged
blocks keep nothing of a face but its colours. The result is re-encoded from pixels,
so nothing of the original file survives but what the rectangles left.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageFilter

from storage.photos import FORMATS, JPEG_QUALITY, PhotoRejected, open_photo

MIN_BLOCK = 8


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


def _blur(im: Image.Image, rect: Rect) -> None:
    left, top = max(0, rect.x), max(0, rect.y)
    right, bottom = min(im.width, rect.x + rect.w), min(im.height, rect.y + rect.h)
    if right - left < 1 or bottom - top < 1:
        raise PhotoRejected("outside", "a rectangle lies outside the photo")
    box = (left, top, right, bottom)
    region = im.crop(box)
    block = max(MIN_BLOCK, min(region.size) // 12)
    small = region.resize(
        (max(1, region.width // block), max(1, region.height // block)), Image.Resampling.BOX
    )
    region = small.resize(region.size, Image.Resampling.NEAREST)
    region = region.filter(ImageFilter.GaussianBlur(radius=block / 2))
    im.paste(region, box)


def blur_photo(data: bytes, rects: list[Rect], *, max_pixels: int) -> tuple[bytes, str]:
    """The photo with every rectangle made unrecognisable; returns bytes and content type."""
    im, fmt = open_photo(data, max_pixels=max_pixels)
    work = im if im.mode in ("RGB", "RGBA", "L") else im.convert("RGBA")
    for rect in rects:
        _blur(work, rect)
    out = io.BytesIO()
    if fmt == "JPEG":
        work.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt == "PNG":
        work.save(out, "PNG", optimize=True)
    else:
        work.save(out, "WEBP", quality=JPEG_QUALITY)
    return out.getvalue(), FORMATS[fmt]
