"""Event changes, bulk mail and unsubscribe through the HTTP API, delivered by a real worker."""

from __future__ import annotations

import datetime as dt
import mailbox
from typing import Any

import httpx
from sqlalchemy import select

from storage.models import ChannelEvent, MailCampaign, MailDelivery, User, utcnow
from tests.mail.conftest import (
    Env,
    SmtpServer,
    mail_settings,
    make_event,
    make_people,
    make_worker,
    parts_of,
    sign_in,
    text_of,
)
from web.mail_hub import seen_callback


async def _cast(env: Env, n: int = 3) -> tuple[Any, Any, list[Any], int]:
    organiser, trainer = await make_people(env.services, 2, "staff")
    people = await make_people(env.services, n)
    event_id = await make_event(
        env.services, {"organiser": [organiser], "trainer": [trainer], "participant": people}
    )
    return organiser, trainer, people, event_id


async def test_event_change_is_stored_posted_and_mailed_and_who_has_it(
    env: Env, smtp: SmtpServer
) -> None:
    organiser, trainer, people, event_id = await _cast(env)
    async with env.services.db.session() as db:  # unsubscribed: service mail still comes
        (await db.get(User, people[2].id)).wants_information_mail = False

    await sign_in(env, people[0])
    r = await env.client.post(f"/api/events/{event_id}/changes", json={"location": "Room B"})
    assert r.status_code == 403

    await sign_in(env, organiser)
    new_start = (utcnow() + dt.timedelta(days=8)).replace(microsecond=0)
    r = await env.client.post(
        f"/api/events/{event_id}/changes",
        json={
            "location": "Room B",
            "starts_at": new_start.isoformat(),
            "ends_at": (new_start + dt.timedelta(hours=2)).isoformat(),
            "note": "The projector in room A is broken.",
        },
    )
    assert r.status_code == 201, r.text
    change = r.json()
    assert change["kind"] == "changed" and change["changes"]["location"] == ["Room A", "Room B"]

    async with env.services.db.session() as db:
        news = (
            await db.execute(
                select(ChannelEvent).where(ChannelEvent.channel == f"event:{event_id}:news")
            )
        ).scalar_one()
    assert news.type == "event_changed" and news.seq == change["news_seq"]
    async with env.services.db.session() as db:  # issue 18: the mail links to the event
        campaign_text = (
            await db.execute(
                select(MailCampaign.body_text).where(MailCampaign.id == change["campaign_id"])
            )
        ).scalar_one()
    public = env.services.settings.public_url
    assert f"The event: {public}/events/{event_id}\n" in campaign_text, campaign_text
    assert (
        news.body["change_id"] == change["id"] and news.body["changes"]["location"][1] == "Room B"
    )

    reach = (await env.client.get(f"/api/events/{event_id}/changes/{change['id']}/reach")).json()
    assert reach["summary"] == {"seen": 0, "mailed": 0, "neither": 5}

    # p0 acknowledges over HTTP, p1's client sends the hub's seen frame (twice: tolerated).
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app), base_url="http://testserver")
    async with other:
        await sign_in(env, people[0], other)
        r = await other.post(f"/api/events/{event_id}/changes/{change['id']}/seen")
        assert r.status_code == 200 and r.json()["first"] is True
        r = await other.get(f"/api/events/{event_id}/changes/{change['id']}/reach")
        assert r.status_code == 403  # participants do not see who has it
    on_seen = seen_callback(env.services)
    await on_seen(people[1].id, f"event:{event_id}:news", news.id)
    await on_seen(people[1].id, f"event:{event_id}:news", news.id)
    await on_seen(people[1].id, f"event:{event_id}:chat", news.id)  # not ours: ignored

    await (await make_worker(env.settings, env.services)).run_until_idle()
    got = smtp.handler.by_rcpt()
    everyone = [organiser, trainer, *people]
    assert sorted(got) == sorted(u.email for u in everyone)
    msg = got[people[2].email][0].message
    assert msg["Subject"] == "Python basics: changed" and "List-Unsubscribe" not in msg
    text = text_of(msg)
    assert "Room B (was Room A)" in text and "projector" in text
    # Times as people read them, not ISO 8601 ("2026-11-30T09:00:00+00:00").
    assert f"- Starts: {new_start:%a %d %b %Y, %H:%M} UTC (was " in text
    assert new_start.isoformat() not in text

    reach = (await env.client.get(f"/api/events/{event_id}/changes/{change['id']}/reach")).json()
    by_user = {p["user_id"]: p for p in reach["people"]}
    assert by_user[people[0].id]["state"] == "seen" and by_user[people[0].id]["seen_via"] == "http"
    assert by_user[people[1].id]["state"] == "seen" and by_user[people[1].id]["seen_via"] == "ws"
    assert by_user[people[2].id]["state"] == "mailed"
    assert by_user[people[2].id]["mail_status"] == "sent" and by_user[people[2].id]["email"]
    assert reach["summary"] == {"seen": 2, "mailed": 3, "neither": 0}

    history = (await env.client.get(f"/api/events/{event_id}/changes")).json()["changes"]
    assert [c["id"] for c in history] == [change["id"]]

    r = await env.client.post(f"/api/events/{event_id}/changes", json={"cancel": True})
    assert r.status_code == 201 and r.json()["kind"] == "cancelled"
    r = await env.client.post(f"/api/events/{event_id}/changes", json={"location": "C"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "event_cancelled"
    r = await env.client.post(
        f"/api/events/{event_id}/changes", json={"starts_at": "2026-01-01T10:00:00"}
    )
    assert r.status_code == 422  # no time zone


async def test_event_change_reaches_the_maildir_on_the_embedded_default(
    env: Env, tmp_path: Any
) -> None:
    organiser, trainer, people, event_id = await _cast(env, 2)
    await sign_in(env, organiser)
    r = await env.client.post(
        f"/api/events/{event_id}/changes", json={"cancel": True, "note": "ill"}
    )
    assert r.status_code == 201
    settings = mail_settings(env.settings.database_url, tmp_path / "embedded")
    assert settings.mail is not None and settings.mail.target.scheme == "maildir"
    await (await make_worker(settings, env.services)).run_until_idle()
    box = mailbox.Maildir(tmp_path / "embedded" / "mail", create=False)
    msgs = list(box)
    assert sorted(m["To"].split("<")[1].rstrip(">") for m in msgs) == sorted(
        u.email for u in (organiser, trainer, *people)
    )
    assert {m["Subject"] for m in msgs} == {"Python basics: cancelled"}


async def test_bulk_mail_preview_send_addresses_and_markdown(env: Env, smtp: SmtpServer) -> None:
    organiser, trainer, people, event_id = await _cast(env, 4)
    async with env.services.db.session() as db:
        (await db.get(User, people[3].id)).wants_information_mail = False
    audience = {"kind": "event", "event_id": event_id, "roles": ["participant"]}

    await sign_in(env, people[0])
    r = await env.client.post("/api/mail/preview", json={"audience": audience})
    assert r.status_code == 403

    await sign_in(env, trainer)
    r = await env.client.post(
        "/api/mail/preview", json={"audience": audience, "category": "information"}
    )
    assert r.status_code == 200
    preview = r.json()
    assert (preview["count"], preview["will_send"], preview["suppressed"]) == (4, 3, 1)
    assert {s["email"] for s in preview["sample"]} == {p.email for p in people}

    r = await env.client.post(
        "/api/mail/campaigns",
        json={
            "subject": "Material",
            "body": "Read **chapter 3** <script>x</script>",
            "markdown": True,
            "category": "information",
            "audience": audience,
        },
    )
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert campaign["total"] == 4 and campaign["counts"]["suppressed"] == 1

    await (await make_worker(env.settings, env.services)).run_until_idle()
    got = smtp.handler.by_rcpt()
    assert sorted(got) == sorted(p.email for p in people[:3])
    msg = got[people[0].email][0].message
    _plain, html = parts_of(msg)
    assert "<strong>chapter 3</strong>" in text_of(html)
    assert "&lt;script&gt;" in text_of(html)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith("<http://testserver/unsubscribe/")

    r = await env.client.get(f"/api/mail/campaigns/{campaign['id']}")
    assert r.json()["counts"]["sent"] == 3 and r.json()["done"] is True
    rows = (await env.client.get(f"/api/mail/campaigns/{campaign['id']}/deliveries")).json()
    assert rows["addresses_visible"] is True
    assert {d["email"] for d in rows["deliveries"]} == {p.email for p in people}
    assert {d["status"] for d in rows["deliveries"]} == {"sent", "suppressed"}

    # The organiser of the event (not the sender) sees them too; a participant sees nothing.
    await sign_in(env, organiser)
    rows = (await env.client.get(f"/api/mail/campaigns/{campaign['id']}/deliveries")).json()
    assert rows["addresses_visible"] is True and len(rows["deliveries"]) == 4
    await sign_in(env, people[0])
    r = await env.client.get(f"/api/mail/campaigns/{campaign['id']}/deliveries")
    assert r.status_code == 404


async def test_audiences_by_time_role_and_group_and_scheduled_sending(
    env: Env, smtp: SmtpServer
) -> None:
    from storage.models import GroupMember, LearningGroup

    (trainer,) = await make_people(env.services, 1, "t")
    past_people = await make_people(env.services, 2, "past")
    future_people = await make_people(env.services, 3, "future")
    await make_event(
        env.services, {"trainer": [trainer], "participant": past_people}, starts_in_days=-30
    )
    future = await make_event(
        env.services, {"trainer": [trainer], "participant": future_people}, starts_in_days=3
    )
    async with env.services.db.session() as db:
        group = LearningGroup(event_id=future, name="Team 1")
        db.add(group)
        await db.flush()
        db.add(GroupMember(group_id=group.id, user_id=future_people[0].id))
        group_id = group.id
    await sign_in(env, trainer)

    async def count(audience: dict[str, Any]) -> int:
        r = await env.client.post("/api/mail/preview", json={"audience": audience})
        assert r.status_code == 200, r.text
        return int(r.json()["count"])

    assert await count({"kind": "my_events", "when": "future", "roles": ["participant"]}) == 3
    assert await count({"kind": "my_events", "when": "past", "roles": ["participant"]}) == 2
    assert await count({"kind": "my_events", "when": "current"}) == 0
    assert await count({"kind": "my_events"}) == 6  # both events, the trainer included once
    assert await count({"kind": "group", "group_id": group_id}) == 1
    r = await env.client.post("/api/mail/preview", json={"audience": {"kind": "event"}})
    assert r.status_code == 422
    # A misspelt audience field is refused by name: "role" for "roles" used to be dropped,
    # and the mail went to every role of the events instead of the participants only.
    r = await env.client.post(
        "/api/mail/preview", json={"audience": {"kind": "my_events", "role": ["participant"]}}
    )
    assert r.status_code == 422, r.text
    assert "audience.role" in r.json()["error"]["message"], r.text
    r = await env.client.post(
        "/api/mail/campaigns",
        json={
            "subject": "x",
            "body": "y",
            "category": "service",
            "audience": {"kind": "my_events", "when": "current"},
        },
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_audience"

    later = (utcnow() + dt.timedelta(hours=2)).isoformat()
    r = await env.client.post(
        "/api/mail/campaigns",
        json={
            "subject": "Reminder",
            "body": "See you soon",
            "category": "service",
            "audience": {"kind": "my_events", "when": "future", "roles": ["participant"]},
            "send_at": later,
        },
    )
    assert r.status_code == 201
    await (await make_worker(env.settings, env.services)).run_until_idle()
    assert smtp.handler.count() == 0
    async with env.services.db.session() as db:
        rows = (
            await db.execute(select(MailDelivery).where(MailDelivery.campaign_id == r.json()["id"]))
        ).scalars().all()
    assert len(rows) == 3 and {d.status for d in rows} == {"queued"}
    assert all(d.next_attempt_at > utcnow() + dt.timedelta(hours=1) for d in rows)


async def test_one_click_unsubscribe_needs_post_and_no_cookie(env: Env, smtp: SmtpServer) -> None:
    organiser, _trainer, people, event_id = await _cast(env, 2)
    await sign_in(env, organiser)
    audience = {"kind": "event", "event_id": event_id, "roles": ["participant"]}
    body = {"subject": "News", "body": "Hello", "category": "information", "audience": audience}
    assert (await env.client.post("/api/mail/campaigns", json=body)).status_code == 201
    await (await make_worker(env.settings, env.services)).run_until_idle()
    msg = smtp.handler.by_rcpt()[people[0].email][0].message
    url = msg["List-Unsubscribe"].strip("<>")
    path = url.removeprefix("http://testserver")

    async def wants(user: Any) -> bool:
        async with env.services.db.session() as db:
            return bool((await db.get(User, user.id)).wants_information_mail)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.app), base_url="http://testserver"
    ) as mail_client:  # a mail provider: no cookies, no CSRF header
        r = await mail_client.get(path)
        assert r.status_code == 200 and "<form" in r.text and await wants(people[0])
        r = await mail_client.head(path)
        assert await wants(people[0])
        r = await mail_client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200 and not mail_client.cookies
        assert not await wants(people[0]) and await wants(people[1])
        r = await mail_client.post(path[:-3] + "xyz", content=b"List-Unsubscribe=One-Click")
        assert r.status_code == 404

    # Information mail now skips them; service mail still reaches them.
    r = await env.client.post("/api/mail/campaigns", json=body)
    info = r.json()
    r = await env.client.post("/api/mail/campaigns", json={**body, "category": "service"})
    service = r.json()
    smtp.handler.received.clear()
    await (await make_worker(env.settings, env.services)).run_until_idle()
    assert info["counts"]["suppressed"] == 1
    got = smtp.handler.by_rcpt()
    assert len(got[people[0].email]) == 1 and len(got[people[1].email]) == 2
    assert got[people[0].email][0].message["X-Classhub-Campaign"] == str(service["id"])


async def test_account_erasure_forgets_mail_data(env: Env, smtp: SmtpServer) -> None:
    from storage.models import EventChangeSeen
    from storage.repo.erasure import erase_user

    organiser, _trainer, people, event_id = await _cast(env, 2)
    await sign_in(env, organiser)
    body = {"subject": "A", "body": "b", "category": "service",
            "audience": {"kind": "event", "event_id": event_id, "roles": ["participant"]}}
    assert (await env.client.post("/api/mail/campaigns", json=body)).status_code == 201
    await (await make_worker(env.settings, env.services)).run_until_idle()
    r = await env.client.post(
        "/api/mail/campaigns",
        json={**body, "send_at": (utcnow() + dt.timedelta(days=1)).isoformat()},
    )
    later = r.json()["id"]
    change = (
        await env.client.post(f"/api/events/{event_id}/changes", json={"location": "X"})
    ).json()
    await seen_callback(env.services)(
        people[0].id, f"event:{event_id}:news", 0
    )  # unknown id: ignored
    async with env.services.db.session() as db:
        from storage.repo.event_changes import record_seen

        await record_seen(db, change_id=change["id"], user_id=people[0].id, via="http")
    async with env.services.db.session() as db:
        report = await erase_user(db, people[0].id, erase_content=False)
    assert report.rows["mail_deliveries_blanked"] == 3 and report.rows["event_change_seen"] == 1
    async with env.services.db.session() as db:
        rows = (
            (await db.execute(select(MailDelivery).where(MailDelivery.user_id == people[0].id)))
            .scalars()
            .all()
        )
        assert all(d.email is None for d in rows)
        assert {d.status for d in rows if d.campaign_id == later} == {"suppressed"}
        assert not (await db.execute(select(EventChangeSeen))).scalars().all()
