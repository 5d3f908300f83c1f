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
    r = await client.post(
        "/api/login", content=b"{not json", headers={"content-type": "application/json"}
    )
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


async def test_session_cookie_flags(client: httpx.AsyncClient, services: Any) -> None:
    user = await make_user(services)
    r = await client.post("/api/login", json={"email": user.email, "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # served over plain http here
    # The cookie is signed: a forged token is not a session.
    client.cookies.set("classhub_session", "forged.value")
    assert (await client.get("/api/me")).status_code == 401


async def test_secure_cookie_over_https(db_url: str, tmp_path: Any) -> None:
    from tests.conftest import make_settings
    from web.app import create_app

    app = create_app(make_settings(db_url, tmp_path / "var", PUBLIC_URL="https://hub.example"))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://hub.example"
    ) as c:
        user = await make_user(app.state.services)
        r = await c.post("/api/login", json={"email": user.email, "password": PASSWORD})
        assert r.status_code == 200 and "secure" in r.headers["set-cookie"].lower()


def test_argon2id_at_owasp_parameters() -> None:
    from storage.passwords import hash_password, verify_password

    stored = hash_password("some password 1")
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2
    assert verify_password(stored, "some password 1")
    assert not verify_password(stored, "some password 2")
    assert not verify_password(None, "some password 1")


async def test_logout_revokes_the_session_on_the_server(
    client: httpx.AsyncClient, services: Any
) -> None:
    user = await make_user(services)
    await login(client, user.email)
    stolen = client.cookies.get("classhub_session")
    assert stolen and (await client.post("/api/logout")).status_code == 200
    # A copy of the cookie taken before logout is worth nothing afterwards.
    client.cookies.set("classhub_session", stolen)
    assert (await client.get("/api/me")).status_code == 401
