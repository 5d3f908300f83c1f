"""The per-process cache of sign-ins (web/signins.py): fast, and never in the way of revocation.

Three tiers: the cache core driven synchronously with a fake clock; the app on
both backends (sign-out, block, revocation and account changes end a cached
sign-in before the next request; a change that bypasses the app ends it within
the cache's lifetime); two apps sharing PostgreSQL and Redis as two processes
(a sign-out on one ends the cached sign-in on the other through the hub's
control topic).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.account_changes import AccountChanges
from storage.db import Database
from storage.models import User, UserStatus, utcnow
from storage.repo.accounts import (
    LiveSession,
    create_session,
    live_session,
    revoke_user_sessions,
    token_hash,
)
from tests.conftest import login, make_settings, make_user
from tests.services import REDIS_URL, require_postgres, require_redis
from web.signins import SessionCache

# --- the core -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _live(session_hash: str, user_id: int, *, good_for: float = 3600) -> LiveSession:
    row = {"id": user_id, "status": UserStatus.ACTIVE.value, "display_name": "A"}
    return LiveSession(session_hash, row, utcnow() + dt.timedelta(seconds=good_for))


def test_an_entry_lives_for_the_ttl_and_no_longer_than_its_session() -> None:
    clock = Clock()
    cache = SessionCache(ttl=10, clock=clock)
    assert cache.put(_live("h1", 1), cache.generation)
    assert cache.put(_live("h2", 2, good_for=5), cache.generation)
    now = utcnow()
    assert cache.get("h1", now) is not None and cache.get("h2", now) is not None
    # The session's own end (idle timeout or absolute end) comes first for h2.
    assert cache.get("h2", now + dt.timedelta(seconds=6)) is None
    clock.now += 9.9
    assert cache.get("h1", now) is not None
    clock.now += 0.2
    assert cache.get("h1", now) is None
    assert len(cache) == 0


def test_forget_by_user_by_session_and_everything() -> None:
    cache = SessionCache(ttl=10, clock=Clock())
    for h, u in [("a1", 1), ("a2", 1), ("b1", 2), ("c1", 3)]:
        cache.put(_live(h, u), cache.generation)
    now = utcnow()
    cache.forget(AccountChanges(user_ids={1}))
    assert cache.get("a1", now) is None and cache.get("a2", now) is None
    assert cache.get("b1", now) is not None
    cache.forget(AccountChanges(session_hashes={"b1"}))
    assert cache.get("b1", now) is None and cache.get("c1", now) is not None
    cache.forget(AccountChanges(everything=True))
    assert len(cache) == 0


def test_a_lookup_that_began_before_a_revocation_is_not_kept() -> None:
    cache = SessionCache(ttl=10, clock=Clock())
    generation = cache.generation  # lookup starts, reads the store ...
    cache.forget(AccountChanges(user_ids={7}))  # ... a revocation commits meanwhile
    assert not cache.put(_live("h", 7), generation)
    assert cache.get("h", utcnow()) is None
    assert cache.put(_live("h", 7), cache.generation)


def test_ttl_zero_disables_and_the_size_is_bounded() -> None:
    off = SessionCache(ttl=0, clock=Clock())
    assert not off.put(_live("h", 1), off.generation)
    small = SessionCache(ttl=10, max_entries=3, clock=Clock())
    for i in range(4):
        small.put(_live(f"h{i}", i), small.generation)
    assert len(small) <= 3 and small.get("h3", utcnow()) is not None


# --- the app, both backends ------------------------------------------------------------


@asynccontextmanager
async def _app(settings: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from web.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver"
    ) as client:
        yield application, client


def _twin(app: Any, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser tab: the same cookie and CSRF token."""
    twin = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    twin.cookies.update(client.cookies)
    twin.headers.update(client.headers)
    return twin


async def _cached_me(client: httpx.AsyncClient, services: Any) -> None:
    """Two requests: the second must be answered from the cache."""
    assert (await client.get("/api/me")).status_code == 200
    hits = services.signins.cache.hits
    assert (await client.get("/api/me")).status_code == 200
    assert services.signins.cache.hits == hits + 1


