"""A person's own data: access, correction, export zip, visibility, photo — and pinboard erasure."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from storage.channels import dm_channel
from storage.models import Role
from tests.conftest import PASSWORD, login, make_user
from tests.privacy_helpers import find_everywhere, make_event, post, second_client, word


def jpeg(colour: str = "red", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return out.getvalue()


async def _board(client: httpx.AsyncClient, event_id: int) -> int:
    r = await client.get(f"/api/pinboard/events/{event_id}/board")
    assert r.status_code == 200, r.text
    return int(r.json()["board"]["id"])


async def _note(client: httpx.AsyncClient, board: int, text: str) -> int:
    r = await client.post(
        f"/api/pinboard/boards/{board}/notes", json={"text": text, "release": True}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_export_contains_everything_listed(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    me = await make_user(services, name="Mia")
    peer = await make_user(services, name="Pete")
    ev, grp = await make_event(
        services, (me, Role.PARTICIPANT), (peer, Role.PARTICIPANT), group_members=(me,)
    )
    secret = word()
    msg = await post(services, f"event:{ev.id}:chat", me, f"{secret} chat")
    dm = await post(services, dm_channel(me.id, peer.id), me, f"{secret} dm")
    peer_msg = await post(services, f"event:{ev.id}:chat", peer, "peer")
    reaction = await post(
        services,
        f"event:{ev.id}:chat",
        me,
        type="reaction",
        ref_id=peer_msg.id,
        body={"emoji": "+1"},
    )
    notice = await post(services, f"user:{me.id}", None, "a notice for me")
    await login(client, me.email)
    assert (
        await client.patch(
            "/api/me/profile", json={"organisation": "Org X", "profile_public": True}
        )
    ).status_code == 200
    assert (
        await client.put("/api/me/photo", content=jpeg(), headers={"content-type": "image/jpeg"})
    ).status_code == 200
    board = await _board(client, ev.id)
    note_id = await _note(client, board, f"{secret} note")
    files = {"file": ("p.png", _png(), "image/png")}
    r = await client.post(f"/api/pinboard/notes/{note_id}/photo", files=files)
    assert r.status_code == 200, r.text
    async with second_client(app) as pc:
        await login(pc, peer.email)
        peer_note = await _note(pc, board, "peer note")
    assert (await client.post(f"/api/pinboard/notes/{peer_note}/vote")).status_code == 201
    r = await client.post(
        f"/api/pinboard/notes/{peer_note}/replies", json={"text": f"{secret} reply"}
    )
    assert r.status_code == 201

    data = (await client.get("/api/me/data")).json()
    r = await client.get("/api/me/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(zf.namelist())
    for section in (
        "profile",
        "enrolments",
        "messages",
        "notes",
        "reactions",
        "mails_received",
        "activity",
    ):
        assert f"{section}.json" in names, section
    exported = json.loads(zf.read("data.json"))
    for d in (data, exported):
        assert d["profile"]["email"] == me.email and d["profile"]["organisation"] == "Org X"
        assert d["profile"]["has_photo"] is True
        assert [e["event_id"] for e in d["enrolments"]] == [ev.id]
        assert {m["id"] for m in d["messages"]} == {msg.id, dm.id}
        assert [n["text"] for n in d["notes"]] == [f"{secret} note"]
        assert [x["text"] for x in d["note_replies"]] == [f"{secret} reply"]
        kinds = {x.get("type") for x in d["reactions"]}
        assert kinds == {"reaction", "note.vote"}
        assert reaction.id in {x.get("id") for x in d["reactions"]}
        assert [n["id"] for n in d["notifications"]] == [notice.id]
        assert {"login", "profile_changed", "photo_set"} <= {a["action"] for a in d["activity"]}
        assert d["mails_received"] == []
        assert d["groups"] == [{"group_id": grp.id, "event_id": ev.id, "name": "G"}]
    assert json.loads(zf.read("notes.json")) == exported["notes"]
    assert Image.open(io.BytesIO(zf.read("photos/profile.jpg"))).size == (40, 30)
    note_photos = [n for n in names if n.startswith("photos/note-photo-")]
    assert len(note_photos) == 1
    assert Image.open(io.BytesIO(zf.read(note_photos[0]))).size == (20, 20)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(out, format="PNG")
    return out.getvalue()


async def _audit_rows(services: Any, actor_id: int) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from storage.models import AuditEntry

    async with services.db.session() as db:
        rows = await db.execute(
            select(AuditEntry.action, AuditEntry.target)
            .where(AuditEntry.actor_id == actor_id)
            .order_by(AuditEntry.id)
        )
        return [(a, t) for a, t in rows]


async def test_profile_visibility_and_photo_removal(
    app: Any, client: httpx.AsyncClient, services: Any
) -> None:
    me = await make_user(services, name="Vera")
    peer = await make_user(services, name="Pat")
    trainer = await make_user(services, name="Tom")
    stranger = await make_user(services, name="Sam")
    admin = await make_user(services, admin=True, name="Ann")
    await make_event(
        services, (me, Role.PARTICIPANT), (peer, Role.PARTICIPANT), (trainer, Role.TRAINER)
    )
    await login(client, me.email)
    r = await client.patch(
        "/api/me/profile",
        json={"profile_bio": "I like graphs", "phone": "+1 555", "display_name": "  Vera V  "},
    )
    assert r.status_code == 200 and r.json()["display_name"] == "Vera V"
    assert (await client.patch("/api/me/profile", json={"display_name": "   "})).status_code == 422
    assert (await client.patch("/api/me/profile", json={"email": "x@y.z"})).status_code == 422
    assert (
        await client.put(
            "/api/me/photo", content=b"not an image", headers={"content-type": "image/png"}
        )
    ).status_code == 415
    assert (
        await client.put(
            "/api/me/photo", content=jpeg(size=(2000, 1000)), headers={"content-type": "image/jpeg"}
        )
    ).status_code == 200

    async def seen_by(viewer: Any) -> tuple[int, dict[str, Any], int]:
        async with second_client(app) as c:
            await login(c, viewer.email)
            r = await c.get(f"/api/users/{me.id}/profile")
            photo = await c.get(f"/api/users/{me.id}/photo")
            return r.status_code, r.json(), photo.status_code

    status, body, photo = await seen_by(peer)  # brief profile off: the name only
    assert (status, body, photo) == (
        200,
        {"id": me.id, "view": "name", "display_name": "Vera V"},
        404,
    )
    status, body, photo = await seen_by(stranger)
    assert (status, photo) == (404, 404)
    for staff in (trainer, admin):
        status, body, photo = await seen_by(staff)
        assert body["view"] == "full" and body["phone"] == "+1 555" and photo == 200
    # The admin sees everything by admin rights alone (no shared event): both reads are
    # audited; the trainer's are part of teaching the event and are not.
    assert await _audit_rows(services, admin.id) == [
        ("profile.read", f"user:{me.id}"), ("profile.photo.read", f"user:{me.id}")
    ]
    assert await _audit_rows(services, trainer.id) == []
    assert (await client.patch("/api/me/profile", json={"profile_public": True})).status_code == 200
    status, body, photo = await seen_by(peer)
    assert body == {
        "id": me.id,
        "view": "brief",
        "display_name": "Vera V",
        "has_photo": True,
        "profile_bio": "I like graphs",
    }
    assert photo == 200
    async with second_client(app) as c:
        await login(c, peer.email)
        img = Image.open(io.BytesIO((await c.get(f"/api/users/{me.id}/photo")).content))
        assert max(img.size) == 512  # re-encoded and scaled down
    assert (await client.delete("/api/me/photo")).status_code == 200
    status, body, photo = await seen_by(peer)
    assert body["has_photo"] is False and photo == 404
    assert (await client.get("/api/me/data")).json()["profile"]["has_photo"] is False


async def test_pinboard_erasure_keeps_chains_and_removes_photos(
    app: Any, client: httpx.AsyncClient, services: Any, settings: Any
) -> None:
    # A name no one else has: "Xena" alone is found, once in ~6,000 runs, inside the
    # other users' random argon2 salts and hashes (the search ignores case).
    x_name = f"Xena {word()}"
    x = await make_user(services, name=x_name)
    y = await make_user(services, name="Yuri")
    admin = await make_user(services, admin=True)
    ev, _ = await make_event(services, (x, Role.PARTICIPANT), (y, Role.PARTICIPANT))
    s = {k: word() for k in ("kept", "gone", "reply", "edit")}
    await login(client, x.email)
    board = await _board(client, ev.id)
    kept = await _note(client, board, f"{s['kept']} answered note")
    r = await client.patch(f"/api/pinboard/notes/{kept}", json={"text": f"{s['edit']} edited note"})
    assert r.status_code == 200, r.text
    gone = await _note(client, board, f"{s['gone']} lonely note")
    r = await client.post(
        f"/api/pinboard/notes/{gone}/photo", files={"file": ("p.png", _png(), "image/png")}
    )
    photo_id = r.json()["photo"]["id"]
    # Photo and thumbnail: <id>-<variant>-<nonce hex> (storage/attachments.py).
    photo_files = list((Path(settings.var_dir) / "attachments").glob(f"{photo_id}-*"))
    assert len(photo_files) == 2
    async with second_client(app) as yc:
        await login(yc, y.email)
        assert (
            await yc.post(f"/api/pinboard/notes/{kept}/replies", json={"text": "y answers"})
        ).status_code == 201
        y_note = await _note(yc, board, "y note")
    assert (
        await client.post(
            f"/api/pinboard/notes/{y_note}/replies", json={"text": f"{s['reply']} x replies"}
        )
    ).status_code == 201
    assert (await client.post(f"/api/pinboard/notes/{y_note}/vote")).status_code == 201

    async with second_client(app) as ac:  # admins find notes in the review search
        await login(ac, admin.email)
        r = await ac.get("/api/admin/messages", params={"q": s["edit"]})
        assert [i["type"] for i in r.json()["items"]] == ["note.edited"]
        assert r.json()["items"][0]["author_id"] == x.id

    r = await client.post(
        "/api/me/terminate", json={"password": PASSWORD, "immediately": True, "erase_content": True}
    )
    assert r.status_code == 200, r.text
    rep = r.json()["report"]
    assert (
        rep["notes_kept"],
        rep["notes_deleted"],
        rep["replies_deleted"],
        rep["votes"],
        rep["photos_removed"],
    ) == (1, 1, 1, 1, 1)
    assert not any(f.exists() for f in photo_files)
    async with second_client(app) as yc:
        await login(yc, y.email)
        snap = (await yc.get(f"/api/pinboard/boards/{board}")).json()
        notes = {n["id"]: n for n in snap["notes"]}
        assert gone not in notes
        assert notes[kept]["author"] is None and notes[kept]["text"] == ""
        assert notes[y_note]["votes"] == 0
    for name, value in s.items():
        # The one exception, by design: the admin's search words are in the audit row
        # of that search (append-only; it records the query, not the note).
        expected = ["audit_log"] if name == "edit" else []
        assert await find_everywhere(services, value) == expected, name
    assert await find_everywhere(services, x_name) == []


async def test_mails_received_are_exported_and_erased(
    client: httpx.AsyncClient, services: Any
) -> None:
    from storage.models import utcnow
    from storage.models.mail import MailCampaign, MailDelivery

    me = await make_user(services)
    subject = word()
    async with services.db.session() as db:
        campaign = MailCampaign(
            category="information", subject=f"{subject} news", body_text="hello all", total=1
        )
        db.add(campaign)
        await db.flush()
        db.add(
            MailDelivery(
                campaign_id=campaign.id,
                user_id=me.id,
                email=me.email,
                status="sent",
                sent_at=utcnow(),
            )
        )
    await login(client, me.email)
    data = (await client.get("/api/me/data")).json()
    assert [(m["subject"], m["status"], m["address"]) for m in data["mails_received"]] == [
        (f"{subject} news", "sent", me.email)
    ]
    zf = zipfile.ZipFile(io.BytesIO((await client.get("/api/me/export")).content))
    assert json.loads(zf.read("mails_received.json"))[0]["body_text"] == "hello all"
    r = await client.post("/api/me/terminate", json={"password": PASSWORD, "immediately": True})
    assert r.status_code == 200 and r.json()["report"]["mail_deliveries_blanked"] == 1
    assert await find_everywhere(services, me.email) == []


def test_export_readme_names_exactly_what_the_zip_holds() -> None:
    """Issue 18: the README said photos/ held the profile photo only; note photos are there too."""
    import re

    from web.routes.my_data import _build_zip

    data = {"profile": {"id": 1}, "extra_kind": []}
    files = {"photos/note-photo-7.png": b"png", "photos/note-photo-9.jpg": b"jpg"}
    zf = zipfile.ZipFile(_build_zip(data, b"jpeg", files))
    readme = zf.read("README.txt").decode()
    names = set(zf.namelist()) - {"README.txt"}
    named = set(re.findall(r"[\w-]+\.json", readme))
    named |= {f"photos/{n}" for n in re.findall(r"^  (\S+?):?(?: |$)", readme, re.MULTILINE)}
    assert named == names, (named ^ names, readme)
