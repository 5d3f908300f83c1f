"""HTTP range requests (RFC 9110 §14) over an encrypted media file.

One range per request (what video players send while seeking); a request with
several ranges gets the whole file (200), which the RFC allows. A malformed or
unsatisfiable byte range is answered 416 with ``Content-Range: bytes */size``.
``If-Range`` with a stale validator gets the whole file, so a player never stitches
bytes of a blurred or replaced version onto the old one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from web.errors import ApiError


class RangeNotSatisfiable(ApiError):
    def __init__(self, size: int) -> None:
        super().__init__(
            416, "range_not_satisfiable",
            f"the range lies outside the file's {size} bytes or is malformed",
            headers={"Content-Range": f"bytes */{size}"},
        )


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive, or None for the whole file."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None  # a unit we do not know: ignore the header
    spec = spec.strip()
    if "," in spec:
        return None
    first, dash, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last) or not all(p.isdigit() for p in (first, last) if p):
        raise RangeNotSatisfiable(size)
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return start, min(end, size - 1)


async def ranged_response(
    request: Request,
    size: int,
    media_type: str,
    etag: str,
    read: Callable[[int, int], Iterator[bytes]],
    headers: dict[str, str],
) -> Response:
    """200 or 206 streaming ``read(first, last)``'s pieces; the first piece is decrypted
    before the status is sent, so a damaged file is a 500, not a truncated 200."""
    if_range = request.headers.get("if-range")
    span = None if if_range is not None and if_range != etag else (
        parse_range(request.headers.get("range"), size)
    )
    first, last = span if span is not None else (0, size - 1)
    pieces = read(first, last)
    head = await run_in_threadpool(next, pieces, b"")
    out = {
        **headers,
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Length": str(last - first + 1),
    }
    status = 200 if span is None else 206
    if span is not None:
        out["Content-Range"] = f"bytes {first}-{last}/{size}"

    async def body() -> AsyncIterator[bytes]:
        yield head
        async for piece in iterate_in_threadpool(pieces):
            yield piece

    return StreamingResponse(body(), status_code=status, media_type=media_type, headers=out)

