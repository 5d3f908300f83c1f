"""The one filter/page/stream helper and the one review row, on both backends.

Keyset pages by id, newest first, cover every matching row exactly once and
end with no cursor; the stream yields the same rows oldest first. A review
result has one shape whether it comes as a search hit, a viewed event, an
export row or a history entry.
"""

from __future__ import annotations

import uuid
from typing import Any

from storage.event_types import MESSAGE
from storage.repo import log_review, search
from storage.repo.channel_log import NewEvent, append
from storage.repo.logs import audit
from tests.conftest import make_user


async def test_pages_cover_every_row_once_and_match_the_stream(services: Any) -> None:
    action = f"paging.{uuid.uuid4().hex[:8]}"
    async with services.db.session() as db:
        for i in range(7):
            await audit(db, actor_id=None, action=action, target=f"t{i}")
        await audit(db, actor_id=None, action="other", target="x")
    f = log_review.AuditFilter(action=action)
    pages: list[list[dict[str, Any]]] = []
    before: int | None = None
    async with services.db.session() as db:
        while True:
            items, before = await log_review.audit_page(db, f, before_id=before, limit=3)
            pages.append(items)
            if before is None:
                break
        streamed = [row async for row in log_review.audit_stream(db, f)]
    assert [len(p) for p in pages] == [3, 3, 1]
    paged = [row for p in pages for row in p]
    assert [r["target"] for r in paged] == [f"t{i}" for i in reversed(range(7))]
    # A page names the actor for the admin screen; the stream (exports) carries ids only.
    assert all("actor_name" in r for r in paged)
    assert [{k: v for k, v in r.items() if k != "actor_name"} for r in paged] == list(
        reversed(streamed)
    )
    assert all(r["action"] == action for r in paged)


async def test_a_review_result_has_one_shape_everywhere(services: Any) -> None:
    author = await make_user(services, name="Rita Reviewed")
    channel = f"event:{uuid.uuid4().int % 10**12}:chat"
    async with services.db.session() as db:
        (first,) = await append(db, [NewEvent(channel, MESSAGE, {"text": "hello"}, author.id)])
        (answer,) = await append(
            db, [NewEvent(channel, MESSAGE, {"text": "hi back"}, author.id, None, first.id)]
        )
    f = search.MessageFilter(channel=channel)
    async with services.db.session() as db:
        hits, _ = await search.search(db, f, limit=10)
        viewed = await search.get_event(db, first.id)
        exported = [row async for row in search.stream(db, f)]
    by_id = {h["id"]: h for h in hits}
    assert viewed == by_id[first.id]
    for row in exported:
        hit = dict(by_id[row["id"]])
        hit.pop("history")
        assert hit == row
    (entry,) = by_id[first.id]["history"]
    assert {k: v for k, v in entry.items() if k != "history"} == exported[1]
    assert exported[0]["author_name"] == "Rita Reviewed" and exported[0]["text"] == "hello"
    assert exported[1]["ref_id"] == first.id and answer.id == exported[1]["id"]
