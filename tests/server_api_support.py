"""What the server API's tests share: keys made in the database, a real webhook receiver.

``Receiver`` is an HTTP server on 127.0.0.1 (Starlette under uvicorn, in the test's
loop) that records every request and answers 500 to the first ``fail`` of them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.db import Database
from storage.repo.api_keys import create_key
from tests.services import free_port


async def make_key(db_url: str, name: str, *scopes: str) -> str:
    db = Database(db_url)
    try:
        async with db.session() as session:
            _, token = await create_key(
                session, name=name, scopes=list(scopes), created_by=None
            )
    finally:
        await db.close()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    fail: int = 0
    hits: list[Hit] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        status = 500 if self.fail > 0 else 204
        self.fail -= 1
        self.hits.append(Hit(dict(request.headers), body, status))
        return Response(status_code=status)

    async def __aenter__(self) -> Self:
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task

    async def wait(self, n: int, timeout: float = 20.0, **match: Any) -> list[Hit]:
        """At least ``n`` hits (whose JSON ``type`` is ``match['type']`` when given)."""
        import json

        deadline = time.monotonic() + timeout
        while True:
            hits = [h for h in self.hits
                    if "type" not in match or json.loads(h.body)["type"] == match["type"]]
            if len(hits) >= n:
                return hits
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(hits)} of {n} webhook requests arrived")
            await asyncio.sleep(0.02)


def api(port: int, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=bearer(token) if token else {}, timeout=30
    )
