"""Provisioning through the server API: 500 enrolments in one idempotent call.

The batch costs a bounded number of SQL statements, not one per row (counted on the
server's own engine); a second identical call changes nothing and says so; a removed
enrolment ends a live subscription at once; a bad row refuses the whole batch.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from storage.models import Enrolment, GroupMember, User
from storage.repo.accounts import create_session
from tests.hub_support import SECRET, HubClient, Stack
from tests.server_api_support import api, make_key
from web.auth import sign_token

N = 500


def batch(tag: str, n: int = N) -> dict[str, Any]:
    users = [
        {"external_id": f"{tag}-u{i}", "email": f"{tag}-{i}@example.org",
         "display_name": f"Learner {i}"}
        for i in range(n)
    ]
    return {
        "users": users,
        "events": [{"external_id": f"{tag}-course", "title": "Statistics 101",
                    "starts_at": "2027-03-01T09:00:00+01:00",
                    "ends_at": "2027-03-01T17:00:00+01:00", "location": "Room 3"}],
        "enrolments": [
            {"event": f"{tag}-course", "user": u["external_id"],
             "role": "trainer" if i == 0 else "participant"}
            for i, u in enumerate(users)
        ],
        "groups": [
            {"external_id": f"{tag}-g{g}", "event": f"{tag}-course", "name": f"Team {g}",
             "members": [u["external_id"] for u in users[g::2]]}
            for g in range(2)
        ],
    }


class StatementCounter:
    def __init__(self, engine: Any) -> None:
        self.engine, self.count = engine.sync_engine, 0
        self.statements: list[str] = []

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.count += 1
        self.statements.append(statement[:60])

    def __enter__(self) -> StatementCounter:
        sa_event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        sa_event.remove(self.engine, "before_cursor_execute", self._seen)


async def test_500_enrolments_in_one_idempotent_call(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path / "var") as stack:
        token = await make_key(db_url, "sis-sync", "provision")
        services = stack.server.app.state.services
        body = batch(uuid.uuid4().hex[:10])
        async with api(stack.port, token) as suite:
            with StatementCounter(services.db.engine) as counter:
                t0 = time.perf_counter()
                first = await suite.post("/api/server/provision", json=body)
                took = time.perf_counter() - t0
            assert first.status_code == 200, first.text
            out = first.json()
            assert out["changed"] is True
            assert out["users"]["created"] == N and out["enrolments"]["created"] == N
            assert out["groups"]["created"] == 2 and out["group_members"]["created"] == N
            # Bulk statements: a fixed number whatever N (key, activity log and audit included).
            from collections import Counter
            assert counter.count < 40, Counter(counter.statements).most_common(5)
            print(f"\nprovision {N} users+enrolments+2 groups: {took * 1000:.0f} ms, "
                  f"{counter.count} statements")

            with StatementCounter(services.db.engine) as counter:
                t0 = time.perf_counter()
                second = await suite.post("/api/server/provision", json=body)
                took = time.perf_counter() - t0
            assert second.status_code == 200, second.text
            again = second.json()
            assert again["changed"] is False and again["ids"] == out["ids"]
            for kind in ("users", "events", "enrolments", "groups", "group_members"):
                assert again[kind]["created"] == again[kind]["updated"] == 0, kind
                assert again[kind]["removed"] == 0, kind
            assert again["enrolments"]["unchanged"] == N
            print(f"the same call again: {took * 1000:.0f} ms, {counter.count} statements")

            event_id = out["ids"]["events"][body["events"][0]["external_id"]]
            async with services.db.session() as db:
                enrolled = (await db.execute(
                    select(func.count()).select_from(Enrolment)
                    .where(Enrolment.event_id == event_id))).scalar_one()
                members = (await db.execute(
                    select(func.count()).select_from(GroupMember)
                    .where(GroupMember.group_id.in_(list(out["ids"]["groups"].values())))
                )).scalar_one()
            assert (enrolled, members) == (N, N)

            # A change is one update: a renamed person and a new role.
            body["users"][1]["display_name"] = "Renamed"
            body["enrolments"][1]["role"] = "trainer"
            third = (await suite.post("/api/server/provision", json=body)).json()
            assert third["users"]["updated"] == 1 and third["users"]["unchanged"] == N - 1
            assert third["enrolments"]["updated"] == 1


async def test_a_removed_enrolment_ends_live_access(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path / "var") as stack:
        token = await make_key(db_url, "sis-live", "provision")
        tag = uuid.uuid4().hex[:10]
        body = batch(tag, 3)
        async with api(stack.port, token) as suite:
            out = (await suite.post("/api/server/provision", json=body)).json()
            uid = out["ids"]["users"][f"{tag}-u1"]
            event_id = out["ids"]["events"][f"{tag}-course"]
            async with stack.world.db.session() as db:
                user = await db.get(User, uid)
                assert user is not None and user.password_hash is None
                cookie = sign_token(SECRET, await create_session(db, user, max_secs=3600))
            ws = await HubClient.connect(stack.port, cookie)
            chat = f"event:{event_id}:chat"
            assert (await ws.subscribe(chat))["channels"][0]["status"] == "ok"
            gone_row = {"event": f"{tag}-course", "user": f"{tag}-u1"}
            r = await suite.post("/api/server/provision", json={"unenrol": [gone_row]})
            assert r.status_code == 200, r.text
            assert r.json()["enrolments"]["removed"] == 1
            assert r.json()["group_members"]["removed"] == 0  # left as it was: members not sent
            gone = await ws.recv_type("unsubscribed")
            assert gone["reason"] == "forbidden" and gone["channels"] == [chat]
            async with stack.world.db.session() as db:
                left = (await db.execute(select(GroupMember).where(GroupMember.user_id == uid)))
                assert left.first() is None  # the event's groups went with the enrolment
            await ws.close()


async def test_a_bad_row_refuses_the_whole_batch(db_url: str, tmp_path: Path) -> None:
    async with Stack(db_url, tmp_path / "var") as stack:
        token = await make_key(db_url, "sis-bad", "provision")
        other, _ = await stack.world.user("Existing")
        async with stack.world.db.session() as db:
            taken = (await db.get(User, other)).email  # type: ignore[union-attr]
        tag = uuid.uuid4().hex[:10]
        body = batch(tag, 4)
        async with api(stack.port, token) as suite:
            linked = dict(body, users=[*body["users"], {"external_id": f"{tag}-x", "email": taken,
                                                        "display_name": "Existing"}])
            # An address with an account and no external id is linked to it ...
            r = await suite.post("/api/server/provision", json=linked)
            assert r.status_code == 200 and r.json()["ids"]["users"][f"{tag}-x"] == other
            # ... but never taken from an account linked to another id.
            clash = {"users": [{"external_id": f"{tag}-y", "email": taken, "display_name": "Y"}],
                     "events": [dict(body["events"][0], external_id=f"{tag}-new")]}
            r = await suite.post("/api/server/provision", json=clash)
            assert r.status_code == 409 and r.json()["error"]["code"] == "email_taken"
            r = await suite.post("/api/server/provision", json={
                "enrolments": [{"event": f"{tag}-new", "user": f"{tag}-u0"}]})
            assert r.status_code == 422  # the clashing batch's event was not stored either
            r = await suite.post("/api/server/provision", json={
                "groups": [{"external_id": f"{tag}-g9", "event": f"{tag}-course", "name": "N",
                            "members": [f"{tag}-x"]}]})
            assert r.status_code == 422 and r.json()["error"]["code"] == "not_enrolled"
