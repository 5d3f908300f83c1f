"""A person's own data: see it all, correct the profile, export it, control who sees what.

The access and export operations stay open during the termination grace month
(``terminating_ok``): someone leaving can still take their data with them.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import zipfile
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from storage.attachments import AttachmentStore
from storage.authz import ProfileView, profile_view, profile_view_by_enrolment
from storage.crypto import DecryptionFailed, UnknownKey
from storage.errors import DomainError
from storage.models import Attachment, ConsentDecision, ConsentKind, ProfilePhoto, User
from storage.photos import PhotoRejected, check_photo, open_photo
from storage.repo import consent, personal_data
from storage.repo.logs import log_activity
from web.api import API, Ctx
from web.body_limits import read_body
from web.errors import ApiError
from web.photo_decoding import decode_pool
from web.review_common import audited_read

log = logging.getLogger("classhub.privacy")
MAX_PHOTO_BYTES = 8 * 1024 * 1024
PHOTO_EDGE = 512
ZIP_CHUNK = 64 * 1024
EXPORT_FILES = (
    "profile",
    "enrolments",
    "groups",
    "messages",
    "notes",
    "note_replies",
    "board_events",
    "reactions",
    "activity_answers",
    "questions",
    "photos",
    "mails_received",
    "notifications",
    "sessions",
    "activity",
)


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, min_length=1, max_length=120)
    profile_bio: str | None = Field(None, max_length=2000)
    phone: str | None = Field(None, max_length=40)
    organisation: str | None = Field(None, max_length=200)
    profile_public: bool | None = Field(
        None, description="show the brief profile to co-participants"
    )
    wants_information_mail: bool | None = None


class ProfileOut(BaseModel):
    id: int
    view: str
    display_name: str
    has_photo: bool | None = None
    profile_bio: str | None = None
    email: str | None = None
    phone: str | None = None
    organisation: str | None = None
    profile_public: bool | None = None


@API.op(
    "GET",
    "/api/me/data",
    summary="Everything classhub stores about me",
    tags=("privacy",),
    terminating_ok=True,
)
async def my_data(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        data = await personal_data.collect(db, ctx.me.id)
        await log_activity(db, user_id=ctx.me.id, action="data_viewed", ip=ctx.ip)
    return data


@API.op(
    "PATCH",
    "/api/me/profile",
    summary="Correct my profile (and choose whether co-participants see the brief profile)",
    body=ProfilePatch,
    tags=("privacy",),
)
async def patch_profile(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ProfilePatch)
    changes = body.model_dump(exclude_none=True)
    if "display_name" in changes:
        changes["display_name"] = changes["display_name"].strip()
        if not changes["display_name"]:
            raise ApiError(422, "invalid_name", "the display name must not be blank")
    async with ctx.services.db.session() as db:
        user = await db.get(User, ctx.me.id)
        if user is None:
            raise RuntimeError("the signed-in user vanished")
        for key, value in changes.items():
            setattr(user, key, value)
        await log_activity(
            db,
            user_id=user.id,
            action="profile_changed",
            target=",".join(sorted(changes)),
            ip=ctx.ip,
        )
        photo = await personal_data.photo_of(db, user.id)
        return personal_data.profile_json(user, has_photo=photo is not None)


def _refusal(exc: PhotoRejected) -> DomainError:
    if exc.code in ("too_many_pixels", "broken_image", "empty_file"):
        return exc
    return ApiError(415, "not_an_image", "send a JPEG, PNG or WebP image")


def _check(raw: bytes, max_pixels: int) -> None:
    try:
        check_photo(raw, max_pixels=max_pixels, fit=PHOTO_EDGE)
    except PhotoRejected as exc:
        raise _refusal(exc) from None


def _reencode(raw: bytes, max_pixels: int) -> bytes:
    """Decode and re-encode: strips EXIF (location!) and anything hiding in the file.

    Only PNG, JPEG and WebP are decoded, and only up to ``PHOTO_MAX_PIXELS`` (checked
    from the header first): a small file can otherwise unpack to gigabytes of pixels.
    A JPEG is decoded at the smallest size that still covers the 512 px kept.
    """
    try:
        img, _ = open_photo(raw, max_pixels=max_pixels, fit=PHOTO_EDGE)
    except PhotoRejected as exc:
        raise _refusal(exc) from None
    with img:
        # Scaled before any conversion: a full-size copy would double the memory.
        work = img if img.mode in ("RGB", "RGBA", "L", "LA") else img.convert("RGBA")
        work.thumbnail((PHOTO_EDGE, PHOTO_EDGE))
        rgb = work.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return out.getvalue()


@API.op(
    "PUT",
    "/api/me/photo",
    summary="Set my optional profile photo (the raw image as the body)",
    content_type="image/*",
    tags=("privacy",),
    errors={
        413: "over 8 MiB", 415: "not a PNG, JPEG or WebP image",
        422: "too many pixels, damaged or empty",
        429: "enough of one's photos are being processed already",
    },
)
async def put_photo(ctx: Ctx) -> dict[str, Any]:
    # Refused while it streams in, not after the whole body is in memory.
    raw = await read_body(ctx.request, MAX_PHOTO_BYTES, "the photo")
    max_pixels = ctx.services.settings.photo_max_pixels
    # The header first (cheap, any thread): a bomb is refused before it takes a decoder.
    await run_in_threadpool(_check, raw, max_pixels)
    jpeg = await decode_pool(ctx.services).run(ctx.me.id, _reencode, raw, max_pixels)
    async with ctx.services.db.session() as db:
        existing = await personal_data.photo_of(db, ctx.me.id)
        if existing is not None:
            await db.delete(existing)
            await db.flush()
        photo = ProfilePhoto(user_id=ctx.me.id, content_type="image/jpeg", data=jpeg)
        db.add(photo)
        await db.flush()
        user = await db.get(User, ctx.me.id)
        if user is None:
            raise RuntimeError("the signed-in user vanished")
        user.profile_photo_id = photo.id
        # Setting the photo is consenting to show it: the same record as the explicit
        # answer (PUT /api/me/consent/profile-photo), which refusing deletes it by.
        await consent.record(db, ctx.me.id, ConsentKind.PROFILE_PHOTO, ConsentDecision.GIVEN)
        await log_activity(db, user_id=ctx.me.id, action="photo_set", ip=ctx.ip)
    return {"has_photo": True, "bytes": len(jpeg)}


@API.op("DELETE", "/api/me/photo", summary="Remove my profile photo", tags=("privacy",))
async def delete_photo(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        existing = await personal_data.photo_of(db, ctx.me.id)
        if existing is not None:
            await db.delete(existing)
        user = await db.get(User, ctx.me.id)
        if user is None:
            raise RuntimeError("the signed-in user vanished")
        user.profile_photo_id = None
        if existing is not None:  # removing the photo takes its consent back
            await consent.record(
                db, ctx.me.id, ConsentKind.PROFILE_PHOTO, ConsentDecision.REVOKED
            )
        await log_activity(db, user_id=ctx.me.id, action="photo_removed", ip=ctx.ip)
    return {"has_photo": False}


async def _viewable(ctx: Ctx, db: AsyncSession) -> tuple[User, ProfileView, bool]:
    """The person, how much of them the caller sees, and whether only admin rights
    show it (a read to audit: profile.read)."""
    target = await db.get(User, ctx.path_int("id"))
    view = await profile_view(db, ctx.me, target) if target is not None else None
    if target is None or view is None:
        raise ApiError(404, "not_found", "no such person among the people you meet")
    admin_only = (
        ctx.me.is_admin
        and target.id != ctx.me.id
        and await profile_view_by_enrolment(db, ctx.me, target) is not ProfileView.FULL
    )
    return target, view, admin_only


@API.op(
    "GET",
    "/api/users/{id:int}/profile",
    summary="A person's profile as far as I may see it (full, brief or name only)",
    response=ProfileOut,
    tags=("privacy",),
)
async def user_profile(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        target, view, admin_only = await _viewable(ctx, db)
    if admin_only:
        # Everything stored about a person, read by an admin who does not teach or
        # organise their events: audited like a page of the account list.
        await audited_read(ctx, action="profile.read", target=f"user:{target.id}")
    async with ctx.services.db.session() as db:
        out: dict[str, Any] = {
            "id": target.id,
            "view": view.value,
            "display_name": target.display_name,
        }
        if view in (ProfileView.BRIEF, ProfileView.FULL):
            out["has_photo"] = await personal_data.photo_of(db, target.id) is not None
            out["profile_bio"] = target.profile_bio
        if view is ProfileView.FULL:
            out.update(
                email=target.email,
                phone=target.phone,
                organisation=target.organisation,
                profile_public=target.profile_public,
            )
    return ProfileOut(**out).model_dump(exclude_none=True)


@API.op(
    "GET",
    "/api/users/{id:int}/photo",
    summary="A person's profile photo, if I may see their brief profile",
    produces="image/jpeg",
    tags=("privacy",),
)
async def user_photo(ctx: Ctx) -> Response:
    async with ctx.services.db.session() as db:
        target, view, admin_only = await _viewable(ctx, db)
        photo = await personal_data.photo_of(db, target.id)
    if view is ProfileView.NAME or photo is None:
        raise ApiError(404, "not_found", "no photo to show")
    if admin_only:
        await audited_read(ctx, action="profile.photo.read", target=f"user:{target.id}")
    return Response(
        photo.data,
        media_type=photo.content_type,
        headers={
            "cache-control": "private, no-store",
            # Always a re-encoded JPEG; opened on its own it shows as an image, never a page.
            "content-disposition": 'inline; filename="profile.jpg"',
        },
    )


def _readme(data: dict[str, Any], photo: bool, files: dict[str, bytes]) -> str:
    """What the zip holds, written from what it holds: every file named once."""
    kinds = [*EXPORT_FILES, *sorted(set(data) - set(EXPORT_FILES))]
    lines = [
        "Your data from classhub.",
        "",
        "data.json: all of it together, as JSON (UTF-8).",
        "One file per kind of data, the same JSON in parts: "
        + ", ".join(f"{name}.json" for name in kinds) + ".",
    ]
    if photo or files:
        lines += ["", "photos/:"]
        if photo:
            lines.append("  profile.jpg: your profile photo")
        lines += [f"  {path.split('/', 1)[1]}: a photo on one of your pinboard notes"
                  for path in sorted(files) if path.startswith("photos/note-photo-")]
        lines += [f"  {path.split('/', 1)[1]}" for path in sorted(files)
                  if path.startswith("photos/") and not path.startswith("photos/note-photo-")]
    others = sorted(p for p in files if not p.startswith("photos/"))
    if others:
        lines += ["", *others]
    return "\n".join(lines) + "\n"


def _build_zip(data: dict[str, Any], photo: bytes | None, files: dict[str, bytes]) -> Any:
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the stream
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("README.txt", _readme(data, photo is not None, files))
        zf.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        for name in EXPORT_FILES:
            zf.writestr(f"{name}.json", json.dumps(data.get(name), ensure_ascii=False, indent=2))
        for name in sorted(set(data) - set(EXPORT_FILES)):
            zf.writestr(f"{name}.json", json.dumps(data[name], ensure_ascii=False, indent=2))
        if photo is not None:
            zf.writestr("photos/profile.jpg", photo)
        for path, blob in sorted(files.items()):
            zf.writestr(path, blob)
    spool.seek(0)
    return spool


@API.op(
    "GET",
    "/api/me/export",
    summary="All my data as a zip: JSON files and my photos",
    produces="application/zip",
    tags=("privacy",),
    terminating_ok=True,
)
async def my_export(ctx: Ctx) -> StreamingResponse:
    async with ctx.services.db.session() as db:
        data = await personal_data.collect(db, ctx.me.id)
        photo = await personal_data.photo_of(db, ctx.me.id)
        files = await personal_data.collect_files(db, ctx.me.id)
        attachments = list(
            (await db.execute(select(Attachment).where(Attachment.owner_id == ctx.me.id))).scalars()
        )
        await log_activity(db, user_id=ctx.me.id, action="data_exported", ip=ctx.ip)
    if attachments:
        store = AttachmentStore.from_settings(ctx.services.settings)
        for att in attachments:
            try:
                plain = await run_in_threadpool(store.read, att, "photo")
            except (OSError, DecryptionFailed, UnknownKey):
                log.warning(
                    "photo %s of user %s is unreadable; left out of the export", att.id, ctx.me.id
                )
                continue
            ext = (
                "png"
                if att.content_type.endswith("png")
                else "webp"
                if "webp" in att.content_type
                else "jpg"
            )
            files[f"photos/note-photo-{att.id}.{ext}"] = plain
    spool = await run_in_threadpool(_build_zip, data, photo.data if photo else None, files)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while block := await run_in_threadpool(spool.read, ZIP_CHUNK):
                yield block
        finally:
            spool.close()

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={"content-disposition": 'attachment; filename="classhub-my-data.zip"'},
    )
