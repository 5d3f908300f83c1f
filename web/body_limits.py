"""Request bodies read within a limit, refused while they stream in.

Checking ``len(await request.body())`` comes too late: by then the whole body
is in memory (or, for a multipart file part, spooled to disk without bound,
since Starlette's ``max_part_size`` only covers the non-file fields). A
declared ``Content-Length`` over the limit is refused before reading a byte;
a chunked body, which declares nothing, is refused at the first chunk past it.
"""

from __future__ import annotations

from contextlib import aclosing

from starlette.requests import Request
from starlette.types import Message

from web.errors import ApiError


def too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, "too_large", f"{what} is over {limit} bytes")


def _check_declared(request: Request, limit: int, what: str, overhead: int = 0) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + overhead:
        raise too_large(limit, what)


async def read_body(request: Request, limit: int, what: str = "the request body") -> bytes:
    """The whole body, at most ``limit`` bytes of it (413 past that)."""
    _check_declared(request, limit, what)
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise too_large(limit, what)
            chunks.append(chunk)
    return b"".join(chunks)


def limited(
    request: Request, limit: int, what: str = "the request body", *, overhead: int = 0
) -> Request:
    """The same request, whose body stream stops with 413 past ``limit + overhead`` bytes
    (``overhead``: a multipart body's boundaries and part headers around the file).

    For ``request.form()``: the multipart parser closes its spooled files when
    reading fails, and the 413 reaches the client as it is.
    """
    _check_declared(request, limit, what, overhead)
    upstream = request.receive
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await upstream()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit + overhead:
                raise too_large(limit, what)
        return message

    return Request(request.scope, receive)
