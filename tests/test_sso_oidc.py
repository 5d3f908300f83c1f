"""OpenID Connect sign-in against a real provider on 127.0.0.1 (tests/sso_support.py), on
SQLite and PostgreSQL: the verified address finds the account (or makes it, when allowed),
and everything else is refused with a page that says why."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select

from storage.models import ActivityEntry, User
from tests.conftest import PASSWORD, make_user
from tests.sso_support import Provider, browser, oidc_env, oidc_provider, provider_sign_in, sso_app


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        yield running


def _address(domain: str = "school.example") -> str:
    return f"oidc-{uuid.uuid4().hex[:10]}@{domain}"


async def _activity(services: Any, user_id: int | None, action: str) -> list[str]:
    async with services.db.session() as db:
        rows = await db.scalars(
            select(ActivityEntry.target).where(
                ActivityEntry.user_id == user_id, ActivityEntry.action == action
            )
        )
        return list(rows)


def _refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["x-classhub-error"] == code, r.text
    assert "Sign-in refused" in r.text


async def test_a_verified_address_signs_in_to_its_account(
    provider: Provider, db_url: str, tmp_path: Path
) -> None:
    async with sso_app(db_url, tmp_path / "var", **oidc_env(provider)) as app:
        services = app.state.services
        user = await make_user(services, name="Existing Person")
        provider.set_user("existing", email=user.email.upper(), email_verified=True, name="X")
        refused_before = provider.guard.refused
        async with browser(app) as client:
            r = await provider_sign_in(client, "existing", "/auth/oidc/start?next=/me")
            assert r.status_code == 200 and urlsplit(str(r.url)).path == "/me", r.url
            me = await client.get("/api/me")
            assert me.status_code == 200, me.text
            assert me.json()["id"] == user.id and me.json()["display_name"] == "Existing Person"
            # The flow's cookie is gone: the answer cannot be replayed in this browser.
            assert "classhub_oidc" not in client.cookies
        assert provider.guard.refused == refused_before  # PKCE verifier matched the challenge
        assert await _activity(services, user.id, "login") == ["via oidc"]


async def test_pkce_state_and_nonce_are_sent(provider: Provider, db_url: str, tmp_path: Path
                                             ) -> None:
    async with sso_app(db_url, tmp_path / "var", **oidc_env(provider)) as app, browser(app) as c:
        c.follow_redirects = False
        r = await c.get("/auth/oidc/start")
        assert r.status_code == 303
        query = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
        assert query["redirect_uri"] == "http://testserver/auth/oidc/callback"
        assert query["scope"] == "openid email profile"
        assert query["client_id"] == "classhub-test"


@pytest.mark.parametrize("create", ["on", "off"])
async def test_first_sign_in_makes_the_account_only_when_allowed(
    provider: Provider, db_url: str, tmp_path: Path, create: str
) -> None:
    env = oidc_env(provider, OIDC_CREATE_ACCOUNTS=create)
    async with sso_app(db_url, tmp_path / "var", **env) as app, browser(app) as client:
        email = _address()
        provider.set_user(f"new-{create}", email=email, email_verified=True, name="New  Person")
        r = await provider_sign_in(client, f"new-{create}")
        async with app.state.services.db.session() as db:
            made = (await db.execute(select(User).where(User.email == email))).scalar_one_or_none()
        if create == "off":
            _refused(r, 403, "no_account")
            assert made is None
            assert (await client.get("/api/me")).status_code == 401
            return
        assert r.status_code == 200, r.text
        assert made is not None and made.display_name == "New Person"
        assert made.password_hash is None
        assert (await client.get("/api/me")).json()["email"] == email


async def test_only_allowed_domains_sign_in(provider: Provider, db_url: str, tmp_path: Path
                                            ) -> None:
    env = oidc_env(provider, OIDC_CREATE_ACCOUNTS="on", OIDC_ALLOWED_DOMAINS="school.example")
    async with sso_app(db_url, tmp_path / "var", **env) as app, browser(app) as client:
        provider.set_user("outsider", email=_address("elsewhere.example"), email_verified=True)
        _refused(await provider_sign_in(client, "outsider"), 403, "domain_not_allowed")
        provider.set_user("insider", email=_address(), email_verified=True)
        assert (await provider_sign_in(client, "insider")).status_code == 200


async def test_an_unverified_address_is_refused_even_for_an_existing_account(
    provider: Provider, db_url: str, tmp_path: Path
) -> None:
    async with sso_app(db_url, tmp_path / "var", **oidc_env(provider)) as app:
        victim = await make_user(app.state.services)
        async with browser(app) as client:
            for sub, flag in (("unverified", False), ("no-flag", None)):
                claims: dict[str, Any] = {"email": victim.email}
                if flag is not None:
                    claims["email_verified"] = flag
                provider.set_user(sub, **claims)
                _refused(await provider_sign_in(client, sub), 403, "email_not_verified")
            assert (await client.get("/api/me")).status_code == 401
        failures = await _activity(app.state.services, None, "login_failed")
        assert failures.count("via oidc: email_not_verified") == 2


async def test_a_blocked_account_is_refused(provider: Provider, db_url: str, tmp_path: Path
                                            ) -> None:
    async with sso_app(db_url, tmp_path / "var", **oidc_env(provider)) as app:
        services = app.state.services
        user = await make_user(services)
        async with services.db.session() as db:
            row = await db.get(User, user.id)
            assert row is not None
            row.status = "blocked"
        provider.set_user("blocked", email=user.email, email_verified=True)
        async with browser(app) as client:
            r = await provider_sign_in(client, "blocked")
            _refused(r, 403, "account_blocked")
            assert "this account is blocked" in r.text


async def test_a_tampered_state_is_refused(provider: Provider, db_url: str, tmp_path: Path
                                           ) -> None:
    async with sso_app(db_url, tmp_path / "var", **oidc_env(provider)) as app:
        user = await make_user(app.state.services)
        provider.set_user("state", email=user.email, email_verified=True)
        async with browser(app) as client:
            form = await client.get("/auth/oidc/start")
            client.follow_redirects = False
            answer = await client.post(str(form.url), data={"sub": "state"})
            callback = urlsplit(answer.headers["location"])
            query = {k: v[0] for k, v in parse_qs(callback.query).items()}
            query["state"] = query["state"][:-2] + "xx"
            r = await client.get(f"{callback.path}?{urlencode(query)}")
            _refused(r, 400, "state_mismatch")
            # Without the browser's flow cookie (another browser, or a forged link): refused.
            client.cookies.clear()
            r = await client.get(f"{callback.path}?{callback.query}")
            _refused(r, 400, "flow_missing")
            assert (await client.get("/api/me")).status_code == 401


async def test_an_id_token_for_another_sign_in_is_refused_by_its_nonce(
    provider: Provider, db_url: str, tmp_path: Path
) -> None:
    """An attacker starts a sign-in, and plants its state in the victim's flow: the state
    then matches, but the ID token carries the attacker's nonce, not the victim's."""
    async with sso_app(db_url, tmp_path / "var", **oidc_env(provider)) as app:
        user = await make_user(app.state.services)
        provider.set_user("nonce", email=user.email, email_verified=True)
        async with browser(app) as attacker, browser(app) as victim:
            form = await attacker.get("/auth/oidc/start")
            attacker_url = urlsplit(str(form.url))
            victim.follow_redirects = False

            async def answer_with(**victims: str) -> httpx.Response:
                """A fresh sign-in of the victim, answered with the attacker's request in
                which the victim's values named (state, code_challenge) were planted."""
                started = await victim.get("/auth/oidc/start")
                planted = parse_qs(urlsplit(started.headers["location"]).query)
                query = {k: v[0] for k, v in parse_qs(attacker_url.query).items()}
                query.update({name: planted[name][0] for name in victims})
                answer = await victim.post(
                    f"{provider.issuer}{attacker_url.path}?{urlencode(query)}",
                    data={"sub": "nonce"},
                )
                return await victim.get(answer.headers["location"])

            # The attacker's PKCE challenge does not match the victim's verifier: refused.
            _refused(await answer_with(state="victim's"), 400, "code_refused")
            # With the victim's (public) challenge too, the nonce is what is left to refuse it.
            r = await answer_with(state="victim's", code_challenge="victim's")
            _refused(r, 400, "bad_token")
            assert "nonce" in r.text
            assert (await victim.get("/api/me")).status_code == 401


