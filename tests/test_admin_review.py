"""Admin review of the message log on both backends: filters, DMs need a reason, audit rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from storage.channels import dm_channel
from storage.models import AuditEntry, Role, utcnow
from tests.conftest import login, make_user
from tests.privacy_helpers import make_event, post, word


async def audit_count(services: Any, actor_id: int) -> int:
    async with services.db.session() as db:
        return int(
            (
                await db.execute(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(AuditEntry.actor_id == actor_id)
                )
            ).scalar_one()
        )


async def last_audit(services: Any, actor_id: int) -> AuditEntry:
    async with services.db.session() as db:
        entry: AuditEntry = (
            (
                await db.execute(
                    select(AuditEntry)
                    .where(AuditEntry.actor_id == actor_id)
                    .order_by(AuditEntry.id.desc())
                )
            )
            .scalars()
            .first()
        )
        return entry


async def _world(services: Any) -> dict[str, Any]:
    p1 = await make_user(services, name="Pia")
    p2 = await make_user(services, name="Paul")
    admin = await make_user(services, admin=True, name="Ada")
    ev, grp = await make_event(
        services, (p1, Role.PARTICIPANT), (p2, Role.PARTICIPANT), group_members=(p1,)
    )
    other, _ = await make_event(services, (p1, Role.PARTICIPANT))
    tok = word()
    old = utcnow() - dt.timedelta(days=10)
    m = {
        "chat_p1": await post(services, f"event:{ev.id}:chat", p1, f"{tok} hello chat", at=old),
        "chat_p2": await post(services, f"event:{ev.id}:chat", p2, f"{tok} reply from paul"),
        "board": await post(services, f"event:{ev.id}:board", p2, f"{tok} board note"),
        "group": await post(services, f"group:{grp.id}", p1, f"{tok} group talk"),
        "other": await post(services, f"event:{other.id}:chat", p1, f"{tok} elsewhere"),
        "dm": await post(services, dm_channel(p1.id, p2.id), p1, f"{tok} secret dm"),
    }
    return {
        "p1": p1,
        "p2": p2,
        "admin": admin,
        "ev": ev,
        "grp": grp,
        "other": other,
        "tok": tok,
        "m": m,
    }


def ids(r: httpx.Response) -> set[int]:
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


async def test_search_with_each_filter(client: httpx.AsyncClient, services: Any) -> None:
    w = await _world(services)
    m, tok, ev = w["m"], w["tok"], w["ev"]
    await login(client, w["admin"].email)
    every_public = {m[k].id for k in ("chat_p1", "chat_p2", "board", "group", "other")}

    # Full text alone: every channel but DMs.
    assert ids(await client.get("/api/admin/messages", params={"q": tok})) == every_public
    # Several words must all occur; case does not matter.
    assert ids(await client.get("/api/admin/messages", params={"q": f"{tok.upper()} PAUL"})) == {
        m["chat_p2"].id
    }
    assert ids(await client.get("/api/admin/messages", params={"q": f"{tok} nowhere"})) == set()
    # Event: chat, board, news and its groups.
    assert ids(await client.get("/api/admin/messages", params={"event_id": ev.id})) == {
        m[k].id for k in ("chat_p1", "chat_p2", "board", "group")
    }
    # Channel.
    assert ids(
        await client.get("/api/admin/messages", params={"channel": f"event:{ev.id}:chat"})
    ) == {m["chat_p1"].id, m["chat_p2"].id}
    # Author.
    assert ids(await client.get("/api/admin/messages", params={"author_id": w["p2"].id})) == {
        m["chat_p2"].id,
        m["board"].id,
    }
    # Date range: the old message only, then everything newer.
    cut = (utcnow() - dt.timedelta(days=1)).isoformat()
    assert ids(
        await client.get("/api/admin/messages", params={"q": tok, "until": cut})
    ) == {m["chat_p1"].id}
    assert ids(
        await client.get("/api/admin/messages", params={"q": tok, "since": cut})
    ) == every_public - {m["chat_p1"].id}
    # Type.
    assert ids(
        await client.get("/api/admin/messages", params={"q": tok, "type": "edit"})
    ) == set()
    # DMs join in with a reason.
    r = await client.get(
        "/api/admin/messages",
        params={"q": tok, "include_dms": "true", "reason": "complaint #42 about harassment"},
    )
    assert ids(r) == every_public | {m["dm"].id}


async def test_paging_walks_every_hit_once(client: httpx.AsyncClient, services: Any) -> None:
    w = await _world(services)
    await login(client, w["admin"].email)
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"q": w["tok"], "limit": 2}
        if before is not None:
            params["before_id"] = before
        r = await client.get("/api/admin/messages", params=params)
        assert r.status_code == 200
        seen += [item["id"] for item in r.json()["items"]]
        before = r.json()["next_before"]
        if before is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 5


async def test_edit_and_moderation_history(client: httpx.AsyncClient, services: Any) -> None:
    w = await _world(services)
    msg = w["m"]["chat_p1"]
    new = word()
    edit = await post(services, msg.channel, w["p1"], f"{new} edited", type="edit", ref_id=msg.id)
    hide = await post(
        services, msg.channel, w["admin"], type="moderation", ref_id=msg.id, body={"action": "hide"}
    )
    await login(client, w["admin"].email)
    r = await client.get(f"/api/admin/messages/{msg.id}")
    assert r.status_code == 200
    assert [h["id"] for h in r.json()["history"]] == [edit.id, hide.id]
    # The edited text is searchable too, and its hit points at the original.
    r = await client.get("/api/admin/messages", params={"q": new})
    assert [(i["id"], i["ref_id"]) for i in r.json()["items"]] == [(edit.id, msg.id)]
    r = await client.get("/api/admin/messages", params={"channel": msg.channel, "q": w["tok"]})
    first = next(i for i in r.json()["items"] if i["id"] == msg.id)
    assert [h["type"] for h in first["history"]] == ["edit", "moderation"]


async def test_dm_reads_without_reason_are_refused(
    client: httpx.AsyncClient, services: Any
) -> None:
    w = await _world(services)
    admin = w["admin"]
    await login(client, admin.email)
    dm = w["m"]["dm"]
    before = await audit_count(services, admin.id)
    refused = [
        await client.get("/api/admin/messages", params={"channel": dm.channel}),
        await client.get("/api/admin/messages", params={"include_dms": "true", "reason": " x "}),
        await client.get(f"/api/admin/messages/{dm.id}"),
        await client.get("/api/admin/messages/export", params={"channel": dm.channel}),
    ]
    for r in refused:
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "reason_required"
    assert await audit_count(services, admin.id) == before  # nothing was read
    r = await client.get(f"/api/admin/messages/{dm.id}", params={"reason": "police request 7"})
    assert r.status_code == 200 and r.json()["text"].endswith("secret dm")
    row = await last_audit(services, admin.id)
    assert (row.action, row.target, row.reason) == (
        "review.view",
        f"channel_event:{dm.id}",
        "police request 7",
    )
    assert row.detail == {"channel": dm.channel}


async def test_every_admin_read_leaves_exactly_one_audit_row(
    client: httpx.AsyncClient, services: Any
) -> None:
    w = await _world(services)
    admin = w["admin"]
    await login(client, admin.email)
    reads = [
        ("review.search", "/api/admin/messages", {"q": w["tok"], "author_id": w["p1"].id}),
        ("review.view", f"/api/admin/messages/{w['m']['board'].id}", {}),
        ("review.export", "/api/admin/messages/export", {"q": w["tok"], "format": "csv"}),
        ("review.export", "/api/admin/messages/export", {"event_id": w["ev"].id}),
        ("audit.read", "/api/admin/audit", {"actor_id": admin.id}),
        ("audit.export", "/api/admin/audit/export", {"format": "csv"}),
        ("activity.read", "/api/admin/activity", {"user_id": w["p1"].id}),
    ]
    for action, path, params in reads:
        before = await audit_count(services, admin.id)
        r = await client.get(path, params=params, headers={"x-forwarded-for": "ignored"})
        assert r.status_code == 200, (path, r.text)
        assert await audit_count(services, admin.id) == before + 1, path
        row = await last_audit(services, admin.id)
        assert row.action == action
        assert row.ip == "127.0.0.1"
    search_row = None
    async with services.db.session() as db:
        search_row = (
            await db.execute(
                select(AuditEntry).where(
                    AuditEntry.actor_id == admin.id, AuditEntry.action == "review.search"
                )
            )
        ).scalar_one()
    assert search_row.detail["filter"] == {"text": w["tok"], "author_id": w["p1"].id}


async def test_export_csv_and_jsonl(client: httpx.AsyncClient, services: Any) -> None:
    w = await _world(services)
    await login(client, w["admin"].email)
    formula = await post(services, f"event:{w['ev'].id}:chat", w["p2"], f"=HYPERLINK(1) {w['tok']}")
    r = await client.get("/api/admin/messages/export", params={"q": w["tok"], "format": "jsonl"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    import json

    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["id"] for row in rows] == sorted(
        [w["m"][k].id for k in ("chat_p1", "chat_p2", "board", "group", "other")] + [formula.id]
    )
    assert rows[0]["author_name"] == "Pia" and rows[0]["text"].endswith("hello chat")
    r = await client.get("/api/admin/messages/export", params={"q": w["tok"], "format": "csv"})
    import csv
    import io

    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0][:3] == ["id", "created_at", "channel"]
    assert len(table) == 7
    texts = {row[0]: row[8] for row in table[1:]}
    assert texts[str(formula.id)].startswith("'=HYPERLINK")  # no formula injection


async def test_who_may_read_what(client: httpx.AsyncClient, services: Any) -> None:
    w = await _world(services)
    dpo = await make_user(services, name="Dora")
    async with services.db.session() as db:
        from storage.models import User

        u = await db.get(User, dpo.id)
        assert u is not None
        u.is_dpo = True
    await login(client, w["p1"].email)
    for path in ("/api/admin/messages", "/api/admin/audit", "/api/admin/activity"):
        assert (await client.get(path)).status_code == 403
    await login(client, dpo.email)
    assert (await client.get("/api/admin/messages")).status_code == 403
    assert (await client.get("/api/admin/activity")).status_code == 403
    r = await client.get("/api/admin/audit", params={"action": "audit.read"})
    assert r.status_code == 200
    assert (await client.get("/api/admin/audit/export")).status_code == 200
    r = await client.get("/api/admin/audit", params={"actor_id": dpo.id})
    assert [i["action"] for i in r.json()["items"]][:2] == ["audit.export", "audit.read"]


async def test_bad_input_gets_the_error_shape(client: httpx.AsyncClient, services: Any) -> None:
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    for params in ({"q": "!!!"}, {"limit": "0"}, {"since": "yesterday"}, {"format": "xml"}):
        path = "/api/admin/messages/export" if "format" in params else "/api/admin/messages"
        r = await client.get(path, params=params)
        assert 400 <= r.status_code < 500 and "error" in r.json(), (params, r.text)
    assert (await client.get("/api/admin/messages/999999999")).status_code == 404


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"]
)
async def test_audit_log_refuses_update_and_delete(services: Any, statement: str) -> None:
    admin = await make_user(services, admin=True)
    async with services.db.session() as db:
        from storage.repo.logs import audit

        await audit(db, actor_id=admin.id, action="test", target="x")
    with pytest.raises(Exception, match="append-only"):
        async with services.db.session() as db:
            await db.execute(text(statement))
    assert await audit_count(services, admin.id) == 1


async def test_a_dm_that_refers_to_a_chat_message_stays_out_of_its_history(
    client: httpx.AsyncClient, services: Any
) -> None:
    """A publish may carry any ``ref`` (the hub does not look the id up): a DM answering
    a chat message privately refers to it. Reviewing that chat message, which needs no
    reason, must not show the DM as part of its history."""
    w = await _world(services)
    p1, p2, chat = w["p1"], w["p2"], w["m"]["chat_p1"]
    secret = word()
    await post(services, dm_channel(p1.id, p2.id), p2, f"{secret} privately", ref_id=chat.id)
    same = await post(services, chat.channel, p2, "a public answer", ref_id=chat.id)
    await login(client, w["admin"].email)
    r = await client.get(f"/api/admin/messages/{chat.id}")
    assert r.status_code == 200, r.text
    assert [h["id"] for h in r.json()["history"]] == [same.id]
    assert secret not in r.text
    r = await client.get("/api/admin/messages", params={"channel": chat.channel})
    assert r.status_code == 200 and secret not in r.text
    hit = next(h for h in r.json()["items"] if h["id"] == chat.id)
    assert [h["id"] for h in hit["history"]] == [same.id]


@pytest.mark.parametrize("q", ["!!!", "  ", "-- ;", "\u2014"])
async def test_a_search_term_without_words_is_refused_before_any_audit_row(
    client: httpx.AsyncClient, services: Any, q: str
) -> None:
    """Issue 13, item 9: an export with such a term answered 200, wrote its audit row,
    then cut the connection when its query first ran. It is a 422 now, before either."""
    w = await _world(services)
    await login(client, w["admin"].email)
    before = await audit_count(services, w["admin"].id)
    for path, params in (
        ("/api/admin/messages/export", {"q": q, "format": "csv"}),
        ("/api/admin/messages/export", {"q": q, "format": "jsonl", "event_id": w["ev"].id}),
        ("/api/admin/messages", {"q": q}),
    ):
        r = await client.get(path, params=params)
        assert r.status_code == 422, (path, r.status_code, r.text[:200])
        error = r.json()["error"]
        assert error["details"][0]["field"] == "q" and "word" in error["message"], error
    assert await audit_count(services, w["admin"].id) == before
    # A term with a word among the punctuation still exports, and is audited once.
    r = await client.get(
        "/api/admin/messages/export", params={"q": f"!{w['tok']}!", "format": "csv"}
    )
    assert r.status_code == 200 and w["tok"] in r.text
    assert await audit_count(services, w["admin"].id) == before + 1


def test_a_message_filter_without_words_cannot_be_made() -> None:
    from storage.errors import DomainError
    from storage.repo.search import MessageFilter

    with pytest.raises(DomainError) as refused:
        MessageFilter(text="?!")
    assert (refused.value.status, refused.value.code) == (422, "invalid_query")
    assert MessageFilter(text="a?").text == "a?"
