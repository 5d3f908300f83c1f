"""Deletion keeps chains as tombstones and leaves no trace of the person anywhere else."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from storage.channels import dm_channel
from storage.models import ChannelEvent, Role
from storage.repo.logs import log_activity
from tests.conftest import PASSWORD, login, make_user
from tests.privacy_helpers import find_everywhere, make_event, post, word


async def _events(services: Any, ids: list[int]) -> dict[int, ChannelEvent]:
    async with services.db.session() as db:
        rows = (await db.execute(select(ChannelEvent).where(ChannelEvent.id.in_(ids)))).scalars()
        return {r.id: r for r in rows}


async def _world(services: Any) -> dict[str, Any]:
    x = await make_user(services, name="Xaver Leaving")
    y = await make_user(services, name="Yvonne Staying")
    ev, grp = await make_event(
        services, (x, Role.PARTICIPANT), (y, Role.PARTICIPANT), group_members=(x, y)
    )
    chat = f"event:{ev.id}:chat"
    secret = {
        k: word()
        for k in ("alone", "chain", "edited", "edit", "dm", "reply", "deep", "bio", "group")
    }
    m: dict[str, Any] = {}
    m["alone"] = await post(services, chat, x, f"{secret['alone']} nobody answered")
    m["alone_reaction"] = await post(
        services, chat, y, type="reaction", ref_id=m["alone"].id, body={"emoji": "+1"}
    )
    # An "answer" from another channel names it (ids are guessable): that is no thread,
    # and must not keep x's message alive against x's deletion.
    elsewhere, _ = await make_event(services, (y, Role.PARTICIPANT))
    m["xref"] = await post(
        services, f"event:{elsewhere.id}:chat", y, "pointing elsewhere", ref_id=m["alone"].id
    )
    m["chain"] = await post(services, chat, x, f"{secret['chain']} a question")
    m["chain_reply"] = await post(services, chat, y, "an answer", ref_id=m["chain"].id)
    m["edited"] = await post(services, chat, x, f"{secret['edited']} first version")
    m["edit"] = await post(
        services,
        chat,
        x,
        f"{secret['edit']} second version",
        type="message.edited",
        ref_id=m["edited"].id,
    )
    m["edited_reply"] = await post(services, chat, y, "answer to edited", ref_id=m["edited"].id)
    # A chain through the leaver's own reply: root(x) <- mid(x) <- answer(y): both x events stay.
    m["deep_root"] = await post(services, chat, x, f"{secret['deep']} root")
    m["deep_mid"] = await post(services, chat, x, f"{secret['deep']} mid", ref_id=m["deep_root"].id)
    m["deep_answer"] = await post(services, chat, y, "deep answer", ref_id=m["deep_mid"].id)
    # x answers y: y's message stays, x's answer (no replies) goes.
    m["y_msg"] = await post(services, chat, y, "y says hi")
    m["x_reply"] = await post(services, chat, x, f"{secret['reply']} hi back", ref_id=m["y_msg"].id)
    m["x_reaction"] = await post(
        services, chat, x, type="reaction", ref_id=m["y_msg"].id, body={"emoji": "heart"}
    )
    m["dm"] = await post(services, dm_channel(x.id, y.id), x, f"{secret['dm']} private")
    m["dm_y"] = await post(services, dm_channel(x.id, y.id), y, "y private answer")
    # The hub announces each DM on the recipient's personal channel: x's to y goes with x,
    # y's to x goes with x's personal channel.
    m["dm_notice"] = await post(
        services,
        f"user:{y.id}",
        None,
        type="dm.received",
        ref_id=m["dm"].id,
        body={"channel": dm_channel(x.id, y.id), "from": x.id},
    )
    m["dm_y_notice"] = await post(
        services,
        f"user:{x.id}",
        None,
        type="dm.received",
        ref_id=m["dm_y"].id,
        body={"channel": dm_channel(x.id, y.id), "from": y.id},
    )
    m["group"] = await post(services, f"group:{grp.id}", x, f"{secret['group']} in group")
    m["notice"] = await post(services, f"user:{x.id}", None, f"{secret['alone']} moderation notice")
    return {"x": x, "y": y, "ev": ev, "grp": grp, "chat": chat, "secret": secret, "m": m}


async def test_deletion_leaves_tombstones_in_chains_and_no_trace_elsewhere(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    w = await _world(services)
    x, m, secret = w["x"], w["m"], w["secret"]
    await login(client, x.email)
    r = await client.patch(
        "/api/me/profile",
        json={
            "profile_bio": f"{secret['bio']} about me",
            "phone": "+49 170 555",
            "organisation": "ACME",
        },
    )
    assert r.status_code == 200
    async with services.db.session() as db:
        await log_activity(db, user_id=x.id, action="login", ip="203.0.113.77")
    before = await find_everywhere(services, secret["chain"])
    assert "channel_events" in before  # the scanner does see text where it is

    r = await client.post(
        "/api/me/terminate", json={"password": PASSWORD, "immediately": True, "erase_content": True}
    )
    assert r.status_code == 200, r.text
    report = r.json()["report"]
    assert report["tombstones"] == 4  # chain, edited, deep_root, deep_mid

    ids = [e.id for e in m.values()]
    now = await _events(services, ids)
    gone = {k for k, e in m.items() if e.id not in now}
    assert gone == {
        "alone",
        "alone_reaction",
        "edit",
        "x_reply",
        "x_reaction",
        "dm",
        "group",
        "notice",
        "dm_notice",
        "dm_y_notice",
    }
    for k in ("chain", "edited", "deep_root", "deep_mid"):
        tomb = now[m[k].id]
        assert tomb.author_id is None and tomb.client_id is None, k
        assert tomb.body == {"former_participant": True, "text": ""}, k
    for k in ("chain_reply", "edited_reply", "deep_answer", "y_msg", "dm_y", "xref"):
        assert now[m[k].id].author_id == w["y"].id, k  # the others' side is untouched

    for name, value in secret.items():
        assert await find_everywhere(services, value) == [], name
    for personal in (x.email, "Xaver Leaving", "+49 170 555", "203.0.113.77"):
        assert await find_everywhere(services, personal) == [], personal

    # Live clients were told: deletions and re-rendered tombstones are events in the log.
    async with services.db.session() as db:
        notes = (
            await db.execute(
                select(ChannelEvent.type, ChannelEvent.ref_id).where(
                    ChannelEvent.channel == w["chat"], ChannelEvent.author_id.is_(None)
                )
            )
        ).all()
    assert ("message.deleted", m["alone"].id) in notes
    assert ("message.edited", m["chain"].id) in notes


async def test_deletion_without_erasure_keeps_latest_text_then_admin_removes_it(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    w = await _world(services)
    x, m, secret = w["x"], w["m"], w["secret"]
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    r = await client.post(
        f"/api/admin/users/{x.id}/terminate",
        json={"reason": "asked in writing", "immediately": True},
    )
    assert r.status_code == 200
    now = await _events(services, [m["chain"].id, m["edited"].id, m["alone"].id])
    assert m["alone"].id not in now
    assert now[m["chain"].id].body == {
        "former_participant": True,
        "text": f"{secret['chain']} a question",
    }
    assert now[m["edited"].id].body["text"] == f"{secret['edit']} second version"  # latest version
    assert now[m["chain"].id].author_id is None
    assert await find_everywhere(services, secret["alone"]) == []

    # Active people's contributions are not "left" unless they left the event.
    r = await client.post(
        "/api/admin/contributions/remove", json={"user_id": w["y"].id, "reason": "cleanup"}
    )
    assert r.status_code == 409
    r = await client.post(
        "/api/admin/contributions/remove",
        json={"event_id": w["ev"].id, "reason": "course archived"},
    )
    assert r.status_code == 200 and r.json()["tombstones"] == 4
    now = await _events(services, [m["chain"].id, m["edited"].id])
    assert all(e.body == {"former_participant": True, "text": ""} for e in now.values())
    assert await find_everywhere(services, secret["chain"]) == []
    assert await find_everywhere(services, secret["edit"]) == []


async def test_admin_removes_contributions_of_someone_who_left_an_event(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    w = await _world(services)
    x, m = w["x"], w["m"]
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    body = {"user_id": x.id, "event_id": w["ev"].id, "reason": "left the course"}
    r = await client.post("/api/admin/contributions/remove", json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "still_enrolled"
    async with services.db.session() as db:
        from sqlalchemy import delete

        from storage.models import Enrolment

        await db.execute(delete(Enrolment).where(Enrolment.user_id == x.id))
    r = await client.post("/api/admin/contributions/remove", json=body)
    assert r.status_code == 200 and r.json()["tombstones"] == 4
    now = await _events(services, [e.id for e in m.values()])
    assert m["alone"].id not in now and m["group"].id not in now
    assert m["dm"].id in now  # a DM is not part of the event
    assert now[m["chain"].id].body["text"] == "" and now[m["chain"].id].author_id is None