async def test_password_sign_in_can_be_switched_off_but_admins_keep_it(
    provider: Provider, db_url: str, tmp_path: Path
) -> None:
    env = oidc_env(provider, PASSWORD_SIGNIN="off")
    async with sso_app(db_url, tmp_path / "var", **env) as app, browser(app) as client:
        services = app.state.services
        options = (await client.get("/api/signin-options")).json()
        assert options == {
            "password": False, "oidc": {"name": "Test School", "start_url": "/auth/oidc/start"}
        }
        person, admin = await make_user(services), await make_user(services, admin=True)
        r = await client.post("/api/login", json={"email": person.email, "password": PASSWORD})
        assert r.status_code == 403 and r.json()["error"]["code"] == "password_signin_off"
        assert "Test School" in r.json()["error"]["message"]
        r = await client.post("/api/login", json={"email": admin.email, "password": "wrong one"})
        assert r.status_code == 401  # the password is checked first: nothing told for free
        r = await client.post("/api/login", json={"email": admin.email, "password": PASSWORD})
        assert r.status_code == 200, r.text


async def test_without_a_provider_the_pages_say_so(db_url: str, tmp_path: Path) -> None:
    async with sso_app(db_url, tmp_path / "var") as app, browser(app) as client:
        assert (await client.get("/api/signin-options")).json() == {"password": True, "oidc": None}
        _refused(await client.get("/auth/oidc/start"), 404, "oidc_off")
        _refused(await client.get("/auth/oidc/callback?code=x&state=y"), 404, "oidc_off")
