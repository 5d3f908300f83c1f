"""Checking, cleaning and thumbnailing uploaded photos (Pillow); no I/O but bytes.

A file is accepted by its content, never its name or declared type: Pillow
must recognise it as PNG, JPEG or WebP. The pixel count is checked from the
header before any decoding, so a decompression bomb is refused cheaply; a large
JPEG is decoded at a reduced size instead (libjpeg's 1/2, 1/4, 1/8 scaling).
Decoding needs up to ~16 bytes per pixel (WebP: libwebp's two canvases, the
frame it hands over and Pillow's copy; PNG and JPEG about half that), so
``PHOTO_MAX_PIXELS`` bounds one decode and web/photo_decoding.py how many run.
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


def _jpeg_scale(im: Image.Image, *, max_pixels: int, fit: int) -> int:
    """The JPEG decoder's reduction (1, 2, 4 or 8) for this image; 0 if none is small enough.

    libjpeg decodes a baseline JPEG at 1/2, 1/4 or 1/8 of its size without ever
    holding the full-size pixels, so a 48-megapixel phone photo needs only its
    quarter in memory. We take the smallest reduction whose pixels stay within
    ``max_pixels`` and the largest one that still covers ``fit`` on the longer
    side (the size the caller scales to anyway). A progressive JPEG keeps every
    DCT coefficient of the full image while it decodes, reduced or not: it gets
    no reduction, so its full size must fit.
    """
    width, height = im.size
    scales = (1,) if im.info.get("progressive") else (1, 2, 4, 8)
    fitting = [s for s in scales if -(-width // s) * -(-height // s) <= max_pixels]
    if not fitting:
        return 0
    scale = fitting[0]
    for s in fitting[1:]:
        if max(width, height) // s >= fit:
            scale = s
    return scale


def _open(raw: bytes, *, max_pixels: int, fit: int, load: bool) -> tuple[Image.Image, str]:
    if not raw:
        raise PhotoRejected("empty_file", "the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below is stricter; Pillow's warning would only duplicate it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(raw), formats=list(FORMATS))
            fmt = str(im.format)
            width, height = im.size
            if fmt == "JPEG":
                scale = _jpeg_scale(im, max_pixels=max_pixels, fit=fit)
                if scale > 1:
                    im.draft(im.mode, (width // scale, height // scale))
            if im.width * im.height > max_pixels:
                raise PhotoRejected(
                    "too_many_pixels",
                    f"the photo has {width}x{height} pixels, more than {max_pixels} in all",
                )
            if load:
                im.load()
    except PhotoRejected:
        raise
    except Image.DecompressionBombError:
        # Pillow's own ceiling (far above ours) refused it while reading the header.
        raise PhotoRejected(
            "too_many_pixels", f"the photo has more than {max_pixels} pixels"
        ) from None
    except UnidentifiedImageError:
        raise PhotoRejected(
            "unsupported_image", "the file is not a PNG, JPEG or WebP image", status=415
        ) from None
    except (OSError, SyntaxError, ValueError, MemoryError):
        raise PhotoRejected("broken_image", "the image file is damaged or truncated") from None
    return im, fmt


def check_photo(raw: bytes, *, max_pixels: int, fit: int = MAX_SIDE) -> None:
    """Everything ``open_photo`` checks before decoding (format, pixels), without decoding.

    Cheap: run it before queueing for a decode, so a bomb never takes a decoder's place.
    """
    im, _ = _open(raw, max_pixels=max_pixels, fit=fit, load=False)
    im.close()


def open_photo(raw: bytes, *, max_pixels: int, fit: int = MAX_SIDE) -> tuple[Image.Image, str]:
    """Decode a PNG, JPEG or WebP image of at most ``max_pixels``; returns it and its format.

    The pixel count is checked from the header before decoding, so a small file
    that unpacks to gigabytes (a decompression bomb) is refused before it takes
    any memory. A JPEG is decoded reduced where that keeps it within the limit
    (see ``_jpeg_scale``); ``fit`` is the longest side the caller needs. Only the
    first frame of an animated file is decoded (and kept). Raises PhotoRejected.
    """
    return _open(raw, max_pixels=max_pixels, fit=fit, load=True)


def _pixels_only(im: Image.Image) -> Image.Image:
    """A fresh image holding nothing but ``im``'s pixels (and palette): no info, no EXIF."""
    clean = Image.new(im.mode, im.size)
    clean.paste(im)
    if im.mode == "P":
        palette = im.getpalette()
        if palette is not None:
            clean.putpalette(palette)
    return clean


def _thumbnail(im: Image.Image) -> Image.Image:
    """A new image of at most THUMB_SIDE a side, never enlarged (``thumbnail`` without the copy)."""
    longest = max(im.size)
    if longest <= THUMB_SIDE:
        return im.copy()
    size = (
        max(1, round(im.width * THUMB_SIDE / longest)),
        max(1, round(im.height * THUMB_SIDE / longest)),
    )
    return im.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def clean_photo(raw: bytes, *, max_bytes: int, max_pixels: int) -> CleanPhoto:
    """Validate and re-encode an upload; raises PhotoRejected saying why."""
    if len(raw) > max_bytes:
        raise PhotoRejected("too_large", f"the photo is over {max_bytes} bytes", status=413)
    # Memory: the decoded pixels and at most one working copy are alive at a time
    # (a WebP decoder's own canvases go with the decoded image). Callers bound how
    # many of these run at once (web/photo_decoding.py).
    im, fmt = open_photo(raw, max_pixels=max_pixels)
    ImageOps.exif_transpose(im, in_place=True)
    pixels = _normalise_mode(im, fmt)
    del im
    if max(pixels.size) > MAX_SIDE:
        pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    clean = _pixels_only(pixels)
    del pixels
    data = _encode(clean, fmt)

    source = clean.convert("RGBA") if clean.mode in ("P", "LA") else clean
    thumb_im = _thumbnail(source)
    del source
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
