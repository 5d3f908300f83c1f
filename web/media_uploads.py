"""Media uploads refused at the door: declared type, magic bytes, size while streaming.

A file is accepted by what it is, not what it is called: the first bytes must say
the type the request declares (``Content-Type``). Photos are then cleaned by
``storage.photos`` (decompression-bomb safe); videos are sealed chunk by chunk as
they stream in (``storage.media_files``), never held whole in memory, and refused
with 413 at the first chunk past ``MEDIA_VIDEO_MAX_BYTES``.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from starlette.requests import Request

from storage.media_files import MediaStore, SealedFile
from web.body_limits import too_large
from web.errors import ApiError

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
VIDEO_TYPES = ("video/mp4", "video/webm")
SNIFF_BYTES = 4096
EBML = b"\x1a\x45\xdf\xa3"


def sniff(head: bytes) -> str | None:
    """The media type the file's first bytes show (of those we accept), or None."""
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith(EBML) and b"webm" in head[:SNIFF_BYTES]:
        return "video/webm"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def declared_type(request: Request, allowed: tuple[str, ...]) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in allowed:
        raise ApiError(
            415, "unsupported_media_type",
            f"send the file with Content-Type one of: {', '.join(allowed)}",
        )
    return ctype


def check_magic(head: bytes, declared: str) -> None:
    if not head:
        raise ApiError(422, "empty_file", "the uploaded file is empty")
    found = sniff(head)
    if found != declared:
        seen = f"it looks like {found}" if found else "its content is none of them"
        raise ApiError(
            415, "unsupported_media_type",
            f"the file is not {declared} as its Content-Type says ({seen}); "
            f"send a photo ({', '.join(PHOTO_TYPES)}) or a video ({', '.join(VIDEO_TYPES)})",
        )


async def stream_video(
    request: Request, store: MediaStore, media_id: int, declared: str, limit: int
) -> SealedFile:
    """Seal the request body as the medium's file while it arrives; 413/415/422 refuse it."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large(limit, "the video")
    writer = await asyncio.to_thread(store.writer, media_id, "file")
    head = b""
    checked = False
    try:
        async with aclosing(request.stream()) as stream:
            async for chunk in stream:
                if writer.size + len(chunk) > limit:
                    raise too_large(limit, "the video")
                if not checked:
                    head += chunk
                    if len(head) >= SNIFF_BYTES:
                        check_magic(head, declared)
                        checked = True
                if chunk:
                    await asyncio.to_thread(writer.write, chunk)
        if not checked:
            check_magic(head, declared)
        return await asyncio.to_thread(writer.finish)
    except BaseException:
        await asyncio.to_thread(writer.abort)
        raise
