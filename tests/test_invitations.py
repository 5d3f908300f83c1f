"""Registering participants and setting a password from an invitation, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from storage.models import Enrolment, Event, Invitation, Role, utcnow
from storage.repo.accounts import token_hash
from tests.conftest import login, make_user, unique_email
from tests.mail_links import links_in_outbox

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


async def mailed_links(services: Any, email: str) -> list[str]:
    """The tokens of the links mailed to ``email`` (the outbox), oldest first."""
    return await links_in_outbox(services.db, email)


async def test_trainer_registers_participant_who_sets_password(
    client: httpx.AsyncClient, services: Any
) -> None:
    """A trainer's invitation of a new address: the answer holds no link and says nothing
    of the account; the person gets the link by mail, sets a password and is enrolled."""
    trainer = await make_user(services)
    event = await make_event(services, trainer=trainer)
    await login(client, trainer.email)
    email = unique_email("new")
    r = await client.post(
        "/api/invitations", json={"email": email, "display_name": "New One", "event_id": event.id}
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "user_id": None, "email": email, "display_name": "New One", "created": None,
        "enrolled": False, "invite_url": None, "offered": True,
    }  # fmt: skip
    [token] = await mailed_links(services, email)

    anon = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with anon:
        r = await anon.get(f"/api/invitations/{token}")
        assert r.status_code == 200 and r.json()["display_name"] == "New One"
        assert r.json()["event_title"] == "Course" and r.json()["has_password"] is False
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
    # No link (holding it would make the trainer an organiser of another event), and not
    # enrolled either: the answer does not even tell that the account exists.
    assert r.json()["invite_url"] is None and r.json()["created"] is None
    assert r.json()["enrolled"] is False and r.json()["offered"] is True
    # Same email again: no second account, and the same answer each time.
    fresh = unique_email()
    answers = []
    for _ in range(2):
        r = await client.post(
            "/api/invitations", json={"email": fresh, "display_name": "F", "event_id": event.id}
        )
        answers.append(r.json())
        assert r.json()["invite_url"] is None
    assert answers[0] == answers[1]
    from sqlalchemy import func, select

    from storage.models import User

    async with services.db.session() as db:
        assert (
            await db.scalar(select(func.count()).select_from(User).where(User.email == fresh)) == 1
        )
    # The offer went out once: a second request within minutes mails nothing new.
    assert len(await mailed_links(services, fresh)) == 1


async def test_trainer_gets_no_link_for_an_account_in_no_event(
    client: httpx.AsyncClient, services: Any
) -> None:
    """An admin makes an account for someone not enrolled anywhere yet (a future
    organiser, say). A trainer who registers it into their own event must not get its
    set-password link: whoever holds the link becomes that person."""
    trainer = await make_user(services)
    event = await make_event(services, trainer=trainer)
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    email = unique_email("pending")
    r = await client.post("/api/invitations", json={"email": email, "display_name": "Pending"})
    assert r.status_code == 201 and r.json()["invite_url"] is not None, r.text
    admin_token = token_of(r.json()["invite_url"])
    await login(client, trainer.email)
    r = await client.post(
        "/api/invitations", json={"email": email, "display_name": "Pending", "event_id": event.id}
    )
    assert r.status_code == 201, r.text
    assert r.json()["enrolled"] is False and r.json()["offered"] is True
    assert r.json()["created"] is None and r.json()["invite_url"] is None
    # The person got an offer by mail; the admin's link still works.
    [offer] = await mailed_links(services, email)
    assert offer != admin_token
    assert (await client.get(f"/api/invitations/{admin_token}")).status_code == 200


async def test_staff_learn_nothing_about_accounts_outside_their_events(
    client: httpx.AsyncClient, services: Any
) -> None:
    """Issue 13, item 6: a trainer's invitation and an organiser's enrolment answer the same
    for a new address, someone else's participant, an admin and a blocked account; none of
    them is enrolled or shown until the person follows the mailed offer."""
    from storage.models import User

    trainer, organiser = await make_user(services), await make_user(services)
    event = await make_event(services, trainer=trainer, organiser=organiser)
    elsewhere_person = await make_user(services, name="Private Person")
    await make_event(services, participant=elsewhere_person)
    an_admin = await make_user(services, admin=True, name="Ada Admin")
    blocked = await make_user(services, name="Blocked Person")
    async with services.db.session() as db:
        row = await db.get(User, blocked.id)
        assert row is not None
        row.status = "blocked"
    targets = [unique_email("new"), elsewhere_person.email, an_admin.email, blocked.email]

    def shape(answer: dict[str, Any], email: str) -> dict[str, Any]:
        assert answer["email"] == email and answer["display_name"] == "Typed Name"
        return {k: v for k, v in answer.items() if k not in ("email", "display_name")}

    for who, path, extra in (
        (trainer, "/api/invitations", {"event_id": event.id}),
        (organiser, f"/api/events/{event.id}/enrolments", {"role": "participant"}),
    ):
        await login(client, who.email)
        answers = []
        for email in targets:
            r = await client.post(
                path, json={"email": email, "display_name": "Typed Name", **extra}
            )
            assert r.status_code == 201, r.text
            answers.append(shape(r.json(), email))
        assert all(a == answers[0] for a in answers), answers
        assert answers[0] == {
            "user_id": None, "created": None, "enrolled": False, "invite_url": None,
            "offered": True,
        }  # fmt: skip
        # Nobody was enrolled, so no profile is shown either (an admin's included).
        members = (await client.get(f"/api/events/{event.id}/members")).json()["members"]
        assert {m["user_id"] for m in members} == {trainer.id, organiser.id}
        for person in (elsewhere_person, an_admin):
            r = await client.get(f"/api/users/{person.id}/profile")
            assert r.status_code in (403, 404) and person.email not in r.text

    # The participant of another event follows the mailed offer: joined, and only now
    # do the event's staff see the profile.
    tokens = await mailed_links(services, elsewhere_person.email)
    assert tokens  # one offer (the second request within minutes mailed nothing new)
    anon = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with anon:
        info = (await anon.get(f"/api/invitations/{tokens[0]}")).json()
        assert info["has_password"] is True and info["event_title"] == "Course"
        # The offer never sets the password of an account that has one.
        r = await anon.post(
            "/api/invitations/accept", json={"token": tokens[0], "password": NEW_PASSWORD}
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "has_password"
        r = await anon.post("/api/invitations/join", json={"token": tokens[0]})
        assert r.status_code == 200 and r.json()["event_id"] == event.id, r.text
        assert (
            await anon.post("/api/invitations/join", json={"token": tokens[0]})
        ).status_code == 410
    await login(client, trainer.email)
    r = await client.get(f"/api/users/{elsewhere_person.id}/profile")
    assert r.status_code == 200 and r.json()["email"] == elsewhere_person.email
    # The blocked account got no mail at all; the admin got an offer like anyone.
    assert await mailed_links(services, blocked.email) == []
    assert len(await mailed_links(services, an_admin.email)) == 1
