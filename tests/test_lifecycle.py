"""Block, terminate with a grace month, reactivate, delete — over HTTP on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select

from storage.models import AuditEntry, AuthSession, User, utcnow
from tests.conftest import PASSWORD, login, make_user
from tests.privacy_helpers import second_client


async def _status(services: Any, user_id: int) -> User:
    async with services.db.session() as db:
        user: User | None = await db.get(User, user_id)
        assert user is not None
        return user


async def test_block_revokes_sessions_and_unblock_restores(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    admin = await make_user(services, admin=True)
    await login(client, user.email)
    async with second_client(app) as adm:
        await login(adm, admin.email)
        r = await adm.post(f"/api/users/{user.id}/block", json={"reason": "spam wave"})
        assert r.status_code == 200
        assert (await client.get("/api/me")).status_code == 401
        r = await client.post("/api/login", json={"email": user.email, "password": PASSWORD})
        assert r.status_code == 403 and r.json()["error"]["code"] == "account_blocked"
        async with services.db.session() as db:
            live = (
                await db.execute(
                    select(AuthSession).where(
                        AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None)
                    )
                )
            ).all()
            assert live == []
        # Blocking yourself is refused.
        assert (
            await adm.post(f"/api/users/{admin.id}/block", json={"reason": "myself"})
        ).status_code == 409
        r = await adm.post(f"/api/users/{user.id}/unblock", json={"reason": "cleared"})
        assert r.status_code == 200
    await login(client, user.email)
    async with services.db.session() as db:
        actions = (
            await db.execute(
                select(AuditEntry.action, AuditEntry.reason)
                .where(AuditEntry.target == f"user:{user.id}")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [tuple(a) for a in actions] == [("user.block", "spam wave"), ("user.unblock", "cleared")]


async def test_termination_then_reactivation_within_the_month(
    client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    await login(client, user.email)
    r = await client.post("/api/me/terminate", json={"password": "wrong"})
    assert r.status_code == 403
    r = await client.post("/api/me/terminate", json={"password": PASSWORD, "erase_content": True})
    assert r.status_code == 200 and r.json()["status"] == "terminating"
    due = dt.datetime.fromisoformat(r.json()["delete_after"])
    assert dt.timedelta(days=29, hours=23) < due - utcnow() <= dt.timedelta(days=30)
    assert (await client.get("/api/me")).status_code == 401  # signed out everywhere

    # Signing in during the month gives a limited session.
    await login(client, user.email)
    me = (await client.get("/api/me")).json()
    assert me["status"] == "terminating" and me["delete_after"] is not None
    assert (await client.get("/api/me/data")).status_code == 200
    assert (await client.get("/api/me/export")).status_code == 200
    r = await client.patch("/api/me/profile", json={"profile_bio": "still here"})
    assert r.status_code == 401  # everything else is closed
    assert (await client.put("/api/me/photo", content=b"x")).status_code == 401

    r = await client.post("/api/me/reactivate")
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert r.json()["delete_after"] is None
    assert (await client.patch("/api/me/profile", json={"profile_bio": "back"})).status_code == 200
    stored = await _status(services, user.id)
    assert (stored.status, stored.delete_after, stored.erase_content) == ("active", None, False)
    # Reactivating an active account is a conflict.
    assert (await client.post("/api/me/reactivate")).status_code == 409


async def test_admin_termination_and_immediate_deletion(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    other = await make_user(services)
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    r = await client.post(
        f"/api/admin/users/{user.id}/terminate", json={"reason": "left the company"}
    )
    assert r.status_code == 200 and r.json()["status"] == "terminating"
    r = await client.post(f"/api/admin/users/{user.id}/reactivate", json={"reason": "mistake"})
    assert r.json()["status"] == "active"
    r = await client.post(
        f"/api/admin/users/{user.id}/terminate",
        json={"reason": "asked by email", "immediately": True, "erase_content": True},
    )
    assert r.status_code == 200 and r.json()["status"] == "deleted"
    assert r.json()["report"]["sessions"] == 0
    gone = await _status(services, user.id)
    assert (gone.email, gone.display_name, gone.password_hash) == (None, "former participant", None)
    async with second_client(app) as c:
        r = await c.post("/api/login", json={"email": user.email, "password": PASSWORD})
        assert r.status_code == 401
    # The person's own immediate deletion, from a normal session.
    async with second_client(app) as c:
        await login(c, other.email)
        r = await c.post("/api/me/terminate", json={"password": PASSWORD, "immediately": True})
        assert r.status_code == 200 and r.json()["status"] == "deleted"
        assert (await c.get("/api/me")).status_code == 401
    # Deleted accounts cannot be touched again.
    r = await client.post(f"/api/users/{user.id}/block", json={"reason": "late"})
    assert r.status_code == 404
