"""Changing my own password while signed in, on both backends: the current password
confirms it, the rules hold, my other sessions end and this one stays, guesses are
throttled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storage.settings import Settings
from tests.conftest import PASSWORD, login, make_settings, make_user
from tests.password_support import own_client

NEW_PASSWORD = "otters juggle quietly at dawn"
MAX_FAILURES = 3


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        db_url, tmp_path / "var", LOGIN_MAX_FAILURES_ACCOUNT=str(MAX_FAILURES)
    )


async def test_change_ends_my_other_sessions_and_keeps_this_one(
    app: Any, services: Any
) -> None:
    user = await make_user(services, name="Paula Participant")
    async with own_client(app) as here, own_client(app) as there, own_client(app) as anon:
        await login(here, user.email)
        await login(there, user.email)
        body = {"current_password": "not my password", "new_password": NEW_PASSWORD}
        r = await here.post("/api/me/password", json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "bad_password"
        body = {"current_password": PASSWORD, "new_password": "paula participant 1"}
        r = await here.post("/api/me/password", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "weak_password"
        body = {"current_password": PASSWORD, "new_password": "password123"}
        r = await here.post("/api/me/password", json=body)
        assert r.status_code == 400 and "too easy to guess" in r.json()["error"]["message"]
        # Refusals changed nothing: both sessions live, the old password works.
        assert (await there.get("/api/me")).status_code == 200
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        r = await here.post("/api/me/password", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "changed", "sessions_ended": 1}
        assert (await here.get("/api/me")).status_code == 200
        assert (await there.get("/api/me")).status_code == 401
        r = await anon.post("/api/login", json={"email": user.email, "password": PASSWORD})
        assert r.status_code == 401
        await login(anon, user.email, NEW_PASSWORD)
        actions = [a["action"] for a in (await here.get("/api/me/data")).json()["activity"]]
        assert "password_changed" in actions and "password_check_failed" in actions


async def test_guessing_the_current_password_is_throttled(app: Any, services: Any) -> None:
    """A session is no licence to guess the password behind it: counted with the sign-in
    failures, then 429 whether or not the guess is right."""
    user = await make_user(services)
    async with own_client(app) as here:
        await login(here, user.email)
        for n in range(MAX_FAILURES):
            body = {"current_password": f"guess number {n}", "new_password": NEW_PASSWORD}
            r = await here.post("/api/me/password", json=body)
            assert r.status_code == 403
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        r = await here.post("/api/me/password", json=body)
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
        assert int(r.headers["Retry-After"]) > 0
        assert (await here.get("/api/me")).status_code == 200


async def test_signed_out_and_malformed_requests_are_refused(app: Any, services: Any) -> None:
    user = await make_user(services)
    async with own_client(app) as anon:
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert (await anon.post("/api/me/password", json=body)).status_code == 401
        await login(anon, user.email)
        r = await anon.post("/api/me/password", json={"new_password": NEW_PASSWORD})
        assert r.status_code == 422
        r = await anon.post("/api/me/password", json={**body, "extra": 1})
        assert r.status_code == 422
        del anon.headers["X-CSRF-Token"]
        assert (await anon.post("/api/me/password", json=body)).status_code == 403
