"""Slow and half-sent HTTP requests against a running ``classhub serve`` (issue 13, item 7).

1,100 half-sent requests opened in 0.1 s took every file descriptor of a server and
shut every other client out; nothing timed them out and none needed a sign-in. Here
the server may open only 256 files (set on the running process), the time-outs are
two seconds and at most 40 connections may wait for their headers.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.browser_harness import Person, Server, seed_people, start_server, stop_server
from tests.hub_support import HubClient
from web.http_guard import HttpLimits, fit_to_file_limit

FD_LIMIT = 256
TIMEOUT_SECS = 2.0
MAX_PENDING = 40
ATTACK = 300  # more half-sent requests than the server has file descriptors


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Person]]:
    server = start_server(
        tmp_path_factory.mktemp("slow"),
        HTTP_HEADER_TIMEOUT_SECS=str(TIMEOUT_SECS),
        HTTP_BODY_TIMEOUT_SECS=str(TIMEOUT_SECS),
        HTTP_MAX_PENDING_CONNECTIONS=str(MAX_PENDING),
        HTTP_MAX_PENDING_PER_IP=str(MAX_PENDING),
    )
    try:
        resource.prlimit(server.proc.pid, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
        _, people = server.run(seed_people(server.db_url, "Slow", {"ann": "participant"}))
        yield server, people["ann"]
    finally:
        stop_server(server)


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def _closed(reader: asyncio.StreamReader, within: float) -> bytes | None:
    """What the server sent before closing, or None if it is still open after ``within`` s."""
    got = b""
    deadline = time.monotonic() + within
    try:
        while chunk := await asyncio.wait_for(
            reader.read(4096), max(0.01, deadline - time.monotonic())
        ):
            got += chunk
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return got


async def test_half_sent_requests_do_not_shut_others_out_and_are_closed(
    slow_server: tuple[Server, Person],
) -> None:
    server, _ = slow_server
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(ATTACK):
            reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
            conns.append((reader, writer))
        await asyncio.sleep(0.3)
        # A normal client is served at once, with every attacking socket opened.
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"{server.url}/healthz")
        assert r.status_code == 200
        # The server holds no more than the cap of them (plus what it had anyway).
        assert psutil.Process(server.proc.pid).num_fds() < 60 + MAX_PENDING
        # Each one is answered and closed: evicted (503) or timed out (408), none kept.
        answers = await asyncio.gather(*(_closed(r, TIMEOUT_SECS + 3) for r, _ in conns))
        assert all(a is not None for a in answers), sum(a is None for a in answers)
        timed_out = [a for a in answers if a and a.startswith(b"HTTP/1.1 408")]
        evicted = [a for a in answers if a and a.startswith(b"HTTP/1.1 503")]
        assert (
            len(timed_out) <= MAX_PENDING and len(timed_out) + len(evicted) >= ATTACK - MAX_PENDING
        )
    finally:
        for _, writer in conns:
            writer.close()
    assert server.proc.poll() is None


async def test_a_body_that_stops_is_timed_out(slow_server: tuple[Server, Person]) -> None:
    server, _ = slow_server
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    try:
        writer.write(b"POST /api/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{\"email\": ")
        started = time.monotonic()
        assert await _closed(reader, TIMEOUT_SECS + 5) is not None
        assert time.monotonic() - started >= TIMEOUT_SECS - 0.5
    finally:
        writer.close()


async def test_a_body_sent_slowly_but_steadily_gets_through(
    slow_server: tuple[Server, Person],
) -> None:
    # The body time-out is for a body that stops, not for a slow line.
    server, person = slow_server
    body = json.dumps({"email": person.email, "password": person.password}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    try:
        writer.write(b"POST /api/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")
        for i in range(0, len(body), len(body) // 4 + 1):
            await asyncio.sleep(TIMEOUT_SECS * 0.6)
            writer.write(body[i:i + len(body) // 4 + 1])
        status = await asyncio.wait_for(reader.readline(), 10)
        assert status.startswith(b"HTTP/1.1 200"), status
    finally:
        writer.close()


async def test_endless_headers_are_refused(slow_server: tuple[Server, Person]) -> None:
    server, _ = slow_server
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for _ in range(40):  # 80 KB of headers, never ending
            writer.write(b"X-Pad: " + b"a" * 2040 + b"\r\n")
        await writer.drain()
        answer = await _closed(reader, TIMEOUT_SECS - 0.5)  # before any time-out
        assert answer is not None and answer.startswith(b"HTTP/1.1 431"), answer
    finally:
        writer.close()


async def test_a_websocket_outlives_the_header_time_out(slow_server: tuple[Server, Person]) -> None:
    server, person = slow_server
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.post(
            "/api/login", json={"email": person.email, "password": person.password}
        )
        assert r.status_code == 200
        cookie = r.cookies["classhub_session"]
    ws = await HubClient.connect(_port(server), cookie, origin=server.url)
    try:
        await asyncio.sleep(TIMEOUT_SECS * 2)
        await ws.send({"type": "ping", "id": "still-there"})
        frame = await ws.recv_type("pong", timeout=5)
        assert frame.get("id") == "still-there", frame
    finally:
        await ws.close()


def test_the_pending_cap_fits_the_file_limit() -> None:
    limits = HttpLimits(max_pending=1024, max_pending_per_ip=128)
    assert fit_to_file_limit(limits, 1024).max_pending == 256
    assert fit_to_file_limit(limits, 100_000) is limits
    assert fit_to_file_limit(limits, 200).max_pending_per_ip == 50
