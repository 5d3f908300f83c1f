"""'Forgot password?' and its mailed link, on both backends: one answer for every address,
single use, expiry, every session ended, an admin's link left alone, throttles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from storage.models import Invitation, User, utcnow
from storage.repo.accounts import token_hash
from storage.repo.invitations import InvitationInvalid
from storage.repo.own_password import reset_link_for
from tests.conftest import PASSWORD, login, make_user, unique_email
from tests.password_support import (
    own_client,
    reset_mails,
    settle,
    wait_for_reset_links,
)

NEW_PASSWORD = "seven purple lanterns drifting"


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/password/forgot", json={"email": email})


async def test_the_same_answer_for_every_address(app: Any, services: Any) -> None:
    """Known, unknown and blocked addresses get the same status and body; only the
    active account is mailed, with a text and an HTML part carrying the link."""
    known = await make_user(services, name="Known Person")
    blocked = await make_user(services)
    async with services.db.session() as db:
        row = await db.get(User, blocked.id)
        assert row is not None
        row.status = "blocked"
    async with own_client(app) as anon:
        answers = [await forgot(anon, e) for e in (known.email, unique_email(), blocked.email)]
    assert {r.status_code for r in answers} == {202}
    assert len({r.content for r in answers}) == 1, [r.text for r in answers]
    # Upper case and spaces are the same address.
    async with own_client(app) as anon:
        again = await forgot(anon, f"  {known.email.upper()} ")
    assert again.status_code == 202 and again.content == answers[0].content
    [token] = await wait_for_reset_links(services, known.email)
    await settle(services)
    # The second request came moments after the first: one link, one mail.
    [mail] = await reset_mails(services, known.email)
    assert mail.subject == "Choose a new classhub password"
    assert f"http://testserver/reset-password/{token}" in mail.body_text
    assert mail.body_html is not None
    assert f'href="http://testserver/reset-password/{token}"' in mail.body_html
    assert mail.body_html.rstrip().endswith("</html>")
    assert await reset_mails(services, blocked.email) == []


async def test_the_link_is_single_use_and_ends_every_session(app: Any, services: Any) -> None:
    user = await make_user(services, name="Forgetful Fred")
    async with own_client(app) as first, own_client(app) as second, own_client(app) as anon:
        await login(first, user.email)
        await login(second, user.email)
        assert (await forgot(anon, user.email)).status_code == 202
        [token] = await wait_for_reset_links(services, user.email)
        r = await anon.get(f"/api/password/reset/{token}")
        assert r.status_code == 200
        assert r.json() == {"email": user.email, "display_name": "Forgetful Fred"}
        r = await anon.post("/api/password/reset", json={"token": token, "password": "fred1234"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "weak_password"
        # A refused password does not use the link up.
        r = await anon.post("/api/password/reset", json={"token": token, "password": NEW_PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "reset", "sessions_ended": 2}
        for signed_in in (first, second):
            assert (await signed_in.get("/api/me")).status_code == 401
        r = await anon.post("/api/password/reset", json={"token": token, "password": NEW_PASSWORD})
        assert r.status_code == 410 and r.json()["error"]["code"] == "invitation_used"
        assert "password reset link was used already" in r.json()["error"]["message"]
        assert (await anon.get(f"/api/password/reset/{token}")).status_code == 410
        r = await anon.post("/api/login", json={"email": user.email, "password": PASSWORD})
        assert r.status_code == 401
        await login(anon, user.email, NEW_PASSWORD)
        # The activity log says what happened, to the person's own data.
        r = await anon.get("/api/me/data")
        actions = [a["action"] for a in r.json()["activity"]]
        assert "password_reset_requested" in actions and "password_reset" in actions


async def test_an_expired_link_says_so(app: Any, services: Any) -> None:
    user = await make_user(services)
    async with own_client(app) as anon:
        await forgot(anon, user.email)
        [token] = await wait_for_reset_links(services, user.email)
        async with services.db.session() as db:
            link = await db.get(Invitation, token_hash(token))
            assert link is not None and link.purpose == "reset"
            ttl = services.settings.password_reset_ttl_secs
            assert link.expires_at - link.created_at == dt.timedelta(seconds=ttl)
            # A fixed clock just past the lifetime.
            with pytest.raises(InvitationInvalid) as err:
                await reset_link_for(db, token, now=link.expires_at)
            assert err.value.code == "invitation_expired"
            link.expires_at = utcnow() - dt.timedelta(seconds=1)
        r = await anon.get(f"/api/password/reset/{token}")
        assert r.status_code == 410 and r.json()["error"]["code"] == "invitation_expired"
        assert "has expired; ask for a new one" in r.json()["error"]["message"]
        r = await anon.post("/api/password/reset", json={"token": token, "password": NEW_PASSWORD})
        assert r.status_code == 410
        r = await anon.post("/api/password/reset", json={"token": "nope", "password": NEW_PASSWORD})
        assert r.status_code == 404
    async with own_client(app) as anon:
        await login(anon, user.email)  # the old password still works


async def test_an_admins_link_is_not_cancelled(app: Any, services: Any) -> None:
    """Asking for a link leaves an admin's reset link working; a set-password or join
    link is no reset link, and a reset link cannot replace the password twice."""
    admin = await make_user(services, admin=True)
    user = await make_user(services)
    async with own_client(app) as adm, own_client(app) as anon:
        await login(adm, admin.email)
        r = await adm.post(f"/api/admin/users/{user.id}/reset-password", json={"reason": "asked"})
        assert r.status_code == 200, r.text
        admin_token = r.json()["reset_url"].rsplit("/", 1)[1]
        await forgot(anon, user.email)
        [token] = await wait_for_reset_links(services, user.email)
        assert (await anon.get(f"/api/password/reset/{admin_token}")).status_code == 404
        r = await anon.post(
            "/api/invitations/accept", json={"token": admin_token, "password": NEW_PASSWORD}
        )
        assert r.status_code == 200, r.text
    async with own_client(app) as anon:
        # Setting the password used up the other password links.
        r = await anon.post("/api/password/reset", json={"token": token, "password": PASSWORD})
        assert r.status_code == 410


async def test_terminating_and_deleted_accounts_get_no_link(app: Any, services: Any) -> None:
    leaving = await make_user(services)
    async with services.db.session() as db:
        row = await db.get(User, leaving.id)
        assert row is not None
        row.status = "terminating"
    async with own_client(app) as anon:
        assert (await forgot(anon, leaving.email)).status_code == 202
    await settle(services)
    assert await reset_mails(services, leaving.email) == []


async def test_requests_are_throttled_per_address_and_per_client(
    app: Any, services: Any
) -> None:
    settings = services.settings
    user = await make_user(services)
    unknown = unique_email("nobody")
    for email in (user.email, unknown):
        async with own_client(app) as anon:
            for _ in range(settings.password_reset_per_address):
                assert (await forgot(anon, email)).status_code == 202
        async with own_client(app) as other:  # another client: the address's count holds
            r = await forgot(other, email.upper())
            assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_requests"
            assert int(r.headers["Retry-After"]) > 0
    async with own_client(app) as anon:
        for _ in range(settings.password_reset_per_ip):
            assert (await forgot(anon, unique_email())).status_code == 202
        r = await forgot(anon, unique_email())
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    await settle(services)
    assert len(await reset_mails(services, user.email)) == 1
    # The sign-in throttle is a count of its own.
    async with own_client(app) as anon:
        await login(anon, user.email)
