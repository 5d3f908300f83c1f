"""Real servers and real WebSocket clients for the hub's tests.

``InProcessServer`` runs uvicorn inside the test's event loop (fast; the test
can look at the hub); ``ServerProcess`` runs ``classhub serve`` as a separate
process (several of them share Redis and the database). ``HubClient`` speaks
docs/protocol.md with the ``websockets`` library and answers pings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Self

import httpx
import msgpack
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from storage.db import Database
from storage.models import Role
from storage.repo.accounts import create_session, create_user
from storage.repo.events import create_event, enrol
from storage.settings import Settings
from tests.conftest import make_settings
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-" + "x" * 32
ORIGIN = "http://testserver"


class World:
    """Users, sessions and events written straight into the shared database."""

    def __init__(self, db_url: str) -> None:
        self.db = Database(db_url)

    async def close(self) -> None:
        await self.db.close()

    async def user(self, name: str = "User", *, admin: bool = False) -> tuple[int, str]:
        """A user and a signed session cookie value for them."""
        from web.auth import sign_token

        async with self.db.session() as db:
            u = await create_user(
                db,
                email=f"u-{uuid.uuid4().hex[:10]}@example.org",
                display_name=name,
                is_admin=admin,
            )
            token = await create_session(db, u, max_secs=3600)
            return u.id, sign_token(SECRET, token)

    async def event(self, *members: tuple[int, Role]) -> int:
        start = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
        async with self.db.session() as db:
            ev = await create_event(
                db, title="Workshop", starts_at=start, ends_at=start + dt.timedelta(hours=8)
            )
            for uid, role in members:
                await enrol(db, uid, ev.id, role)
            return ev.id


def server_env(db_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "CLASSHUB_VAR_DIR": str(var_dir),
        "DATABASE_URL": db_url,
        "SECRET_KEY": SECRET,
        "DATA_KEY": "test-data-key-" + "y" * 32,
        "PUBLIC_URL": ORIGIN,
        "REDIS_PREFIX": f"classhub-test-{uuid.uuid4().hex[:8]}",
    }
    env.update(extra)
    return env


class InProcessServer:
    def __init__(self, settings: Settings) -> None:
        from web.app import create_app
        from web.ws_protocol import ClasshubWebSocketProtocol

        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, ws=ClasshubWebSocketProtocol,
            ws_max_size=settings.max_frame_bytes, ws_ping_interval=None, log_level="warning",
            ws_per_message_deflate=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def hub(self) -> Any:
        return self.app.state.services.hub

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        assert self._task is not None
        await self._task


class ServerProcess:
    """``classhub serve`` in its own process; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, env: dict[str, str], *args: str, log_file: Path | None = None) -> None:
        self.env = env
        self.args = args  # more `classhub serve` options, e.g. "--mailer"
        self.log_file = log_file  # where its stderr goes (default: the test's)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env}
        stderr = self.log_file.open("ab") if self.log_file is not None else None
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "web.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    *self.args,
                ],
                cwd=ROOT,
                env=env,
                stderr=stderr,
            )
        finally:
            if stderr is not None:
                stderr.close()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, "server exited"
                try:
                    if (
                        await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    ).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("server did not become ready")

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class HubClient:
    """A protocol client: decodes frames, answers pings, files events per channel."""

    def __init__(self, ws: ClientConnection, proto: str) -> None:
        self.ws = ws
        self.proto = proto
        self.frames: list[dict[str, Any]] = []
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.hello: dict[str, Any] | None = None

    @classmethod
    async def connect(
        cls,
        port: int,
        cookie: str | None = None,
        *,
        proto: str = "json",
        origin: str | None = ORIGIN,
        token: str | None = None,
        **kw: Any,
    ) -> HubClient:
        sub = "classhub.json.v1" if proto == "json" else "classhub.msgpack.v1"
        headers = {"Cookie": f"classhub_session={cookie}"} if cookie else {}
        if origin is not None:
            headers["Origin"] = origin
        url = f"ws://127.0.0.1:{port}/ws" + (f"?token={token}" if token else "")
        ws = await connect(
            url,
            subprotocols=[sub],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=10,
            **kw,
        )
        client = cls(ws, proto)
        client.hello = await client.recv_type("hello")
        return client

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, frame: dict[str, Any]) -> None:
        if self.proto == "json":
            await self.ws.send(json.dumps(frame))
        else:
            await self.ws.send(msgpack.packb(frame))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        frame: dict[str, Any]
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            frame = json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw)
            if frame.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            self.frames.append(frame)
            if frame["type"] == "event":
                self.events[frame["event"]["channel"]].append(frame["event"])
            elif frame["type"] == "batch":
                for ev in frame["events"]:
                    self.events[ev["channel"]].append(ev)
            return frame

    async def recv_type(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame

    async def subscribe(
        self, *channels: str | tuple[str, int | None], rid: str = "s", presence: bool = False
    ) -> dict[str, Any]:
        entries = []
        for ch in channels:
            name, since = (ch, None) if isinstance(ch, str) else ch
            entry: dict[str, Any] = {"channel": name}
            if since is not None:
                entry["since"] = since
            if presence:
                entry["presence"] = True
            entries.append(entry)
        await self.send({"type": "subscribe", "id": rid, "channels": entries})
        while True:
            frame = await self.recv()
            if frame["type"] in ("subscribed", "error") and frame.get("id") == rid:
                return frame

    async def publish(self, channel: str, text: str, cid: str | None = None) -> dict[str, Any]:
        cid = cid or uuid.uuid4().hex
        await self.send({"type": "publish", "id": cid, "channel": channel, "body": {"text": text}})
        while True:
            frame = await self.recv()
            if frame["type"] in ("ack", "error", "held") and frame.get("id") == cid:
                return frame

    async def wait_events(
        self, channel: str, n: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events[channel]) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.events[channel])} of {n} events on {channel}")
            await self.recv(left)
        return self.events[channel]


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


__all__ = [
    "HubClient",
    "InProcessServer",
    "ServerProcess",
    "World",
    "make_settings",
    "seqs",
    "server_env",
]


class Stack:
    """A World and an in-process server on one database, for one test."""

    def __init__(self, db_url: str, var_dir: Path, **env: str) -> None:
        self.settings = make_settings(db_url, var_dir, SECRET_KEY=SECRET, **env)
        self.world = World(db_url)
        self.server = InProcessServer(self.settings)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def hub(self) -> Any:
        return self.server.hub

    async def __aenter__(self) -> Self:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.__aexit__(*exc)
        await self.world.close()


async def eventually(check: Any, timeout: float = 10.0) -> None:
    """Poll ``check()`` until truthy (for server-side effects without a frame to wait on)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def frame_where(client: HubClient, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The first frame (received already, or still to come) for which ``pred`` holds."""
    for frame in client.frames:
        if pred(frame):
            return frame
    deadline = time.monotonic() + timeout
    while True:
        frame = await client.recv(max(0.01, deadline - time.monotonic()))
        if pred(frame):
            return frame
