"""Checking, cleaning and thumbnailing uploaded photos (Pillow); no I/O but bytes.

A file is accepted by its content, never its name or declared type: Pillow
must recognise it as PNG, JPEG or WebP. The pixel count is checked from the
header before any decoding, so a decompression bomb is refused cheaply.
Re-encoding from the decoded pixels drops every metadata block (EXIF with
its GPS position, XMP, comments, ICC); the EXIF orientation is applied first
so the picture still stands the right way up.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from storage.errors import DomainError

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MAX_SIDE = 4096  # longer photos are scaled down; the board never shows more
THUMB_SIDE = 320
JPEG_QUALITY = 85


class PhotoRejected(DomainError):
    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(code, message, status=status)


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int
    thumb: bytes
    thumb_content_type: str


def _encode(im: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        im.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt == "PNG":
        im.save(out, "PNG", optimize=True)
    else:
        im.save(out, "WEBP", quality=JPEG_QUALITY)
    return out.getvalue()


def _normalise_mode(im: Image.Image, fmt: str) -> Image.Image:
    if fmt == "JPEG":
        return im if im.mode in ("RGB", "L") else im.convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        return im.convert("RGBA")
    if im.mode in ("RGB", "RGBA", "L", "LA") or (fmt == "PNG" and im.mode == "P"):
        return im
    return im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")


def open_photo(raw: bytes, *, max_pixels: int) -> tuple[Image.Image, str]:
    """Decode a PNG, JPEG or WebP image of at most ``max_pixels``; returns it and its format.

    The pixel count is checked from the header before decoding; raises PhotoRejected.
    """
    if not raw:
        raise PhotoRejected("empty_file", "the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below is stricter; Pillow's warning would only duplicate it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(raw), formats=list(FORMATS))
            fmt = str(im.format)
            width, height = im.size
            if width * height > max_pixels:
                raise PhotoRejected(
                    "too_many_pixels",
                    f"the photo has {width}x{height} pixels, more than {max_pixels} in all",
                )
            im.load()
    except PhotoRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise PhotoRejected(
            "unsupported_image", "the file is not a PNG, JPEG or WebP image", status=415
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise PhotoRejected("broken_image", "the image file is damaged or truncated") from None
    return im, fmt


def clean_photo(raw: bytes, *, max_bytes: int, max_pixels: int) -> CleanPhoto:
    """Validate and re-encode an upload; raises PhotoRejected saying why."""
    if len(raw) > max_bytes:
        raise PhotoRejected("too_large", f"the photo is over {max_bytes} bytes", status=413)
    im, fmt = open_photo(raw, max_pixels=max_pixels)
    pixels: Image.Image = ImageOps.exif_transpose(im) or im
    pixels = _normalise_mode(pixels, fmt)
    if max(pixels.size) > MAX_SIDE:
        pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    # A fresh image from the pixels alone: no info dict, so nothing but pixels is written.
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    if pixels.mode == "P":
        palette = pixels.getpalette()
        if palette is not None:
            clean.putpalette(palette)
    data = _encode(clean, fmt)

    thumb_im = clean.convert("RGBA") if clean.mode in ("P", "LA") else clean.copy()
    thumb_im.thumbnail((THUMB_SIDE, THUMB_SIDE))
    thumb_fmt = "JPEG" if fmt == "JPEG" else "WEBP"
    if thumb_fmt == "JPEG" and thumb_im.mode not in ("RGB", "L"):
        thumb_im = thumb_im.convert("RGB")
    return CleanPhoto(
        data=data,
        content_type=FORMATS[fmt],
        width=clean.width,
        height=clean.height,
        thumb=_encode(thumb_im, thumb_fmt),
        thumb_content_type=FORMATS[thumb_fmt],
    )
