"""Sign-in basics over HTTP on both backends."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import PASSWORD, login, make_user


async def test_login_me_logout(client: httpx.AsyncClient, services: Any) -> None:
    user = await make_user(services)
    r = await client.get("/api/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
    await login(client, user.email)
    r = await client.get("/api/me")
    assert r.status_code == 200
    assert r.json()["email"] == user.email
    r = await client.post("/api/logout")
    assert r.status_code == 200
    assert (await client.get("/api/me")).status_code == 401


async def test_unknown_user_and_wrong_password_answer_alike(
    client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    wrong = await client.post("/api/login", json={"email": user.email, "password": PASSWORD + "x"})
    unknown = await client.post(
        "/api/login", json={"email": "nobody-" + user.email, "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_state_change_without_csrf_header_is_refused(
    client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    await login(client, user.email)
    del client.headers["X-CSRF-Token"]
    r = await client.post("/api/logout")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"


async def test_malformed_bodies_get_the_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = await client.post("/api/login", json={"email": 5})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = await client.get("/api/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
    assert "/api/login" in (await client.get("/api/openapi.json")).json()["paths"]
