"""Registering participants and setting a password from an invitation, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from storage.models import Enrolment, Event, Invitation, Role, utcnow
from storage.repo.accounts import token_hash
from tests.conftest import login, make_user, unique_email

NEW_PASSWORD = "a brand new passphrase"


async def make_event(services: Any, **roles: Any) -> Event:
    async with services.db.session() as db:
        now = utcnow()
        event = Event(title="Course", starts_at=now, ends_at=now + dt.timedelta(hours=3))
        db.add(event)
        await db.flush()
        for role, users in roles.items():
            for user in users if isinstance(users, list) else [users]:
                db.add(Enrolment(user_id=user.id, event_id=event.id, role=Role(role).value))
    return event


def token_of(url: str) -> str:
    assert url.startswith("http://testserver/invite/")
    return url.rsplit("/", 1)[1]


async def test_trainer_registers_participant_who_sets_password(
    client: httpx.AsyncClient, services: Any
) -> None:
    trainer = await make_user(services)
    event = await make_event(services, trainer=trainer)
    await login(client, trainer.email)
    email = unique_email("new")
    r = await client.post(
        "/api/invitations", json={"email": email, "display_name": "New One", "event_id": event.id}
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["created"] and out["enrolled"] and out["email"] == email
    token = token_of(out["invite_url"])

    anon = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with anon:
        r = await anon.get(f"/api/invitations/{token}")
        assert r.status_code == 200 and r.json()["display_name"] == "New One"
        # No password yet: the account cannot sign in.
        r = await anon.post("/api/login", json={"email": email, "password": NEW_PASSWORD})
        assert r.status_code == 401
        r = await anon.post("/api/invitations/accept", json={"token": token, "password": "short"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "weak_password"
        r = await anon.post(
            "/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
        )
        assert r.status_code == 200 and r.json()["email"] == email
        assert (await anon.get("/api/me")).json()["email"] == email
        r = await anon.get("/api/events")
        assert [(e["id"], e["my_role"]) for e in r.json()["events"]] == [(event.id, "participant")]
        # Single use.
        anon.headers["X-CSRF-Token"] = (await anon.get("/api/me")).json()["csrf_token"]
        r = await anon.post(
            "/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
        )
        assert r.status_code == 410 and r.json()["error"]["code"] == "invitation_used"
        assert (await anon.get(f"/api/invitations/{token}")).status_code == 410
    r = await client.post("/api/login", json={"email": email, "password": NEW_PASSWORD})
    assert r.status_code == 200


async def test_expired_and_unknown_tokens(client: httpx.AsyncClient, services: Any) -> None:
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    r = await client.post(
        "/api/invitations", json={"email": unique_email(), "display_name": "Late"}
    )
    assert r.status_code == 201 and r.json()["enrolled"] is False
    token = token_of(r.json()["invite_url"])
    async with services.db.session() as db:
        inv = await db.get(Invitation, token_hash(token))
        assert inv is not None
        inv.expires_at = utcnow() - dt.timedelta(seconds=1)
    r = await client.post(
        "/api/invitations/accept", json={"token": token, "password": NEW_PASSWORD}
    )
    assert r.status_code == 410 and r.json()["error"]["code"] == "invitation_expired"
    r = await client.post(
        "/api/invitations/accept", json={"token": "nope", "password": NEW_PASSWORD}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "invitation_unknown"


async def test_who_may_register(client: httpx.AsyncClient, services: Any) -> None:
    participant, trainer, other_trainer = [await make_user(services) for _ in range(3)]
    event = await make_event(services, participant=participant, trainer=trainer)
    other = await make_event(services, trainer=other_trainer)
    body = {"email": unique_email(), "display_name": "X", "event_id": event.id}
    await login(client, participant.email)
    assert (await client.post("/api/invitations", json=body)).status_code == 403
    await login(client, other_trainer.email)
    assert (await client.post("/api/invitations", json=body)).status_code == 403
    # A trainer needs an event; only admins register without one.
    r = await client.post("/api/invitations", json={"email": unique_email(), "display_name": "X"})
    assert r.status_code == 403
    r = await client.post("/api/invitations", json={**body, "event_id": 10**12})
    assert r.status_code == 404
    assert other.id != event.id


async def test_trainer_gets_no_link_for_staff_or_strangers(
    client: httpx.AsyncClient, services: Any
) -> None:
    trainer = await make_user(services)
    event = await make_event(services, trainer=trainer)
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    # An admin registers a password-less account that organises another event.
    org_email = unique_email("org")
    r = await client.post("/api/invitations", json={"email": org_email, "display_name": "Org"})
    elsewhere = await make_event(services)
    r = await client.post(
        f"/api/events/{elsewhere.id}/enrolments", json={"email": org_email, "role": "organiser"}
    )
    assert r.status_code == 201, r.text
    await login(client, trainer.email)
    r = await client.post(
        "/api/invitations", json={"email": org_email, "display_name": "Org", "event_id": event.id}
    )
    assert r.status_code == 201
    # Enrolled as participant here, but no link: holding it would let the trainer
    # become an organiser of another event.
    assert r.json()["invite_url"] is None and r.json()["created"] is False
    # Same email again: no second account, enrolment unchanged.
    fresh = unique_email()
    for expected_created in (True, False):
        r = await client.post(
            "/api/invitations", json={"email": fresh, "display_name": "F", "event_id": event.id}
        )
        assert r.json()["created"] is expected_created
        assert r.json()["invite_url"] is not None  # still no password: a new link


async def test_trainer_gets_no_link_for_an_account_in_no_event(
    client: httpx.AsyncClient, services: Any
) -> None:
    """An admin makes an account for someone not enrolled anywhere yet (a future
    organiser, say). A trainer who enrols it into their own event must not get its
    set-password link: whoever holds the link becomes that person."""
    trainer = await make_user(services)
    event = await make_event(services, trainer=trainer)
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    email = unique_email("pending")
    r = await client.post("/api/invitations", json={"email": email, "display_name": "Pending"})
    assert r.status_code == 201 and r.json()["invite_url"] is not None, r.text
    await login(client, trainer.email)
    r = await client.post(
        "/api/invitations", json={"email": email, "display_name": "Pending", "event_id": event.id}
    )
    assert r.status_code == 201, r.text
    assert r.json()["enrolled"] is True  # the enrolment is made ...
    assert r.json()["created"] is False and r.json()["invite_url"] is None  # ... the key is not given
    # Only the admin's link exists for it: none was made for the trainer.
    from sqlalchemy import func, select

    from storage.models import User

    async with services.db.session() as db:
        user_id = await db.scalar(select(User.id).where(User.email == email))
        links = await db.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.user_id == user_id)
        )
    assert links == 1
