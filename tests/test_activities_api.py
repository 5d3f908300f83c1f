"""Polls, quizzes and word clouds over HTTP on both backends: lifecycle, answers, refusals,
results shown and hidden, coalesced tallies in the channel log, copies, exports.

"Live" is asserted on the board channel's log: exactly what the hub fans out and a
subscriber replays.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from typing import Any

from storage.models import Enrolment, Event, Role, utcnow
from tests.pinboard_world import World, audit_rows, world  # noqa: F401 - fixture

POLL = {"kind": "poll", "title": "Which language?", "options": ["Python", "Go", "Rust"]}


async def create(w: World, body: dict[str, Any], who: str = "tr") -> dict[str, Any]:
    r = await w[who].post(f"/api/events/{w.event_id}/activities", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def set_state(w: World, aid: int, state: str, who: str = "tr") -> dict[str, Any]:
    r = await w[who].post(f"/api/activities/{aid}/state", json={"state": state})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def answer(w: World, who: str, aid: int, **body: Any) -> Any:
    return await w[who].post(f"/api/activities/{aid}/answer", json=body)


async def last_tally(w: World, channel: str, aid: int, *, total: int) -> dict[str, Any]:
    """The newest tally of ``aid`` in the log once it counts ``total`` answers."""
    for _ in range(200):
        tallies = [e.body for e in await w.log(channel) if e.type == "activity.tally"
                   and e.body["activity_id"] == aid]
        if tallies:
            best = max(tallies, key=lambda b: b["version"])
            if best["total"] == total:
                return best
        await asyncio.sleep(0.05)
    raise AssertionError(f"no tally of {total} answers in {channel}")


async def test_a_poll_from_draft_to_revealed(world: World) -> None:
    w = world
    poll = await create(w, {**POLL, "changeable": False})
    aid, channel = poll["id"], poll["channel"]
    assert poll["state"] == "draft" and poll["draft"] and channel == f"event:{w.event_id}:board"
    # A draft is the trainers' business: not listed, not readable, not answerable, not logged.
    listed = (await w["p1"].get(f"/api/events/{w.event_id}/activities")).json()["activities"]
    assert all(a["id"] != aid for a in listed)
    assert (await w["p1"].get(f"/api/activities/{aid}")).status_code == 404
    assert (await answer(w, "p1", aid, choices=[0])).status_code == 404
    assert not [e for e in await w.log(channel) if e.type.startswith("activity.")]

    opened = await set_state(w, aid, "open")
    assert opened["state"] == "open"
    changed = [e for e in await w.log(channel) if e.type == "activity.changed"]
    assert changed[-1].body["activity"]["state"] == "open"
    assert changed[-1].author_id is None

    r = await answer(w, "p1", aid, choices=[0])
    assert r.status_code == 200, r.text
    assert r.json()["choices"] == [0] and r.json()["changed"] is False
    r = await answer(w, "p1", aid, choices=[1])
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_answered"
    r = await answer(w, "p2", aid, choices=[0, 1])
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_answer"
    assert (await answer(w, "p2", aid, choices=[7])).status_code == 422
    assert (await answer(w, "p2", aid, choices=[2])).status_code == 200
    # Outsiders and reviewing admins do not answer; an outsider learns nothing.
    assert (await answer(w, "out", aid, choices=[0])).status_code == 404
    assert (await answer(w, "adm", aid, choices=[0])).status_code == 403

    # Hidden results: the room gets the number of answers, the trainers the counts.
    tally = await last_tally(w, channel, aid, total=2)
    assert "counts" not in tally and tally["shown"] is False
    mine = (await w["p1"].get(f"/api/activities/{aid}/results")).json()
    assert mine["total"] == 2 and "counts" not in mine
    full = (await w["tr"].get(f"/api/activities/{aid}/results")).json()
    assert full["counts"] == [1, 0, 1]

    await set_state(w, aid, "closed")
    r = await answer(w, "org", aid, choices=[1])
    assert r.status_code == 409 and r.json()["error"]["code"] == "activity_closed"
    r = await w["p1"].post(f"/api/activities/{aid}/results", json={"shown": True})
    assert r.status_code == 403
    r = await w["tr"].post(f"/api/activities/{aid}/results", json={"shown": True})
    assert r.status_code == 200 and r.json()["results"]["counts"] == [1, 0, 1]
    assert (await w["p1"].get(f"/api/activities/{aid}/results")).json()["counts"] == [1, 0, 1]
    for _ in range(200):  # the reveal sends a tally with the counts to the room
        shown = [e.body for e in await w.log(channel)
                 if e.type == "activity.tally" and e.body.get("shown")]
        if shown:
            break
        await asyncio.sleep(0.05)
    assert shown and shown[-1]["counts"] == [1, 0, 1]
    # The participant's own view says what they chose.
    view = (await w["p1"].get(f"/api/activities/{aid}")).json()
    assert view["my_answer"]["choices"] == [0] and view["results"]["counts"] == [1, 0, 1]
    # A closed poll cannot be edited or closed again; it can be reopened.
    assert (await w["tr"].patch(f"/api/activities/{aid}", json=POLL)).status_code == 409
    r = await w["tr"].post(f"/api/activities/{aid}/state", json={"state": "closed"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "bad_transition"


async def test_changeable_answers_are_counted_once(world: World) -> None:
    w = world
    poll = await create(w, {**POLL, "multiple": True})
    aid = poll["id"]
    await set_state(w, aid, "open")
    assert (await answer(w, "p1", aid, choices=[0, 2])).status_code == 200
    r = await answer(w, "p1", aid, choices=[1])
    assert r.status_code == 200 and r.json()["changed"] is True
    assert (await answer(w, "p2", aid, choices=[1, 2])).status_code == 200
    full = (await w["tr"].get(f"/api/activities/{aid}/results")).json()
    assert full["total"] == 2 and full["counts"] == [0, 2, 1]
    tally = await last_tally(w, poll["channel"], aid, total=2)
    assert tally["version"] == 3  # three stored answers, whatever the batching


async def test_answers_in_parallel_are_one_per_person(world: World) -> None:
    """A burst from the same people (a double click, two tabs) stores one answer each."""
    w = world
    poll = await create(w, {**POLL, "changeable": False})
    aid = poll["id"]
    await set_state(w, aid, "open")
    rs = await asyncio.gather(*[answer(w, who, aid, choices=[i % 3])
                                for i, who in enumerate(["p1", "p2", "tr", "org"] * 3)])
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) == 4 and codes.count(409) == 8, codes
    full = (await w["tr"].get(f"/api/activities/{aid}/results")).json()
    assert full["total"] == 4 and sum(full["counts"]) == 4


async def test_a_word_cloud_counts_normalised_terms_and_hides_one(world: World) -> None:
    w = world
    cloud = await create(w, {"kind": "wordcloud", "title": "One word for today"})
    aid = cloud["id"]
    await set_state(w, aid, "open")
    await w["tr"].post(f"/api/activities/{aid}/results", json={"shown": True})
    for who, text in (("p1", "Fun!"), ("p2", "  FUN "), ("org", "rubbish"), ("tr", "Ｆｕｎ")):
        assert (await answer(w, who, aid, text=text)).status_code == 200
    r = await answer(w, "p1", aid, text="?!")
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_answer"
    seen = (await w["p1"].get(f"/api/activities/{aid}/results")).json()
    assert seen["terms"] == [["fun", 3], ["rubbish", 1]]
    r = await w["tr"].post(f"/api/activities/{aid}/hidden-terms", json={"term": "RUBBISH!"})
    assert r.status_code == 200 and r.json()["hidden_terms"] == ["rubbish"]
    assert (await w["p1"].get(f"/api/activities/{aid}/results")).json()["terms"] == [["fun", 3]]
    full = (await w["tr"].get(f"/api/activities/{aid}/results")).json()
    assert full["hidden"] == [["rubbish", 1]]
    tally = await last_tally(w, cloud["channel"], aid, total=4)
    assert tally["terms"] == [["fun", 3]]
    r = await w["p1"].post(f"/api/activities/{aid}/hidden-terms", json={"term": "fun"})
    assert r.status_code == 403


async def test_quiz_scores_for_participants_and_trainers(world: World) -> None:
    w = world
    q1 = await create(w, {**POLL, "correct": [0]})
    q2 = await create(w, {"kind": "poll", "title": "2+2?", "options": ["4", "5"], "correct": [0]})
    assert q1["correct"] == [0]
    for q in (q1, q2):
        await set_state(w, q["id"], "open")
    p1_view = (await w["p1"].get(f"/api/activities/{q1['id']}")).json()
    assert p1_view["quiz"] is True and p1_view["correct"] is None  # not before the reveal
    await answer(w, "p1", q1["id"], choices=[0])
    await answer(w, "p1", q2["id"], choices=[1])
    await answer(w, "p2", q1["id"], choices=[1])
    url = f"/api/events/{w.event_id}/quiz-scores"
    assert (await w["p1"].get(url)).json()["scores"] == []  # nothing revealed yet
    every = (await w["tr"].get(url)).json()
    assert every["all"] is True
    assert [(s["name"], s["correct"], s["answered"]) for s in every["scores"]] == [
        ("Pia", 1, 2), ("Paul", 0, 1)]
    await w["tr"].post(f"/api/activities/{q1['id']}/results", json={"shown": True})
    own = (await w["p1"].get(url)).json()
    assert own["all"] is False
    assert [(s["name"], s["correct"], s["answered"]) for s in own["scores"]] == [("Pia", 1, 1)]
    mine = (await w["p1"].get(f"/api/activities/{q1['id']}")).json()["my_answer"]
    assert mine["correct"] is True
    assert (await w["out"].get(url)).status_code == 404


async def test_trainers_only_create_copy_export_and_delete(world: World) -> None:
    w = world
    url = f"/api/events/{w.event_id}/activities"
    assert (await w["p1"].post(url, json=POLL)).status_code == 403
    assert (await w["out"].post(url, json=POLL)).status_code == 404
    r = await w["tr"].post(f"/api/events/{w.event_id}/activities",
                           json={**POLL, "options": ["only one"]})
    assert r.status_code == 422
    poll = await create(w, {**POLL, "time_limit_secs": 60})
    await set_state(w, poll["id"], "open")
    await answer(w, "p1", poll["id"], choices=[2])
    await answer(w, "p2", poll["id"], choices=[0])

    # Copy to another event the trainer also trains: a fresh draft, no answers.
    async with w.services.db.session() as db:
        now = utcnow()
        other = Event(title="Next week", starts_at=now, ends_at=now + dt.timedelta(hours=1))
        db.add(other)
        await db.flush()
        db.add(Enrolment(user_id=w.users["tr"].id, event_id=other.id, role=Role.TRAINER.value))
        db.add(Enrolment(user_id=w.users["p1"].id, event_id=other.id,
                         role=Role.PARTICIPANT.value))
        other_id = other.id
    r = await w["tr"].post(f"/api/activities/{poll['id']}/copy", json={"event_id": other_id})
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["event_id"] == other_id and copy["state"] == "draft"
    assert copy["options"] == POLL["options"] and copy["time_limit_secs"] == 60
    assert copy["results"]["total"] == 0
    r = await w["p1"].post(f"/api/activities/{poll['id']}/copy", json={"event_id": other_id})
    assert r.status_code == 403
    # Another event's poll: refused to a participant of this one (p2 is not in the other).
    await set_state(w, copy["id"], "open")
    assert (await answer(w, "p2", copy["id"], choices=[0])).status_code == 404
    assert (await answer(w, "p1", copy["id"], choices=[0])).status_code == 200

    r = await w["tr"].get(f"/api/activities/{poll['id']}/export", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["name"], row["answer"]) for row in rows] == [("Pia", "Rust"), ("Paul", "Python")]
    data = (await w["tr"].get(f"/api/activities/{poll['id']}/export")).json()
    assert data["results"]["counts"] == [1, 0, 1] and len(data["answers"]) == 2
    assert (await w["p1"].get(f"/api/activities/{poll['id']}/export")).status_code == 403
    # An admin who does not train the event reads people's answers: audited; a trainer: not.
    target = f"activity:{poll['id']}"
    assert not await audit_rows(w, "review.activity_export", target)
    assert (await w["adm"].get(f"/api/activities/{poll['id']}/export")).status_code == 200
    assert len(await audit_rows(w, "review.activity_export", target)) == 1
    assert (await w["adm"].get(f"/api/events/{w.event_id}/quiz-scores")).json()["all"] is True
    assert len(await audit_rows(w, "review.quiz_scores", f"event:{w.event_id}")) == 1

    assert (await w["p1"].delete(f"/api/activities/{poll['id']}")).status_code == 403
    assert (await w["tr"].delete(f"/api/activities/{poll['id']}")).status_code == 200
    assert (await w["p1"].get(f"/api/activities/{poll['id']}")).status_code == 404
    deleted = [e for e in await w.log(poll["channel"]) if e.type == "activity.deleted"]
    assert deleted[-1].body == {"id": poll["id"]}


async def test_group_activities_are_the_groups(world: World) -> None:
    w = world
    poll = await create(w, {**POLL, "group_id": w.group_id})
    assert poll["channel"] == f"group:{w.group_id}:board"
    await set_state(w, poll["id"], "open")
    assert (await answer(w, "p1", poll["id"], choices=[0])).status_code == 200  # a member
    assert (await answer(w, "p2", poll["id"], choices=[0])).status_code == 404  # not one
    listed = await w["p1"].get(f"/api/events/{w.event_id}/activities",
                               params={"group_id": w.group_id})
    assert [a["id"] for a in listed.json()["activities"]] == [poll["id"]]
    r = await w["p2"].get(f"/api/events/{w.event_id}/activities", params={"group_id": w.group_id})
    assert r.status_code == 404


async def test_own_answers_are_in_the_data_export_and_erased(world: World) -> None:
    from storage.repo.erasure import erase_user
    from storage.repo.personal_data import collect

    w = world
    cloud = await create(w, {"kind": "wordcloud", "title": "Mood?"})
    await set_state(w, cloud["id"], "open")
    await answer(w, "p1", cloud["id"], text="Sunny :)")
    await answer(w, "p2", cloud["id"], text="sunny")
    async with w.services.db.session() as db:
        mine = (await collect(db, w.users["p1"].id))["activity_answers"]
    assert [(a["question"], a["text"]) for a in mine] == [("Mood?", "Sunny :)")]
    async with w.services.db.session() as db:
        report = await erase_user(db, w.users["p1"].id, erase_content=True)
    assert report.rows["activity_answers"] == 1
    full = (await w["tr"].get(f"/api/activities/{cloud['id']}/results")).json()
    assert full["total"] == 1 and full["terms"] == [["sunny", 1]]
