"""Shared fixtures: a migrated database on each backend, settings, the ASGI app, clients.

``backend`` is parametrised over SQLite and PostgreSQL: a test that takes
``db_url`` (or anything built on it) runs on both. Each test session migrates
one fresh database per backend; tests make their own users with unique
emails, so they need no truncation between them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.migrate import upgrade
from storage.settings import Settings
from tests.redis_support import own_redis  # noqa: F401 - a fixture: a redis-server of the test's own
from tests.services import (
    create_pg_database,
    drop_pg_database,
    pg_url,
    require_postgres,
)

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "classhub.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    require_postgres()
    name = asyncio.run(create_pg_database())
    url = pg_url(name)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(drop_pg_database(name))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        return str(request.getfixturevalue("_postgres_url"))
    return str(request.getfixturevalue("_sqlite_url"))


def make_settings(db_url: str, var_dir: Path, **env: str) -> Settings:
    base = {
        "CLASSHUB_VAR_DIR": str(var_dir),
        "DATABASE_URL": db_url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "DATA_KEY": "test-data-key-" + "y" * 32,
        "PUBLIC_URL": "http://testserver",
        "REDIS_PREFIX": f"classhub-test-{uuid.uuid4().hex[:8]}",
    }
    base.update(env)
    return Settings.from_env(base)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "var")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    from web.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def services(app: Any) -> Any:
    return app.state.services


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        yield c


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"


PASSWORD = "correct horse battery staple"


async def make_user(services: Any, *, admin: bool = False, name: str = "Test User") -> Any:
    from storage.repo.accounts import create_user

    async with services.db.session() as db:
        return await create_user(
            db, email=unique_email(), display_name=name, password=PASSWORD, is_admin=admin
        )


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign the client in; returns the CSRF token and sets it as a default header."""
    r = await client.post("/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    token = str(r.json()["csrf_token"])
    client.headers["X-CSRF-Token"] = token
    return token