async def test_sign_out_ends_a_cached_sign_in_at_once(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    await login(client, user.email)
    async with _twin(app, client) as tab:
        await _cached_me(tab, services)
        assert (await client.post("/api/logout")).status_code == 200
        r = await tab.get("/api/me")
        assert r.status_code == 401, r.text


async def test_block_and_revocation_end_cached_sign_ins_at_once(
    client: httpx.AsyncClient, services: Any, app: Any
) -> None:
    admin, user = await make_user(services, admin=True), await make_user(services)
    async with _twin(app, client) as person:
        await login(person, user.email)
        await _cached_me(person, services)
        await login(client, admin.email)
        assert (await client.post(f"/api/users/{user.id}/block", json={})).status_code == 200
        assert (await person.get("/api/me")).status_code == 401
        assert (await client.post(f"/api/users/{user.id}/unblock", json={})).status_code == 200

        await login(person, user.email)
        await _cached_me(person, services)
        async with services.db.session() as db:  # any code path of the app that revokes
            await revoke_user_sessions(db, user.id)
        assert (await person.get("/api/me")).status_code == 401


async def test_a_changed_account_row_is_read_again_at_once(
    client: httpx.AsyncClient, services: Any
) -> None:
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    assert (await client.get("/api/admin/users")).status_code == 200
    assert (await client.get("/api/admin/users")).status_code == 200
    async with services.db.session() as db:  # demoted through the ORM: no revocation
        row = await db.get(User, admin.id)
        assert row is not None
        row.is_admin = False
    assert (await client.get("/api/admin/users")).status_code == 403
    async with services.db.session() as db:
        row = await db.get(User, admin.id)
        assert row is not None
        row.display_name = "Renamed"
    assert (await client.get("/api/me")).json()["display_name"] == "Renamed"


async def test_a_rolled_back_revocation_keeps_the_sign_in(
    client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    await login(client, user.email)
    await _cached_me(client, services)
    with pytest.raises(RuntimeError):
        async with services.db.session() as db:
            await revoke_user_sessions(db, user.id)
            raise RuntimeError("changed my mind")
    assert (await client.get("/api/me")).status_code == 200


async def test_a_change_outside_the_app_takes_effect_within_the_cache_lifetime(
    db_url: str, tmp_path: Path
) -> None:
    # Long enough that a loaded CI machine's revocation through a fresh engine (its own
    # connection) still falls inside it: 0.5 s was overtaken there once.
    settings = make_settings(db_url, tmp_path / "var", CLASSHUB_SESSION_CACHE_SECS="3")
    async with _app(settings) as (application, client):
        services = application.state.services
        user = await make_user(services)
        await login(client, user.email)
        await _cached_me(client, services)
        # The CLI: another process, its own engine, nobody to tell.
        cli = Database(settings.database_url)
        try:
            async with cli.session() as db:
                await revoke_user_sessions(db, user.id)
        finally:
            await cli.close()
        assert (await client.get("/api/me")).status_code == 200  # still cached here
        await asyncio.sleep(3.1)
        assert (await client.get("/api/me")).status_code == 401


async def test_a_broker_reconnect_clears_the_cache(
    client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    await login(client, user.email)
    await _cached_me(client, services)
    assert len(services.signins.cache) > 0
    await services.hub.cluster.after_reconnect()
    assert len(services.signins.cache) == 0


async def test_the_websocket_handshake_refuses_a_signed_out_cached_session(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    from web.ws_endpoint import _user_for_hash

    user = await make_user(services)
    await login(client, user.email)
    await _cached_me(client, services)
    (entry,) = [
        h for h, e in services.signins.cache._entries.items() if e.session.user_id == user.id
    ]
    assert (await _user_for_hash(services, entry)) is not None
    assert (await client.post("/api/logout")).status_code == 200
    assert (await _user_for_hash(services, entry)) is None


async def test_the_lookup_keeps_the_session_rules(services: Any) -> None:
    """``live_session`` (the uncached path): idle timeout, absolute end, touch, status."""
    user = await make_user(services)
    async with services.db.session() as db:
        token = await create_session(db, user, max_secs=3600)
    h, t0 = token_hash(token), utcnow()

    async def at(secs: float, idle: int = 600) -> LiveSession | None:
        async with services.db.connection() as conn:
            return await live_session(conn, h, idle_secs=idle, now=t0 + dt.timedelta(seconds=secs))

    found = await at(500)  # touched: last use now at +500
    assert found is not None and found.user().id == user.id
    assert found.good_until == t0 + dt.timedelta(seconds=1100)
    assert await at(1000) is not None  # within the idle time of the touch at +500
    assert await at(1700) is None  # idle since +1000
    assert await at(3601, idle=10**6) is None  # however busy, the absolute end
    async with services.db.session() as db:
        row = await db.get(User, user.id)
        assert row is not None
        row.status = UserStatus.BLOCKED.value
    assert await at(1000, idle=10**6) is None


async def test_concurrent_misses_share_one_query(services: Any) -> None:
    users = [await make_user(services) for _ in range(30)]
    async with services.db.session() as db:
        tokens = [await create_session(db, u, max_secs=3600) for u in users]
        await revoke_user_sessions(db, users[-1].id)
    signins = services.signins
    queries = signins.lookups
    found = await asyncio.gather(*(signins.user_for_hash(token_hash(t)) for t in tokens))
    assert [u.id if u else None for u in found] == [u.id for u in users[:-1]] + [None]
    assert signins.lookups - queries <= 2  # the first alone at most, then the rest together
    # Cached now (the revoked one is not: it is looked up, and refused, every time).
    queries = signins.lookups
    again = await asyncio.gather(*(signins.user_for_hash(token_hash(t)) for t in tokens))
    assert [u.id if u else None for u in again] == [u.id for u in users[:-1]] + [None]
    assert signins.lookups - queries == 1


async def test_a_request_that_goes_away_does_not_fail_the_shared_lookup(services: Any) -> None:
    a, b = await make_user(services), await make_user(services)
    async with services.db.session() as db:
        ta, tb = (
            await create_session(db, a, max_secs=3600),
            await create_session(db, b, max_secs=3600),
        )
    gone = asyncio.create_task(services.signins.user_for_hash(token_hash(ta)))
    stays = asyncio.create_task(services.signins.user_for_hash(token_hash(tb)))
    await asyncio.sleep(0)
    gone.cancel()
    found = await stays
    assert found is not None and found.id == b.id
    assert gone.cancelled()


# --- two processes: PostgreSQL + Redis ------------------------------------------------


@pytest.fixture
def pg_redis(request: pytest.FixtureRequest) -> str:
    require_postgres()
    require_redis()
    return str(request.getfixturevalue("_postgres_url"))


@pytest.mark.postgres
@pytest.mark.redis
async def test_sign_out_on_one_process_ends_the_cached_sign_in_on_another(
    pg_redis: str, tmp_path: Path
) -> None:
    pg = pg_redis
    # A long lifetime: only the control message can explain the other process's 401.
    settings = make_settings(
        pg, tmp_path / "var", REDIS_URL=REDIS_URL, CLASSHUB_SESSION_CACHE_SECS="300"
    )
    async with _app(settings) as (app_a, a), _app(settings) as (app_b, b):
        services_a, services_b = app_a.state.services, app_b.state.services
        user = await make_user(services_a)
        await login(a, user.email)
        b.cookies.update(a.cookies)
        b.headers.update(a.headers)
        await _cached_me(b, services_b)
        assert (await a.post("/api/logout")).status_code == 200
        for _ in range(100):
            if (await b.get("/api/me")).status_code == 401:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("process B still accepts a session signed out on process A")

        # And a block on B ends a sign-in cached on A.
        admin = await make_user(services_a, admin=True)
        await login(a, admin.email)
        await _cached_me(a, services_a)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app_b), base_url="http://testserver"
        ) as admin_b:
            await login(admin_b, admin.email)
            person = await make_user(services_b)
            await login(b, person.email)
            a.cookies.clear()
            a.cookies.update(b.cookies)
            a.headers["X-CSRF-Token"] = b.headers["X-CSRF-Token"]
            await _cached_me(a, services_a)
            assert (await admin_b.post(f"/api/users/{person.id}/block", json={})).status_code == 200
        for _ in range(100):
            if (await a.get("/api/me")).status_code == 401:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("process A still accepts the session of an account blocked on B")


@pytest.mark.postgres
@pytest.mark.redis
async def test_the_cli_tells_running_servers_through_redis(pg_redis: str, tmp_path: Path) -> None:
    import argparse

    from web.commands.users import _block, _with_user

    settings = make_settings(
        pg_redis, tmp_path / "var", REDIS_URL=REDIS_URL, CLASSHUB_SESSION_CACHE_SECS="300"
    )
    async with _app(settings) as (application, client):
        services = application.state.services
        user = await make_user(services)
        await login(client, user.email)
        await _cached_me(client, services)
        # `classhub user block`: its own process and engine, no hub; Redis is shared.
        said = await _with_user(settings, user.email, _block(argparse.Namespace(reason="cli")))
        assert "blocked" in said
        for _ in range(100):
            if (await client.get("/api/me")).status_code == 401:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("a server still accepts the session of an account blocked by the CLI")
