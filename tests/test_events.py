"""Events, members, enrolment (one by one and by CSV) and learning groups over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import login, make_user, unique_email
from tests.mail_links import links_in_outbox
from tests.test_invitations import make_event

EVENT = {
    "title": "Facilitation basics",
    "starts_at": "2026-12-01T09:00:00Z",
    "ends_at": "2026-12-01T17:00:00+01:00",
    "location": "Room 4",
}


async def test_admin_creates_event_others_cannot(client: httpx.AsyncClient, services: Any) -> None:
    user = await make_user(services)
    await login(client, user.email)
    assert (await client.post("/api/events", json=EVENT)).status_code == 403
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    r = await client.post("/api/events", json=EVENT)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["title"] == EVENT["title"] and out["my_role"] is None
    assert out["ends_at"].startswith("2026-12-01T16:00:00")  # stored as UTC
    r = await client.get(f"/api/events/{out['id']}")
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    bad = {**EVENT, "ends_at": EVENT["starts_at"]}
    assert (await client.post("/api/events", json=bad)).status_code == 422
    naive = {**EVENT, "starts_at": "2026-12-01T09:00:00"}
    assert (await client.post("/api/events", json=naive)).status_code == 422


async def test_roles_members_and_email_visibility(client: httpx.AsyncClient, services: Any) -> None:
    p1, p2, trainer, organiser, outsider = [await make_user(services, name=n) for n in "ABCDE"]
    event = await make_event(services, participant=[p1, p2], trainer=trainer, organiser=organiser)
    for who, role, sees_emails in (
        (p1, "participant", False),
        (trainer, "trainer", True),
        (organiser, "organiser", True),
    ):
        await login(client, who.email)
        assert (await client.get(f"/api/events/{event.id}")).json()["my_role"] == role
        assert event.id in [e["id"] for e in (await client.get("/api/events")).json()["events"]]
        members = (await client.get(f"/api/events/{event.id}/members")).json()["members"]
        assert [m["role"] for m in members] == [
            "organiser",
            "trainer",
            "participant",
            "participant",
        ]
        assert {m["display_name"] for m in members} == {"A", "B", "C", "D"}
        assert all((m["email"] is not None) is sees_emails for m in members)
    await login(client, outsider.email)
    assert (await client.get(f"/api/events/{event.id}")).status_code == 403
    assert (await client.get(f"/api/events/{event.id}/members")).status_code == 403
    assert (await client.get("/api/events/999999999")).status_code == 404
    assert (await client.get("/api/events")).json() == {"events": []}


async def test_enrol_one_by_one(client: httpx.AsyncClient, services: Any) -> None:
    organiser, trainer, existing = [await make_user(services) for _ in range(3)]
    event = await make_event(services, organiser=organiser, trainer=trainer)
    url = f"/api/events/{event.id}/enrolments"
    await login(client, trainer.email)
    assert (await client.post(url, json={"email": existing.email})).status_code == 403
    await login(client, organiser.email)
    # Someone outside the organiser's events: offered by mail, not enrolled, nothing told.
    r = await client.post(
        url, json={"email": existing.email, "display_name": "E", "role": "trainer"}
    )
    assert r.status_code == 201 and r.json()["offered"] is True and r.json()["user_id"] is None
    assert r.json()["invite_url"] is None and r.json()["created"] is None
    # A name is asked of every address, known or not (the question tells nothing).
    for email in (unique_email(), existing.email):
        r = await client.post(url, json={"email": email})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_name"
    r = await client.post(url, json={"email": unique_email(), "display_name": "Newbie"})
    assert r.status_code == 201 and r.json()["offered"] is True and r.json()["invite_url"] is None
    r = await client.post(url, json={"email": "not-an-email", "display_name": "N"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_email"
    members = (await client.get(f"{url[:-11]}/members")).json()["members"]
    assert existing.id not in {m["user_id"] for m in members}
    # The person follows the mailed offer: enrolled as offered.
    [token] = await links_in_outbox(services.db, existing.email)
    r = await client.post("/api/invitations/join", json={"token": token})
    assert r.status_code == 200 and r.json()["event_id"] == event.id, r.text
    roles = {
        m["user_id"]: m["role"]
        for m in (await client.get(f"{url[:-11]}/members")).json()["members"]
    }
    assert roles[existing.id] == "trainer"
    # Now someone the organiser has in an event: enrolled at once, and told so.
    r = await client.post(
        url, json={"email": existing.email, "display_name": "E", "role": "participant"}
    )
    assert r.status_code == 201 and r.json()["user_id"] == existing.id and r.json()["enrolled"]
    r = await client.delete(f"{url}/{existing.id}")
    assert r.status_code == 200
    assert (await client.delete(f"{url}/{existing.id}")).status_code == 404


async def test_enrol_by_csv_reports_bad_rows_keeps_good(
    client: httpx.AsyncClient, services: Any
) -> None:
    organiser, existing = await make_user(services), await make_user(services, name="Known")
    admin = await make_user(services, admin=True)
    event = await make_event(services, organiser=organiser)
    new1, new2, multi = unique_email("csv"), unique_email("csv"), unique_email("csv")
    text = (
        "email,display_name,role\n"
        f"{new1},Ann Example,participant\n"  # line 2: new account
        "not-an-email,Bad,participant\n"  # line 3: bad email
        f"{existing.email},Known,TRAINER\n"  # line 4: existing account, role upper-case
        f"{new2},,participant\n"  # line 5: new account without a name
        f"{unique_email()},Zed,boss\n"  # line 6: unknown role
        "\n"  # line 7: blank, skipped
        f"{new1.upper()},Ann Again,participant\n"  # line 8: duplicate of line 2
        f'"{multi}","Multi\nLine",participant\n'  # line 9-10: quoted newline is fine
    )
    await login(client, organiser.email)
    r = await client.post(
        f"/api/events/{event.id}/enrolments/csv",
        files={"file": ("people.csv", text.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert [e["line"] for e in out["errors"]] == [3, 5, 6, 8]
    assert "display_name" in out["errors"][1]["error"]
    assert "line 2" in out["errors"][3]["error"]
    enrolled = {e["email"]: e for e in out["enrolled"]}
    assert len(enrolled) == 3
    # An organiser learns nothing about the accounts behind the addresses: every good row
    # is an offer mailed to the person, whether the address was new or known elsewhere.
    assert all(
        e["offered"] and e["user_id"] is None and e["invite_url"] is None for e in enrolled.values()
    )
    members = (await client.get(f"/api/events/{event.id}/members")).json()["members"]
    assert existing.email not in {m["email"] for m in members}
    # An admin's upload enrols at once and hands over the links of new accounts.
    await login(client, admin.email)
    other = await make_event(services)
    text = (
        f"email,display_name,role\n{unique_email('csv')},Ann,participant\n"
        f"{existing.email},,TRAINER\n"
    )
    r = await client.post(
        f"/api/events/{other.id}/enrolments/csv",
        files={"file": ("people.csv", text.encode(), "text/csv")},
    )
    assert r.status_code == 200 and r.json()["errors"] == [], r.text
    created = [e for e in r.json()["enrolled"] if e["created"]]
    assert len(created) == 1 and created[0]["invite_url"]
    members = (await client.get(f"/api/events/{other.id}/members")).json()["members"]
    assert {m["email"]: m["role"] for m in members}[existing.email] == "trainer"
    await login(client, organiser.email)
    # Whole-file problems are one clear 4xx.
    r = await client.post(
        f"/api/events/{event.id}/enrolments/csv",
        files={"file": ("x.csv", b"name,role\nA,participant\n", "text/csv")},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_csv"
    r = await client.post(
        f"/api/events/{event.id}/enrolments/csv", files={"file": ("x.csv", b"\xff\xfe", "text/csv")}
    )
    assert r.status_code == 400
    r = await client.post(f"/api/events/{event.id}/enrolments/csv", json={"x": 1})
    assert r.status_code == 415
    r = await client.post(f"/api/events/{event.id}/enrolments/csv", files={"other": ("x", b"a")})
    assert r.status_code == 422


async def test_groups(client: httpx.AsyncClient, services: Any) -> None:
    p1, p2, trainer, outsider = [await make_user(services) for _ in range(4)]
    event = await make_event(services, participant=[p1, p2], trainer=trainer)
    await login(client, p1.email)
    r = await client.post(f"/api/events/{event.id}/groups", json={"name": "Red"})
    assert r.status_code == 403
    await login(client, trainer.email)
    r = await client.post(
        f"/api/events/{event.id}/groups", json={"name": "Red", "member_ids": [p1.id]}
    )
    assert r.status_code == 201, r.text
    group = r.json()
    assert [m["user_id"] for m in group["members"]] == [p1.id]
    assert (
        await client.post(f"/api/events/{event.id}/groups", json={"name": "Red"})
    ).status_code == 409
    r = await client.post(f"/api/groups/{group['id']}/members", json={"user_id": p2.id})
    assert r.status_code == 200 and len(r.json()["members"]) == 2
    r = await client.post(f"/api/groups/{group['id']}/members", json={"user_id": outsider.id})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_enrolled"
    r = await client.delete(f"/api/groups/{group['id']}/members/{p1.id}")
    assert r.status_code == 200
    assert (await client.delete(f"/api/groups/{group['id']}/members/{p1.id}")).status_code == 404
    await login(client, p2.email)
    groups = (await client.get(f"/api/events/{event.id}/groups")).json()["groups"]
    assert [[m["user_id"] for m in g["members"]] for g in groups] == [[p2.id]]
    assert (await client.delete(f"/api/groups/{group['id']}/members/{p2.id}")).status_code == 403
    # Ending the enrolment ends the group membership too.
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    assert (await client.delete(f"/api/events/{event.id}/enrolments/{p2.id}")).status_code == 200
    groups = (await client.get(f"/api/events/{event.id}/groups")).json()["groups"]
    assert groups[0]["members"] == []


INJECTING_ADDRESSES = [
    "victim@example.org\r\nBcc:spy@evil.example",  # a line break starts a new mail header
    "victim@example.org\nx",
    "victim@example.org,spy@evil.example",  # a second recipient inside To:
    "Spy <spy@evil.example>",
    "victim@example.org\u2028x",
]


async def test_addresses_that_would_break_mail_headers_are_refused(
    client: httpx.AsyncClient, services: Any
) -> None:
    """Every address is mailed to one day (invitations, bulk mail): one that carries a
    line break or a second recipient is refused where it comes in, and nothing is made."""
    organiser = await make_user(services)
    event = await make_event(services, organiser=organiser)
    await login(client, organiser.email)
    for address in INJECTING_ADDRESSES:
        r = await client.post(
            f"/api/events/{event.id}/enrolments", json={"email": address, "display_name": "X"}
        )
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_email"), address
    csv_text = "email,display_name\n" + "".join(
        f'"{a}",Row {i}\n' for i, a in enumerate(INJECTING_ADDRESSES)
    )
    r = await client.post(
        f"/api/events/{event.id}/enrolments/csv",
        files={"file": ("people.csv", csv_text.encode(), "text/csv")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["enrolled"] == []
    assert len(r.json()["errors"]) == len(INJECTING_ADDRESSES)
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    r = await client.post(
        "/api/invitations", json={"email": INJECTING_ADDRESSES[0], "display_name": "X"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_email")
    members = (await client.get(f"/api/events/{event.id}/members")).json()["members"]
    assert [m["user_id"] for m in members] == [organiser.id]
    # Ordinary addresses still pass, tags and non-ASCII included.
    for address in (unique_email("tag+x"), f"ünï-{unique_email()}"):
        r = await client.post(
            f"/api/events/{event.id}/enrolments", json={"email": address, "display_name": "Y"}
        )
        assert r.status_code == 201, (address, r.text)


async def test_an_admins_read_of_an_events_people_is_audited(
    client: httpx.AsyncClient, services: Any
) -> None:
    """Names and addresses of a whole event, read by an admin who takes no part in it, are
    audited like a page of the account list; the event's own people read it freely."""
    from sqlalchemy import select

    from storage.models import AuditEntry

    async def rows(target: str) -> list[AuditEntry]:
        async with services.db.session() as db:
            found = await db.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "members.read", AuditEntry.target == target
                )
            )
            return list(found.scalars())

    organiser, participant = await make_user(services), await make_user(services)
    event = await make_event(services, organiser=organiser, participant=[participant])
    target = f"event:{event.id}"
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    r = await client.get(f"/api/events/{event.id}/members")
    assert r.status_code == 200 and {m["email"] for m in r.json()["members"]} == {
        organiser.email,
        participant.email,
    }
    audited = await rows(target)
    assert [(a.actor_id, a.detail) for a in audited] == [(admin.id, {"returned": 2})]
    for person in (organiser, participant):
        await login(client, person.email)
        assert (await client.get(f"/api/events/{event.id}/members")).status_code == 200
    assert len(await rows(target)) == 1
