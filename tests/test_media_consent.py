"""Consent to appear in an event's media: revocation withdraws portraits, puts group shots
on the due list with a one-month deadline (fixed clock), blurring clears it, maintenance
withdraws what is overdue and tells staff and admins (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

from PIL import Image
from sqlalchemy import select

from storage.maintenance import withdraw_overdue_media
from storage.models import MailCampaign, MailDelivery, MediaDue
from storage.repo.channel_log import read_since
from storage.repo.consent import add_month
from tests.media_helpers import consent, png, publish
from tests.pinboard_world import World, audit_rows, world  # noqa: F401 - fixture

T0 = dt.datetime(2026, 1, 31, 9, 30, tzinfo=dt.UTC)


def test_one_month_is_a_calendar_month() -> None:
    assert add_month(T0) == dt.datetime(2026, 2, 28, 9, 30, tzinfo=dt.UTC)
    assert add_month(dt.datetime(2026, 12, 15, tzinfo=dt.UTC)) == dt.datetime(
        2027, 1, 15, tzinfo=dt.UTC)


async def _tagged(w: World, tags: list[dict[str, object]]) -> dict[str, object]:
    item = (await publish(w, "tr", png(), "image/png")).json()
    r = await w["tr"].put(f"/api/media/{item['id']}/tags", json={"tags": tags})
    assert r.status_code == 200, r.text
    return item  # type: ignore[no-any-return]


async def test_refusal_is_recorded_and_the_trainer_sees_it(world: World) -> None:
    w = world
    first = await consent(w, "p2", "refused")
    assert first["decision"] == "refused" and not first["revoked"]
    listed = (await w["tr"].get(f"/api/events/{w.event_id}/media")).json()
    by_id = {c["user_id"]: c for c in listed["consents"]}
    assert by_id[w.users["p2"].id]["decision"] == "refused"
    assert by_id[w.users["p1"].id]["decision"] is None  # not asked yet
    assert listed["consents"][0]["user_id"] == w.users["p2"].id  # refusals first
    # Nobody who has not consented can be tagged.
    item = (await publish(w, "tr", png(), "image/png")).json()
    r = await w["tr"].put(f"/api/media/{item['id']}/tags",
                          json={"tags": [{"user_id": w.users["p2"].id}]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_consent"
    mine = (await w["p2"].get(f"/api/events/{w.event_id}/media")).json()["my_consent"]
    assert mine["decision"] == "refused"


async def test_revocation_withdraws_portraits_and_lists_group_shots(world: World) -> None:
    w = world
    p1 = w.users["p1"].id
    await consent(w, "p1", "given")
    await consent(w, "p2", "given")
    portrait = await _tagged(w, [{"user_id": p1, "portrait": True}])
    group = await _tagged(w, [{"user_id": p1}, {"user_id": w.users["p2"].id}])
    other = await _tagged(w, [{"user_id": w.users["p2"].id}])

    out = await consent(w, "p1", "refused")
    assert out["decision"] == "revoked" and out["revoked"]
    assert out["withdrawn"] == [portrait["id"]] and out["due"] == [group["id"]]
    assert (await w["p2"].get(str(portrait["url"]))).status_code == 410
    assert (await w["p2"].get(str(group["url"]))).status_code == 200
    assert (await w["p2"].get(str(other["url"]))).status_code == 200
    listed = (await w["tr"].get(f"/api/events/{w.event_id}/media")).json()
    (due,) = listed["due"]
    assert due["media_id"] == group["id"] and due["user_id"] == p1
    created = dt.datetime.fromisoformat(due["created_at"])
    assert dt.datetime.fromisoformat(due["due_at"]) == add_month(created)
    # The trainers were told in their personal channel.
    async with w.services.db.session() as db:
        notices = await read_since(db, f"user:{w.users['tr'].id}", 0, 100)
    assert {e.type for e in notices} == {"media.due", "media.withdrawn"}
    assert await audit_rows(w, "media.withdraw", f"media:{portrait['id']}")
    assert await audit_rows(w, "consent.revoked", f"event:{w.event_id}")
    # The consent's history is in the person's data export.
    export = await w["p1"].get("/api/me/export")
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        import json

        history = json.loads(zf.read("consents.json"))
    assert [h["decision"] for h in history] == ["given", "revoked"]
    appearances = (await w["p1"].get("/api/me/data")).json()["media_appearances"]
    assert {(a["media_id"], a["portrait"]) for a in appearances} == {
        (portrait["id"], True), (group["id"], False)}


async def test_blurring_replaces_the_stored_image_and_clears_the_due_item(world: World) -> None:
    w = world
    await consent(w, "p1", "given")
    group = await _tagged(w, [{"user_id": w.users["p1"].id}])
    await consent(w, "p1", "refused")
    before = (await w["tr"].get(str(group["url"]))).content
    # Participants may not blur; a rectangle outside the photo is refused.
    rect = {"x": 10, "y": 10, "w": 50, "h": 40}
    assert (await w["p2"].post(f"/api/media/{group['id']}/blur",
                               json={"rects": [rect]})).status_code == 403
    outside = {"x": 5000, "y": 5000, "w": 10, "h": 10}
    assert (await w["tr"].post(f"/api/media/{group['id']}/blur",
                               json={"rects": [outside]})).status_code == 422
    r = await w["tr"].post(f"/api/media/{group['id']}/blur", json={"rects": [rect]})
    assert r.status_code == 200, r.text
    blurred = r.json()
    assert blurred["version"] == group["version"] + 1  # type: ignore[operator]
    after = (await w["tr"].get(blurred["url"])).content
    assert after != before
    old, new = Image.open(io.BytesIO(before)), Image.open(io.BytesIO(after))
    # Inside the rectangle the stripes are gone; outside it nothing changed.
    assert old.getpixel((20, 20)) != new.getpixel((20, 20)) or old.getpixel(
        (21, 20)) != new.getpixel((21, 20))
    assert old.getpixel((100, 70)) == new.getpixel((100, 70))
    listed = (await w["tr"].get(f"/api/events/{w.event_id}/media")).json()
    assert listed["due"] == []
    (shown,) = [i for i in listed["items"] if i["id"] == group["id"]]
    assert shown["tags"] == []  # blurred out: no longer shown
    assert await audit_rows(w, "media.blurred", f"media:{group['id']}")
    files = list((w.services.settings.var_dir / "media").glob(f"{group['id']}-*"))
    assert len(files) == 1  # the old ciphertext is gone


async def test_maintenance_withdraws_overdue_media_with_a_fixed_clock(world: World) -> None:
    w = world
    await consent(w, "p1", "given")
    group = await _tagged(w, [{"user_id": w.users["p1"].id}])
    await consent(w, "p1", "refused")
    async with w.services.db.session() as db:  # the revocation happened at T0
        due = (await db.execute(
            select(MediaDue).where(MediaDue.media_id == group["id"])
        )).scalar_one()
        due.created_at, due.due_at = T0, add_month(T0)
    settings = w.services.settings
    # One second before the deadline nothing happens; at the deadline it is withdrawn.
    early = add_month(T0) - dt.timedelta(seconds=1)
    assert await withdraw_overdue_media(w.services.db, settings, now=early) == []
    assert (await w["p2"].get(str(group["url"]))).status_code == 200
    done = await withdraw_overdue_media(w.services.db, settings, now=add_month(T0))
    assert done == [group["id"]]
    assert (await w["p2"].get(str(group["url"]))).status_code == 410
    assert not list((settings.var_dir / "media").glob(f"{group['id']}-*"))
    assert await audit_rows(w, "media.withdraw", f"media:{group['id']}")
    async with w.services.db.session() as db:
        campaign = (await db.execute(
            select(MailCampaign).where(MailCampaign.kind == "media_notice")
            .order_by(MailCampaign.id.desc()).limit(1)
        )).scalar_one()
        to = set((await db.execute(
            select(MailDelivery.user_id).where(MailDelivery.campaign_id == campaign.id)
        )).scalars())
        admin_notices = await read_since(db, f"user:{w.users['adm'].id}", 0, 100)
    assert {w.users["tr"].id, w.users["org"].id, w.users["adm"].id} <= to
    assert w.users["p1"].id not in to
    assert any(e.type == "media.withdrawn" for e in admin_notices)
    # Run again: nothing left to do.
    assert await withdraw_overdue_media(w.services.db, settings, now=add_month(T0)) == []


async def test_the_profile_photo_consent_is_one_record(world: World) -> None:
    w = world
    r = await w["p1"].put("/api/me/photo", content=png(), headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    data = (await w["p1"].get("/api/me/data")).json()
    assert [c["decision"] for c in data["consents"]] == ["given"]
    assert data["consents"][0]["kind"] == "profile_photo"
    r = await w["p1"].put("/api/me/consent/profile-photo", json={"decision": "refused"})
    assert r.status_code == 200 and r.json()["photo_deleted"]
    assert r.json()["decision"] == "revoked"
    assert (await w["p1"].get("/api/me/data")).json()["profile"]["has_photo"] is False


async def test_media_go_with_the_events_photo_retention(world: World) -> None:
    from storage.models import Event
    from storage.repo.media import delete_expired

    w = world
    item = (await publish(w, "tr", png(), "image/png")).json()
    async with w.services.db.session() as db:
        ev = await db.get(Event, w.event_id)
        assert ev is not None
        ev.photos_retention_days = 10
        ends = ev.ends_at
    async with w.services.db.session() as db:
        assert item["id"] not in await delete_expired(db, ends + dt.timedelta(days=9))
    async with w.services.db.session() as db:
        assert item["id"] in await delete_expired(db, ends + dt.timedelta(days=10))
    assert (await w["p1"].get(str(item["url"]))).status_code == 404


async def test_a_video_on_the_due_list_is_replaced(world: World) -> None:
    from tests.media_helpers import fake_mp4

    w = world
    await consent(w, "p1", "given")
    video = (await publish(w, "tr", fake_mp4(80_000), "video/mp4")).json()
    r = await w["tr"].put(f"/api/media/{video['id']}/tags",
                          json={"tags": [{"user_id": w.users["p1"].id}]})
    assert r.status_code == 200
    await consent(w, "p1", "refused")
    assert len((await w["tr"].get(f"/api/events/{w.event_id}/media")).json()["due"]) == 1
    # The replacement must be a video too (its magic bytes checked like an upload).
    wrong = await w["tr"].put(f"/api/media/{video['id']}/file", content=png(),
                              headers={"Content-Type": "image/png"})
    assert wrong.status_code == 415
    edited = fake_mp4(50_000)
    r = await w["tr"].put(f"/api/media/{video['id']}/file", content=edited,
                          headers={"Content-Type": "video/mp4"})
    assert r.status_code == 200, r.text
    assert (await w["p2"].get(r.json()["url"])).content == edited
    assert (await w["tr"].get(f"/api/events/{w.event_id}/media")).json()["due"] == []
    assert await audit_rows(w, "media.replaced", f"media:{video['id']}")


async def test_an_upload_left_behind_by_a_crash_is_cleaned_up(world: World) -> None:
    from storage.models import MediaItem
    from storage.repo.media import delete_stale_uploads

    w = world
    async with w.services.db.session() as db:
        row = MediaItem(event_id=w.event_id, kind="video", content_type="video/mp4",
                        state="uploading", created_at=T0)
        db.add(row)
        await db.flush()
        row_id = row.id
    async with w.services.db.session() as db:
        assert row_id not in await delete_stale_uploads(db, T0 + dt.timedelta(hours=23))
    async with w.services.db.session() as db:
        assert row_id in await delete_stale_uploads(db, T0 + dt.timedelta(hours=25))


async def test_consent_given_again_voids_the_due_items(world: World) -> None:
    w = world
    await consent(w, "p1", "given")
    group = await _tagged(w, [{"user_id": w.users["p1"].id}])
    await consent(w, "p1", "refused")
    assert len((await w["tr"].get(f"/api/events/{w.event_id}/media")).json()["due"]) == 1
    again = await consent(w, "p1", "given")
    assert again["decision"] == "given" and not again["revoked"]
    assert (await w["tr"].get(f"/api/events/{w.event_id}/media")).json()["due"] == []
    assert (await w["p2"].get(str(group["url"]))).status_code == 200
