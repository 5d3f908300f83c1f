"""Admins find accounts and reset passwords over HTTP, on both backends."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from storage.models import AuditEntry, AuthSession, User, UserStatus
from storage.repo.accounts import create_user
from tests.conftest import PASSWORD, login, make_user
from tests.privacy_helpers import second_client

NEW_PASSWORD = "a fresh passphrase for me"


async def _people(services: Any, tag: str, names: list[str]) -> list[User]:
    async with services.db.session() as db:
        return [
            await create_user(
                db, email=f"{n.lower()}-{tag}@example.org", display_name=f"{n} {tag.upper()}"
            )
            for n in names
        ]


async def _audit(services: Any, actor_id: int, action: str) -> list[AuditEntry]:
    async with services.db.session() as db:
        rows = await db.execute(
            select(AuditEntry)
            .where(AuditEntry.actor_id == actor_id, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return list(rows.scalars())


async def _set_status(services: Any, user_id: int, status: UserStatus) -> None:
    async with services.db.session() as db:
        user = await db.get(User, user_id)
        assert user is not None
        user.status = status.value


async def test_admins_find_accounts_by_name_email_and_status(
    client: httpx.AsyncClient, services: Any
) -> None:
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    tag = "t" + uuid.uuid4().hex[:10]
    ada, bob, cy, dee = await _people(services, tag, ["Ada", "Bob", "Cy", "Dee"])
    await _set_status(services, bob.id, UserStatus.BLOCKED)
    await _set_status(services, dee.id, UserStatus.DELETED)

    # Part of the name, any case; deleted accounts are left out unless asked for.
    r = await client.get("/api/admin/users", params={"q": tag.upper()})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [u["id"] for u in page["items"]] == [ada.id, bob.id, cy.id]
    assert [u["status"] for u in page["items"]] == ["active", "blocked", "active"]
    assert page["items"][0]["email"] == ada.email and page["next_after"] is None
    # Part of the email.
    r = await client.get("/api/admin/users", params={"q": f"bob-{tag}@"})
    assert [u["id"] for u in r.json()["items"]] == [bob.id]
    # By status.
    r = await client.get("/api/admin/users", params={"q": tag, "status": "blocked"})
    assert [u["id"] for u in r.json()["items"]] == [bob.id]
    r = await client.get("/api/admin/users", params={"q": tag, "status": "deleted"})
    assert [u["id"] for u in r.json()["items"]] == [dee.id]
    # LIKE wildcards in the text are plain characters.
    r = await client.get("/api/admin/users", params={"q": f"{tag}%"})
    assert r.json()["items"] == []
    r = await client.get("/api/admin/users", params={"q": "_" * 30})
    assert r.json()["items"] == []

    # Paged by id: every account once, in order, across pages.
    seen: list[int] = []
    after: int | None = None
    for _ in range(5):
        params: dict[str, Any] = {"q": tag, "limit": 1}
        if after is not None:
            params["after_id"] = after
        body = (await client.get("/api/admin/users", params=params)).json()
        seen += [u["id"] for u in body["items"]]
        after = body["next_after"]
        if after is None:
            break
    assert seen == [ada.id, bob.id, cy.id]

    # Each page read is one audit row with the filter.
    rows = await _audit(services, admin.id, "users.read")
    assert len(rows) == 9  # 6 searches above, 3 pages
    assert rows[0].target == "users" and rows[0].detail == {
        "q": tag.upper(), "limit": 50, "returned": 3
    }
    assert rows[2].detail["status"] == "blocked"


async def test_listing_is_for_admins_and_checks_its_input(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    dpo = await make_user(services)
    async with services.db.session() as db:
        row = await db.get(User, dpo.id)
        assert row is not None
        row.is_dpo = True
    assert (await client.get("/api/admin/users")).status_code == 401
    await login(client, user.email)
    r = await client.get("/api/admin/users")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    async with second_client(app) as other:
        await login(other, dpo.email)
        assert (await other.get("/api/admin/users")).status_code == 403
    assert await _audit(services, user.id, "users.read") == []

    admin = await make_user(services, admin=True)
    async with second_client(app) as adm:
        await login(adm, admin.email)
        for bad in (
            {"status": "sleeping"},
            {"limit": 0},
            {"limit": 201},
            {"after_id": 0},
            {"after_id": 2**64},
            {"q": ""},
            {"q": "x" * 321},
            {"q": "nul\x00"},
            {"colour": "red"},
        ):
            r = await adm.get("/api/admin/users", params=bad)
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["error"]["code"] == "invalid"
        # Refused requests read nothing and write no audit row.
        assert await _audit(services, admin.id, "users.read") == []


async def test_reset_password_revokes_sessions_and_the_link_works_once(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    admin = await make_user(services, admin=True)
    await login(client, user.email)
    async with second_client(app) as adm:
        await login(adm, admin.email)
        r = await adm.post(
            f"/api/admin/users/{user.id}/reset-password", json={"reason": "forgot it"}
        )
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["user_id"] == user.id and out["sessions_revoked"] == 1
        assert out["reset_url"].startswith("http://testserver/invite/")
        token = out["reset_url"].rsplit("/", 1)[1]
        # A second reset replaces the link: only the newest one works.
        r = await adm.post(f"/api/admin/users/{user.id}/reset-password", json={})
        assert r.status_code == 200 and r.json()["sessions_revoked"] == 0
        old_token, token = token, r.json()["reset_url"].rsplit("/", 1)[1]

    # The old session has ended and the old password no longer signs in.
    assert (await client.get("/api/me")).status_code == 401
    async with services.db.session() as db:
        live = (
            await db.execute(
                select(AuthSession).where(
                    AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None)
                )
            )
        ).all()
        assert live == []
    r = await client.post("/api/login", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 401

    r = await client.post(
        "/api/invitations/accept", json={"token": old_token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 410 and r.json()["error"]["code"] == "invitation_used"
    assert (await client.get(f"/api/invitations/{token}")).json()["email"] == user.email
    r = await client.post(
        "/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 200 and r.json()["id"] == user.id
    assert (await client.get("/api/me")).status_code == 200
    # Once only.
    async with second_client(app) as anon:
        r = await anon.post(
            "/api/invitations/accept", json={"token": token, "password": "another passphrase"}
        )
        assert r.status_code == 410 and r.json()["error"]["code"] == "invitation_used"
        await login(anon, user.email, NEW_PASSWORD)

    rows = await _audit(services, admin.id, "user.reset_password")
    assert [(a.target, a.reason, a.detail["by"]) for a in rows] == [
        (f"user:{user.id}", "forgot it", "admin"),
        (f"user:{user.id}", "", "admin"),
    ]
    assert rows[0].detail["sessions_revoked"] == 1 and "link_expires_at" in rows[0].detail


async def test_reset_password_refusals(app: Any, client: httpx.AsyncClient, services: Any) -> None:
    user = await make_user(services)
    admin = await make_user(services, admin=True)
    gone = await make_user(services)
    await _set_status(services, gone.id, UserStatus.TERMINATING)
    await login(client, user.email)
    # Not an admin: 403, and nothing changed.
    r = await client.post(f"/api/admin/users/{admin.id}/reset-password", json={})
    assert r.status_code == 403
    async with second_client(app) as adm:
        await login(adm, admin.email)
        r = await adm.post(f"/api/admin/users/{admin.id}/reset-password", json={})
        assert r.status_code == 409 and r.json()["error"]["code"] == "self"
        r = await adm.post(f"/api/admin/users/{gone.id}/reset-password", json={})
        assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_reset_password"
        assert (
            await adm.post("/api/admin/users/999999999/reset-password", json={})
        ).status_code == 404
        r = await adm.post(f"/api/admin/users/{user.id}/reset-password", json={"password": "x"})
        assert r.status_code == 422
        r = await adm.post(f"/api/admin/users/{user.id}/reset-password", json={"reason": 5})
        assert r.status_code == 422
    assert (await client.get("/api/me")).status_code == 200  # still signed in
    assert await _audit(services, admin.id, "user.reset_password") == []


async def test_a_blocked_accounts_link_works_once_it_is_unblocked(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    assert (await client.post(f"/api/users/{user.id}/block", json={})).status_code == 200
    r = await client.post(f"/api/admin/users/{user.id}/reset-password", json={})
    assert r.status_code == 200
    token = r.json()["reset_url"].rsplit("/", 1)[1]
    async with second_client(app) as anon:
        r = await anon.post(
            "/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "account_inactive"
        assert (await client.post(f"/api/users/{user.id}/unblock", json={})).status_code == 200
        r = await anon.post(
            "/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
        )
        assert r.status_code == 200
