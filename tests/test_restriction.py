"""Restriction of processing (GDPR Art. 18): asked for, in force, lifted by an admin; the
person is kept out of bulk mail, co-participants' member lists and profiles (SQLite and
PostgreSQL)."""

from __future__ import annotations

from storage.repo.audience import AudienceKind, AudienceSpec, resolve
from tests.pinboard_world import World, audit_rows, world  # noqa: F401 - fixture


async def _recipients(w: World) -> set[int]:
    async with w.services.db.session() as db:
        audience = await resolve(
            db, w.users["tr"], AudienceSpec(AudienceKind.EVENT, event_id=w.event_id)
        )
    return {r.user_id for r in audience.recipients}


async def _members(w: World, who: str) -> dict[int, dict[str, object]]:
    r = await w[who].get(f"/api/events/{w.event_id}/members")
    assert r.status_code == 200, r.text
    return {m["user_id"]: m for m in r.json()["members"]}


async def test_a_restriction_keeps_the_data_but_stops_its_use(world: World) -> None:
    w = world
    p1 = w.users["p1"].id
    await w["p1"].patch("/api/me/profile", json={"profile_public": True})
    assert p1 in await _recipients(w)
    assert (await w["p2"].get(f"/api/users/{p1}/profile")).json()["view"] == "brief"

    r = await w["p1"].post("/api/me/restriction", json={"reason": "I contest my data"})
    assert r.status_code == 201, r.text
    assert r.json()["restriction"]["active"]
    assert (await w["p1"].post("/api/me/restriction", json={"reason": "again"})).status_code == 409
    # Not mailed bulk mail, and the preview organisers see leaves them out.
    assert p1 not in await _recipients(w)
    preview = await w["tr"].post("/api/mail/preview", json={
        "audience": {"kind": "event", "event_id": w.event_id}, "category": "information"})
    assert preview.status_code == 200, preview.text
    assert p1 not in {s["user_id"] for s in preview.json()["sample"]}
    # Co-participants no longer see them; staff see name and role, no address.
    assert p1 not in await _members(w, "p2")
    staff_view = (await _members(w, "tr"))[p1]
    assert staff_view["display_name"] == "Pia" and staff_view.get("email") is None
    assert (await _members(w, "adm"))[p1]["email"]
    # Their profile shows their name only, to co-participants and staff alike.
    assert (await w["p2"].get(f"/api/users/{p1}/profile")).json()["view"] == "name"
    assert (await w["tr"].get(f"/api/users/{p1}/profile")).json()["view"] == "name"
    # In their data export, with reason and date.
    data = (await w["p1"].get("/api/me/data")).json()
    (entry,) = data["processing_restrictions"]
    assert entry["reason"] == "I contest my data" and entry["lifted_at"] is None

    # Only an admin lifts it.
    assert (await w["p1"].request("DELETE", f"/api/admin/users/{p1}/restriction",
                                  json={"note": "x"})).status_code == 403
    listed = (await w["adm"].get("/api/admin/restrictions")).json()["restrictions"]
    assert p1 in {x["user_id"] for x in listed}
    r = await w["adm"].request("DELETE", f"/api/admin/users/{p1}/restriction",
                               json={"note": "accuracy checked"})
    assert r.status_code == 200 and r.json()["restriction"]["lifted_at"]
    assert p1 in await _recipients(w)
    assert p1 in await _members(w, "p2")
    assert await audit_rows(w, "restriction.start", f"user:{p1}")
    assert await audit_rows(w, "restriction.lift", f"user:{p1}")
    assert await audit_rows(w, "restrictions.read", "restrictions")


async def test_an_admin_restricts_on_someones_behalf(world: World) -> None:
    w = world
    p2 = w.users["p2"].id
    assert (await w["tr"].post(f"/api/admin/users/{p2}/restriction",
                               json={"reason": "x"})).status_code == 403
    r = await w["adm"].post(f"/api/admin/users/{p2}/restriction",
                            json={"reason": "asked by phone"})
    assert r.status_code == 201
    assert r.json()["restriction"]["requested_by"] == w.users["adm"].id
    mine = (await w["p2"].get("/api/me/restriction")).json()["restriction"]
    assert mine["reason"] == "asked by phone"
    assert (await w["adm"].post("/api/admin/users/999999999/restriction",
                                json={"reason": "x"})).status_code == 404
