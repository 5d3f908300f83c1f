"""The outbox worker against a real aiosmtpd server: retries, bounces, pace, parallel workers."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from realtime.mailer.jobs import JobContext, JobRunner, PeriodicJob
from storage.db import Database
from storage.models import ChannelEvent, MailCategory, Role
from storage.repo import outbox
from storage.repo.audience import AudienceKind, AudienceSpec, resolve
from tests.mail.conftest import (
    Env,
    SmtpServer,
    mail_settings,
    make_event,
    make_people,
    make_worker,
    parts_of,
    sign_in,
    statuses,
)


async def campaign_to(
    env: Env, n: int, *, category: MailCategory = MailCategory.SERVICE, html: str | None = None
) -> tuple[Any, list[Any], Any]:
    """A campaign from an organiser to n participants of a fresh event."""
    services = env.services
    (organiser,) = await make_people(services, 1, "org")
    people = await make_people(services, n)
    event_id = await make_event(services, {"organiser": [organiser], "participant": people})
    async with services.db.session() as db:
        audience = await resolve(
            db, organiser, AudienceSpec(AudienceKind.EVENT, event_id, roles=(Role.PARTICIPANT,))
        )
        campaign = await outbox.create_campaign(
            db,
            sender_id=organiser.id,
            kind="bulk",
            category=category,
            subject="Material for next week",
            body_text="Hello,\nplease read chapter 3.\n",
            body_html=html,
            audience={"kind": "event", "event_id": event_id},
            event_ids=audience.event_ids,
            recipients=audience.recipients,
        )
    return campaign, people, organiser


async def test_every_recipient_gets_one_message_addressed_to_them_alone(
    env: Env, smtp: SmtpServer
) -> None:
    campaign, people, _organiser = await campaign_to(env, 12, html="<p>Hello</p>")
    worker = await make_worker(env.settings, env.services)
    await worker.run_until_idle()
    got = smtp.handler.by_rcpt()
    assert sorted(got) == sorted(p.email for p in people)
    ids = set()
    for rcpt, msgs in got.items():
        assert len(msgs) == 1
        m = msgs[0].message
        assert m["To"].endswith(f"<{rcpt}>") and m["Cc"] is None
        assert "List-Unsubscribe" not in m  # service mail
        assert m.is_multipart() and [p.get_content_type() for p in parts_of(m)] == [
            "text/plain",
            "text/html",
        ]
        ids.add(m["Message-ID"])
    assert len(ids) == 12
    rows = await statuses(env.services, campaign.id)
    assert {r[1] for r in rows} == {"sent"} and {r[2] for r in rows} == {1}
    # The stored Message-ID is the one the server received.
    from storage.models import MailDelivery

    async with env.services.db.session() as db:
        stored = set((await db.execute(select(MailDelivery.message_id))).scalars())
    assert stored == ids


async def test_421_is_retried_then_sent(env: Env, smtp: SmtpServer) -> None:
    smtp.handler.answer = lambda rcpt, n: "421 4.3.0 try again later" if n == 0 else "250 OK"
    campaign, people, _ = await campaign_to(env, 5)
    worker = await make_worker(env.settings, env.services)
    await worker.run_until_idle(horizon_secs=5)
    rows = await statuses(env.services, campaign.id)
    assert [(r[1], r[2]) for r in rows] == [("sent", 2)] * 5
    answers: dict[str, list[str]] = {}
    for _, rcpt, answer in smtp.handler.attempts:
        answers.setdefault(rcpt, []).append(answer[:3])
    assert answers == {p.email: ["421", "250"] for p in people}
    assert all(len(v) == 1 for v in smtp.handler.by_rcpt().values())


async def test_550_bounces_without_retry_and_keeps_the_answer(env: Env, smtp: SmtpServer) -> None:
    campaign, people, _ = await campaign_to(env, 4)
    bad = people[1].email
    smtp.handler.answer = lambda rcpt, n: (
        "550 5.7.1 rejected by policy" if rcpt == bad else "250 OK"
    )
    smtp.handler.reject_rcpt = {people[2].email}
    worker = await make_worker(env.settings, env.services)
    await worker.run_until_idle(horizon_secs=1)
    by_user = {r[0]: r for r in await statuses(env.services, campaign.id)}
    assert by_user[people[1].id][1:3] == ("bounced", 1)
    assert "550 5.7.1 rejected by policy" in by_user[people[1].id][3]
    assert by_user[people[2].id][1:3] == ("bounced", 1)
    assert "550" in by_user[people[2].id][3] and "mailbox unavailable" in by_user[people[2].id][3]
    assert by_user[people[0].id][1] == by_user[people[3].id][1] == "sent"
    tried = [r for _, r, _ in smtp.handler.attempts]
    assert tried.count(bad) == 1 and tried.count(people[2].email) == 1


async def test_temporary_failures_give_up_at_max_age_and_retry_failed_requeues(
    env: Env, smtp: SmtpServer, tmp_path: Any
) -> None:
    settings = mail_settings(
        env.settings.database_url, tmp_path / "w", smtp.url, MAIL_MAX_AGE_SECS="0"
    )
    smtp.handler.answer = lambda rcpt, n: "451 4.3.0 local problem"
    campaign, _people, organiser = await campaign_to(env, 3)
    worker = await make_worker(settings, env.services)
    await worker.run_until_idle(horizon_secs=1)
    rows = await statuses(env.services, campaign.id)
    assert [(r[1], r[2]) for r in rows] == [("failed", 1)] * 3
    assert all("451 4.3.0 local problem" in r[3] for r in rows)

    # The organiser presses "retry failed" once the server is healthy again.
    await sign_in(env, organiser)
    smtp.handler.answer = lambda rcpt, n: "250 OK"
    r = await env.client.post(f"/api/mail/campaigns/{campaign.id}/retry-failed")
    assert r.status_code == 200 and r.json() == {"requeued": 3}
    await (await make_worker(env.settings, env.services)).run_until_idle()
    assert [(r[1], r[2]) for r in await statuses(env.services, campaign.id)] == [("sent", 2)] * 3


async def test_rate_per_second_is_respected(env: Env, smtp: SmtpServer, tmp_path: Any) -> None:
    rate = 40
    settings = mail_settings(
        env.settings.database_url,
        tmp_path / "w",
        smtp.url,
        MAIL_RATE_PER_SEC=str(rate),
        MAIL_CONCURRENCY="8",
    )
    _campaign, _people, _ = await campaign_to(env, 100)
    worker = await make_worker(settings, env.services)
    await worker.run_until_idle()
    starts = list(worker.send_starts)
    assert len(starts) == 100 == smtp.handler.count()
    # No window of one second holds more than `rate` starts...
    assert min(starts[i + rate] - starts[i] for i in range(len(starts) - rate)) >= 1.0 - 1e-9
    # ...so 100 sends needed at least two full windows (recorded times, not a stopwatch).
    assert starts[-1] - starts[0] >= 2.0


async def test_hourly_budget_is_shared_by_all_workers(env: Env, smtp: SmtpServer) -> None:
    _campaign, _people, _ = await campaign_to(env, 8)
    async with env.services.db.session() as db:
        first = await outbox.claim(db, owner="a", limit=3, lease_secs=60, rate_per_hour=5)
    async with env.services.db.session() as db:
        second = await outbox.claim(db, owner="b", limit=10, lease_secs=60, rate_per_hour=5)
    async with env.services.db.session() as db:
        third = await outbox.claim(db, owner="c", limit=10, lease_secs=60, rate_per_hour=5)
    assert (len(first), len(second), len(third)) == (3, 2, 0)
    assert not {d.id for d in first} & {d.id for d in second}


async def test_two_workers_in_parallel_never_send_twice(env: Env, smtp: SmtpServer) -> None:
    _campaign, people, _ = await campaign_to(env, 150)
    other_db = Database(env.settings.database_url)
    try:

        class Svc:
            db = other_db

        a = await make_worker(env.settings, env.services, owner="worker-a")
        b = await make_worker(env.settings, Svc, owner="worker-b")
        await asyncio.gather(a.run_until_idle(), b.run_until_idle())
    finally:
        await other_db.close()
    got = smtp.handler.by_rcpt()
    assert sorted(got) == sorted(p.email for p in people)
    assert all(len(v) == 1 for v in got.values())
    assert a.outcomes["sent"] > 0 and b.outcomes["sent"] > 0
    assert a.outcomes["sent"] + b.outcomes["sent"] == 150


async def test_progress_goes_to_the_senders_personal_channel(env: Env, smtp: SmtpServer) -> None:
    published: list[Any] = []

    async def publish(events: list[Any]) -> None:
        published.extend(events)

    campaign, _people, organiser = await campaign_to(env, 6)
    await (await make_worker(env.settings, env.services, publish=publish)).run_until_idle()
    async with env.services.db.session() as db:
        rows = list(
            (
                await db.execute(
                    select(ChannelEvent)
                    .where(ChannelEvent.channel == f"user:{organiser.id}")
                    .order_by(ChannelEvent.seq)
                )
            ).scalars()
        )
    assert rows and all(r.type == "mail_progress" for r in rows)
    last = rows[-1].body
    assert last["campaign_id"] == campaign.id and last["done"] is True
    assert last["sent"] == 6 and last["total"] == 6 and last["queued"] == 0
    assert [e.id for e in published] == [r.id for r in rows]


async def test_periodic_jobs_run_in_the_mailer_loop(env: Env, smtp: SmtpServer) -> None:
    ran: list[int] = []

    async def job(ctx: JobContext) -> None:
        async with ctx.db.session() as db:
            assert db is not None
        ran.append(1)

    runner = JobRunner(
        JobContext(env.settings, env.services.db), {"j": PeriodicJob("j", 3600, job)}
    )
    await campaign_to(env, 1)
    worker = await make_worker(env.settings, env.services, jobs=runner)
    await worker.run_until_idle()
    assert ran == [1] and runner.runs == {"j": 1}
