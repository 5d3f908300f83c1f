"""Export of a large log is streamed: peak memory does not grow with the number of rows."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import insert

from storage.models import Channel, ChannelEvent, utcnow
from tests.conftest import login, make_user

TEXT = "x" * 180


async def _fill(services: Any, channel: str, author_id: int, n: int) -> None:
    async with services.db.session() as db:
        db.add(Channel(name=channel, last_seq=n))
        await db.flush()
        now = utcnow()
        for start in range(0, n, 5000):
            await db.execute(
                insert(ChannelEvent),
                [
                    {
                        "channel": channel,
                        "seq": i + 1,
                        "type": "message",
                        "author_id": author_id,
                        "client_id": None,
                        "ref_id": None,
                        "body": {"text": f"{TEXT} {i}"},
                        "created_at": now,
                    }
                    for i in range(start, min(n, start + 5000))
                ],
            )


async def _export_peak_rss(app: Any, cookie: str, channel: str) -> tuple[int, int]:
    """The export without tracemalloc (for scripts/bench_review_export.py): (bytes, lines)."""
    _, nbytes, lines = await _export(app, cookie, channel, trace=False)
    return nbytes, lines


async def _export_peak(app: Any, cookie: str, channel: str) -> tuple[int, int, int]:
    return await _export(app, cookie, channel, trace=True)


async def _export(app: Any, cookie: str, channel: str, *, trace: bool) -> tuple[int, int, int]:
    """Run the export through the ASGI app, dropping each chunk; returns (peak, bytes, lines).

    Called directly rather than through httpx, whose ASGI transport keeps the whole body.
    """
    query = urlencode({"channel": channel, "format": "jsonl"}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/admin/messages/export",
        "raw_path": b"/api/admin/messages/export",
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 5555),
        "server": ("testserver", 80),
    }
    done = asyncio.Event()
    sent = {"bytes": 0, "lines": 0, "status": 0}

    async def receive() -> dict[str, Any]:
        if not sent.get("asked"):
            sent["asked"] = 1
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            sent["bytes"] += len(chunk)
            sent["lines"] += chunk.count(b"\n")

    peak = 0
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    try:
        await app(scope, receive, send)
        if trace:
            _, peak = tracemalloc.get_traced_memory()
    finally:
        if trace:
            tracemalloc.stop()
        done.set()
    assert sent["status"] == 200
    return peak, sent["bytes"], sent["lines"]


@pytest.mark.slow
async def test_export_memory_is_flat(app: Any, client: httpx.AsyncClient, services: Any) -> None:
    admin = await make_user(services, admin=True)
    author = await make_user(services)
    await login(client, admin.email)
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    # Canonical names no event uses (a channel filter takes only those, issue 13 item 5).
    base = uuid.uuid4().int % 10**12
    small, large = f"event:{base}:chat", f"event:{base + 1}:chat"
    n_small, n_large = 1_000, 10_000
    await _fill(services, small, author.id, n_small)
    await _fill(services, large, author.id, n_large)

    await _export_peak(app, cookie, small)  # warm caches (statement compilation, imports)
    peak_small, bytes_small, lines_small = await _export_peak(app, cookie, small)
    peak_large, bytes_large, lines_large = await _export_peak(app, cookie, large)
    assert (lines_small, lines_large) == (n_small, n_large)
    assert bytes_large > 9 * bytes_small
    # Ten times the rows (about 2 MB more output; as ORM rows held in memory it would be
    # over 10 MB more), yet the peak stays within noise of the small export.
    print(
        f"export peak: {n_small} rows {peak_small / 1e6:.2f} MB, "
        f"{n_large} rows {peak_large / 1e6:.2f} MB"
    )
    assert peak_large < peak_small * 1.25 + 128 * 1024, (peak_small, peak_large)
