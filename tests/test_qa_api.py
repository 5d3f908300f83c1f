"""Q&A over HTTP on both backends: asking, one upvote per person (withdrawable, also in a
burst), ordering, answered/pin/hide/merge, pre-moderation, open/closed, anonymity (no
author in API answers, channel events or exports; the admin's reveal is audited), the
trainers' export, and coalesced vote counts in the channel log.

"Live" is asserted on the board channel's log: exactly what the hub fans out and a
subscriber replays.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

from sqlalchemy import select

from storage.models import AuditEntry
from tests.pinboard_world import World, world  # noqa: F401 - fixture
from web.qa_live import qa_live


async def qa_of(w: World, who: str = "tr", order: str = "votes") -> dict[str, Any]:
    r = await w[who].get(f"/api/events/{w.event_id}/qa", params={"order": order})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def ask(w: World, who: str, qa_id: int, text: str) -> dict[str, Any]:
    r = await w[who].post(f"/api/qa/{qa_id}/questions", json={"text": text})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def last_votes(w: World, channel: str, want: dict[int, int]) -> dict[str, Any]:
    """The newest ``qa.votes`` event once it counts ``want``."""
    body: dict[str, Any] = {}
    for _ in range(200):
        events = [e.body for e in await w.log(channel) if e.type == "qa.votes"]
        if events:
            body = max(events, key=lambda b: b["version"])
            counts = {v["id"]: v["votes"] for v in body["votes"]}
            if all(counts.get(k) == n for k, n in want.items()):
                return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"no qa.votes with {want} in {channel}: last {body}")


async def test_ask_vote_order_answer(world: World) -> None:
    w = world
    qa = (await qa_of(w, "p1"))["qa"]
    channel = qa["channel"]
    assert channel == f"event:{w.event_id}:board" and qa["open"] and not qa["anonymous"]
    a = await ask(w, "p1", qa["id"], "  What is a coroutine?  ")
    assert a["text"] == "What is a coroutine?" and a["mine"] and a["author"]["name"] == "Pia"
    b = await ask(w, "p2", qa["id"], "Async or threads?")
    c = await ask(w, "org", qa["id"], "When is lunch?")
    # One vote per person, withdrawable.
    r = await w["p2"].post(f"/api/qa/questions/{a['id']}/vote")
    assert r.status_code == 200
    assert r.json() == {"question_id": a["id"], "votes": 1, "my_vote": True}
    r = await w["p2"].post(f"/api/qa/questions/{a['id']}/vote")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_voted"
    assert (await w["tr"].post(f"/api/qa/questions/{a['id']}/vote")).json()["votes"] == 2
    assert (await w["p1"].post(f"/api/qa/questions/{b['id']}/vote")).json()["votes"] == 1
    r = await w["p1"].delete(f"/api/qa/questions/{b['id']}/vote")
    assert r.status_code == 200 and r.json()["votes"] == 0 and not r.json()["my_vote"]
    assert (await w["p1"].delete(f"/api/qa/questions/{b['id']}/vote")).status_code == 404
    # Outsiders learn nothing; a reviewing admin does not vote.
    assert (await w["out"].post(f"/api/qa/questions/{a['id']}/vote")).status_code == 404
    assert (await w["adm"].post(f"/api/qa/questions/{a['id']}/vote")).status_code == 403
    assert (await w["out"].get(f"/api/events/{w.event_id}/qa")).status_code == 404

    seen = await qa_of(w, "p2")
    assert [q["id"] for q in seen["questions"]] == [a["id"], b["id"], c["id"]]
    assert [q["my_vote"] for q in seen["questions"]] == [True, False, False]
    by_time = await qa_of(w, "p2", order="time")
    assert [q["id"] for q in by_time["questions"]] == [c["id"], b["id"], a["id"]]
    # Trainers only: answered, pin.
    r = await w["p1"].patch(f"/api/qa/questions/{c['id']}", json={"pinned": True})
    assert r.status_code == 403
    assert (await w["tr"].patch(f"/api/qa/questions/{c['id']}", json={"pinned": True})).json()[
        "pinned"]
    r = await w["tr"].patch(f"/api/qa/questions/{a['id']}", json={"answered": True})
    assert r.status_code == 200 and r.json()["answered"]
    assert [q["id"] for q in (await qa_of(w, "p2"))["questions"]] == [c["id"], b["id"], a["id"]]
    changed = [e for e in await w.log(channel) if e.type == "question.changed"]
    assert changed[-1].body["question"]["answered"] and changed[-1].author_id is None
    # The counts went out coalesced: fewer events than votes, the last one right.
    await last_votes(w, channel, {a["id"]: 2, b["id"]: 0})
    # Closed: no new questions, no new votes; withdrawing stays possible.
    r = await w["tr"].patch(f"/api/qa/{qa['id']}", json={"open": False})
    assert r.status_code == 200 and r.json()["open"] is False
    r = await w["p1"].post(f"/api/qa/{qa['id']}/questions", json={"text": "late"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "qa_closed"
    r = await w["p1"].post(f"/api/qa/questions/{c['id']}/vote")
    assert r.status_code == 409 and r.json()["error"]["code"] == "qa_closed"
    assert (await w["tr"].delete(f"/api/qa/questions/{a['id']}/vote")).status_code == 200
    assert (await w["p1"].patch(f"/api/qa/{qa['id']}", json={"open": True})).status_code == 403
    assert (await w["p1"].post(f"/api/qa/{qa['id']}/questions",
                               json={"text": "x" * 501})).status_code == 422


async def test_a_burst_of_votes_counts_each_person_once(world: World) -> None:
    """Double clicks and two tabs in one burst: one vote each, and the counts agree."""
    w = world
    qa = (await qa_of(w))["qa"]
    q = await ask(w, "p1", qa["id"], "Burst?")
    rs = await asyncio.gather(*[w[who].post(f"/api/qa/questions/{q['id']}/vote")
                                for who in ["p1", "p2", "tr", "org"] * 3])
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) == 4 and codes.count(409) == 8, codes
    assert (await qa_of(w))["questions"][0]["votes"] == 4
    await last_votes(w, qa["channel"], {q["id"]: 4})
    # Coalesced: marks while a send is pending join it. A hundred committed batches in a
    # row (no await between them) become one event, counting everything.
    before = [e for e in await w.log(qa["channel"]) if e.type == "qa.votes"]
    live = qa_live(w.services)
    for _ in range(100):
        live.counts_soon(qa["id"])
    await last_votes(w, qa["channel"], {q["id"]: 4})
    for _ in range(20):  # and nothing more follows
        await asyncio.sleep(0.05)
    after = [e for e in await w.log(qa["channel"]) if e.type == "qa.votes"]
    assert len(after) == len(before) + 1
    assert after[-1].body["version"] == before[-1].body["version"]  # no vote in between


async def test_merge_moves_votes_without_double_counting(world: World) -> None:
    w = world
    qa = (await qa_of(w))["qa"]
    keep = await ask(w, "p1", qa["id"], "How do I install it?")
    dup = await ask(w, "p2", qa["id"], "Installation?")
    for who in ("p1", "tr"):
        assert (await w[who].post(f"/api/qa/questions/{keep['id']}/vote")).status_code == 200
    for who in ("tr", "org", "p2"):
        assert (await w[who].post(f"/api/qa/questions/{dup['id']}/vote")).status_code == 200
    r = await w["p1"].post(f"/api/qa/questions/{dup['id']}/merge", json={"into": keep["id"]})
    assert r.status_code == 403
    r = await w["tr"].post(f"/api/qa/questions/{dup['id']}/merge", json={"into": dup["id"]})
    assert r.status_code == 422
    r = await w["tr"].post(f"/api/qa/questions/{dup['id']}/merge", json={"into": keep["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["votes"] == 4  # p1, tr, org, p2: tr once
    seen = await qa_of(w, "p2")
    assert [q["id"] for q in seen["questions"]] == [keep["id"]]
    assert seen["questions"][0]["my_vote"]  # the moved vote is theirs
    log = await w.log(qa["channel"])
    removed = [e.body for e in log if e.type == "question.removed"]
    assert removed[-1] == {"id": dup["id"], "qa_id": qa["id"], "merged_into": keep["id"]}
    # The duplicate's text is gone from the replay.
    assert "Installation?" not in json.dumps([e.body for e in log])
    r = await w["tr"].post(f"/api/qa/questions/{dup['id']}/merge", json={"into": keep["id"]})
    assert r.status_code == 404  # a merged question is gone


async def test_premoderation_and_hiding(world: World) -> None:
    w = world
    qa = (await qa_of(w))["qa"]
    assert (await w["tr"].patch(f"/api/qa/{qa['id']}", json={"premoderation": True})).json()[
        "premoderation"]
    held = await ask(w, "p1", qa["id"], "Held back?")
    assert held["state"] == "pending"
    assert all(q["id"] != held["id"] for q in (await qa_of(w, "p2"))["questions"])
    assert any(q["id"] == held["id"] for q in (await qa_of(w, "p1"))["questions"])
    assert (await w["p2"].post(f"/api/qa/questions/{held['id']}/vote")).status_code == 404
    log = await w.log(qa["channel"])
    assert {"id": held["id"], "qa_id": qa["id"]} in [e.body for e in log
                                                      if e.type == "question.pending"]
    assert "Held back?" not in json.dumps([e.body for e in log])
    r = await w["p2"].post(f"/api/qa/questions/{held['id']}/moderate", json={"action": "approve"})
    assert r.status_code == 404  # not theirs to see
    r = await w["tr"].post(f"/api/qa/questions/{held['id']}/moderate", json={"action": "approve"})
    assert r.status_code == 200 and r.json()["state"] == "visible"
    assert any(q["id"] == held["id"] for q in (await qa_of(w, "p2"))["questions"])
    r = await w["tr"].post(f"/api/qa/questions/{held['id']}/moderate", json={"action": "approve"})
    assert r.status_code == 409
    r = await w["tr"].post(f"/api/qa/questions/{held['id']}/moderate", json={"action": "hide"})
    assert r.json()["state"] == "hidden"
    assert all(q["id"] != held["id"] for q in (await qa_of(w, "p2"))["questions"])
    assert "Held back?" not in json.dumps([e.body for e in await w.log(qa["channel"])])
    r = await w["tr"].post(f"/api/qa/questions/{held['id']}/moderate", json={"action": "unhide"})
    assert r.json()["state"] == "visible"


async def test_anonymous_questions_name_nobody_but_an_audited_admin(world: World) -> None:
    w = world
    qa = (await qa_of(w))["qa"]
    assert (await w["tr"].patch(f"/api/qa/{qa['id']}", json={"anonymous": True})).json()[
        "anonymous"]
    q = await ask(w, "p1", qa["id"], "A question I dare not ask by name")
    assert q["anonymous"] and q["author"] is None and q["mine"]
    await w["p2"].post(f"/api/qa/questions/{q['id']}/vote")
    await w["tr"].patch(f"/api/qa/questions/{q['id']}", json={"answered": True})
    p1 = w.users["p1"]
    for who in ("p2", "tr", "org"):
        seen = await qa_of(w, who)
        assert "Pia" not in json.dumps(seen)
        assert [x["author"] for x in seen["questions"] if x["id"] == q["id"]] == [None]
    events = [e for e in await w.log(qa["channel"]) if e.type.startswith("question.")]
    assert events and all(e.author_id is None for e in events)
    assert "Pia" not in json.dumps([e.body for e in events])
    for fmt in ("json", "csv"):
        r = await w["tr"].get(f"/api/qa/{qa['id']}/export.{fmt}")
        assert r.status_code == 200 and "Pia" not in r.text and "anonymous" in r.text
    assert (await w["p2"].get(f"/api/qa/{qa['id']}/export.json")).status_code == 403
    # Only an admin, only with a reason, and audited.
    url = f"/api/admin/qa/questions/{q['id']}/author"
    assert (await w["tr"].get(url, params={"reason": "curious about it"})).status_code == 403
    assert (await w["adm"].get(url)).status_code == 422
    assert (await w["adm"].get(url, params={"reason": "      "})).status_code in (403, 422)
    r = await w["adm"].get(url, params={"reason": "report of harassment #12"})
    assert r.status_code == 200 and r.json()["author_id"] == p1.id
    assert r.json()["author_name"] == "Pia"
    async with w.services.db.session() as db:
        rows = (await db.execute(select(AuditEntry).where(
            AuditEntry.action == "review.question_author"))).scalars().all()
    assert [(a.actor_id, a.target, a.reason) for a in rows][-1] == (
        w.users["adm"].id, f"question:{q['id']}", "report of harassment #12")
    # Anonymity is fixed when asked: turning it off later names nobody.
    await w["tr"].patch(f"/api/qa/{qa['id']}", json={"anonymous": False})
    assert "Pia" not in json.dumps(await qa_of(w, "p2"))
    # The asker's own data export holds the question, anonymous or not.
    mine = (await w["p1"].get("/api/me/data")).json()
    assert [x["text"] for x in mine["questions"]] == ["A question I dare not ask by name"]
    theirs = (await w["p2"].get("/api/me/data")).json()
    assert {"type": "question.vote", "question_id": q["id"]}.items() <= theirs["reactions"][
        -1].items()


async def test_group_qa_is_for_the_group(world: World) -> None:
    w = world
    r = await w["p1"].get(f"/api/groups/{w.group_id}/qa")
    assert r.status_code == 200 and r.json()["qa"]["channel"] == f"group:{w.group_id}:board"
    assert (await w["p2"].get(f"/api/groups/{w.group_id}/qa")).status_code == 404
    qa_id = r.json()["qa"]["id"]
    r = await w["p2"].post(f"/api/qa/{qa_id}/questions", json={"text": "let me in"})
    assert r.status_code == 404
    await ask(w, "p1", qa_id, "Group question")
    assert len((await w["tr"].get(f"/api/qa/{qa_id}")).json()["questions"]) == 1


async def test_export_csv_lists_every_question(world: World) -> None:
    w = world
    qa = (await qa_of(w))["qa"]
    await ask(w, "p2", qa["id"], "=cmd|' /C calc'!A0")
    r = await w["tr"].get(f"/api/qa/{qa['id']}/export.csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[-1]["author"] == "Paul" and rows[-1]["text"].startswith("'=")


async def test_erasure_keeps_voted_questions_as_nameless_tombstones(world: World) -> None:
    from storage.repo.erasure import erase_user

    w = world
    qa = (await qa_of(w))["qa"]
    voted = await ask(w, "p1", qa["id"], "Pia's voted question")
    lonely = await ask(w, "p1", qa["id"], "Pia's lonely question")
    other = await ask(w, "p2", qa["id"], "Paul's question")
    assert (await w["p2"].post(f"/api/qa/questions/{voted['id']}/vote")).status_code == 200
    assert (await w["p1"].post(f"/api/qa/questions/{other['id']}/vote")).status_code == 200
    async with w.services.db.session() as db:
        report = await erase_user(db, w.users["p1"].id, erase_content=False)
    assert report.rows["questions_kept"] == 1 and report.rows["questions_deleted"] == 1
    assert report.rows["question_votes"] == 1
    seen = {q["id"]: q for q in (await qa_of(w, "p2"))["questions"]}
    assert lonely["id"] not in seen
    assert seen[voted["id"]]["erased"] and seen[voted["id"]]["author"] is None
    assert seen[voted["id"]]["votes"] == 1 and seen[other["id"]]["votes"] == 0
    log = json.dumps([e.body for e in await w.log(qa["channel"])])
    assert "Pia" not in log and "lonely" not in log
