"""Security headers on every kind of answer: JSON, errors, photos, the unsubscribe page.

The client's shell and static files have their own tests (test_webclient_serving.py);
here: everything else gets nosniff and a policy that allows nothing and no framing.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image

from realtime.mailer.message import unsubscribe_token
from tests.conftest import login, make_user


def assert_locked_down(r: httpx.Response, what: str) -> None:
    assert r.headers.get("x-content-type-options") == "nosniff", what
    assert r.headers.get("referrer-policy") == "same-origin", what
    assert r.headers.get("x-frame-options") == "DENY", what
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (what, csp)
    assert "script-src" not in csp and "default-src 'none'" in csp, (what, csp)


async def test_json_answers_and_errors_carry_the_headers(
    client: httpx.AsyncClient, services: Any
) -> None:
    assert_locked_down(await client.get("/api/events"), "401 error")
    assert_locked_down(await client.get("/api/no-such-thing"), "404 error")
    assert_locked_down(await client.get("/healthz"), "health")
    me = await make_user(services)
    await login(client, me.email)
    r = await client.get("/api/me")
    assert r.status_code == 200
    assert_locked_down(r, "GET /api/me")


async def test_a_profile_photo_is_served_as_an_image_only(
    client: httpx.AsyncClient, services: Any
) -> None:
    me = await make_user(services)
    await login(client, me.email)
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(out, "PNG")
    r = await client.put(
        "/api/me/photo", content=out.getvalue(), headers={"content-type": "image/png"}
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/users/{me.id}/photo")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"].startswith("inline")
    assert_locked_down(r, "profile photo")


async def test_the_unsubscribe_page_cannot_be_framed(
    client: httpx.AsyncClient, services: Any
) -> None:
    me = await make_user(services)
    token = unsubscribe_token(services.settings.secret_key, me.id)
    r = await client.get(f"/unsubscribe/{token}")
    assert r.status_code == 200 and "<form" in r.text
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert_locked_down(await client.get("/unsubscribe/forged"), "invalid link page")


async def test_the_clients_own_policy_is_kept(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    r = await client.get("/static/js/app.js")
    assert "script-src 'self'" in r.headers["content-security-policy"]


async def test_hsts_only_with_an_https_public_url(tmp_path: Any, db_url: str) -> None:
    from tests.conftest import make_settings
    from web.app import create_app

    for public_url, expected in (("https://hub.example.org", "max-age=31536000"),
                                 ("http://127.0.0.1:8000", None)):
        app = create_app(make_settings(db_url, tmp_path / public_url[:5], PUBLIC_URL=public_url))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as c:
            for path in ("/healthz", "/api/events", "/"):
                r = await c.get(path)
                assert r.headers.get("strict-transport-security") == expected, (public_url, path)


async def test_trailing_slash_redirects_never_name_the_requests_host(
    client: httpx.AsyncClient,
) -> None:
    """A forged Host header must not become the redirect's target (open redirect)."""
    for path, target in (("/api/events/", "/api/events"), ("/static", "/static/"),
                         ("/api/openapi.json/?a=b&c=%2F", "/api/openapi.json?a=b&c=%2F")):
        r = await client.get(path, headers={"Host": "evil.example"})
        assert r.status_code == 307, (path, r.status_code)
        assert r.headers["location"] == target
        assert_locked_down(r, f"redirect {path}")
    # A path that no route takes either way is a plain 404, not a redirect.
    r = await client.get("/api/no-such-thing/", headers={"Host": "evil.example"})
    assert r.status_code == 404 and "location" not in r.headers
