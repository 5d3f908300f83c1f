"""Consent to appear in an event's media, and what trainers do about a revocation.

A member answers once per event (the web client asks on first entry) and may change
their mind at any time; a revocation withdraws their portraits at once and puts the
media showing them with others on the trainers' due list (storage/repo/
media_revocation.py). Trainers clear the list by blurring a photo (rectangles, rendered
server-side with Pillow), replacing the file, or withdrawing the medium; whatever is
left a month later ``classhub maintenance`` withdraws. The profile photo's consent is
the same record (kind ``profile_photo``): saying no deletes the photo.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import Field

from storage.media_blur import Rect, blur_photo
from storage.media_files import SealedFile
from storage.models import ConsentDecision, ConsentKind, MediaKind, MediaState, User
from storage.repo import consent, personal_data
from storage.repo import events as events_repo
from storage.repo import media as repo
from storage.repo.channel_log import StoredEvent
from storage.repo.logs import audit
from storage.repo.media_revocation import on_consent_given, on_revocation
from web.api import API, Ctx
from web.errors import ApiError
from web.media_uploads import PHOTO_TYPES, VIDEO_TYPES, declared_type, stream_video
from web.photo_decoding import decode_pool
from web.routes.media import TAGS, UPLOAD_ERRORS, clean_upload, media_store
from web.schemas import Strict

log = logging.getLogger("classhub.media")


class ConsentBody(Strict):
    decision: Literal["given", "refused"]


class RectIn(Strict):
    x: int = Field(ge=0, le=100_000)
    y: int = Field(ge=0, le=100_000)
    w: int = Field(ge=1, le=100_000)
    h: int = Field(ge=1, le=100_000)


class BlurBody(Strict):
    rects: list[RectIn] = Field(min_length=1, max_length=50)


async def _broadcast(ctx: Ctx, notices: list[StoredEvent]) -> None:
    hub = ctx.services.hub
    if hub is not None and notices:
        try:
            await hub.broadcast(notices)
        except Exception:  # stored: a reconnecting client replays them
            log.exception("broadcasting %d media notices failed", len(notices))


@API.op("GET", "/api/events/{event_id:int}/media/consent", tags=TAGS,
        summary="My answer about appearing in the event's media (null: not asked yet)")
async def get_media_consent(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await events_repo.get_event(db, event_id)
        may, _ = await repo.may_view_media(db, ctx.me, event_id)
        if not may:
            raise ApiError(403, "forbidden", "you are not enrolled in this event")
        row = await consent.current(db, ctx.me.id, ConsentKind.EVENT_MEDIA, event_id)
    return {"consent": consent.record_json(row) if row else None}


@API.op("PUT", "/api/events/{event_id:int}/media/consent", tags=TAGS, body=ConsentBody,
        summary="Give or refuse my consent to appear in the event's photos and videos; "
        "refusing after giving revokes it (portraits withdrawn, group shots to be blurred)")
async def set_media_consent(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    decision = ConsentDecision(ctx.body_as(ConsentBody).decision)
    async with ctx.services.db.session() as db:
        await events_repo.get_event(db, event_id)
        may, admin_only = await repo.may_view_media(db, ctx.me, event_id)
        if not may or admin_only:
            raise ApiError(403, "forbidden", "only the event's members decide about its media")
        row, revoked = await consent.record(
            db, ctx.me.id, ConsentKind.EVENT_MEDIA, decision, event_id=event_id
        )
        await audit(db, actor_id=ctx.me.id, action=f"consent.{row.decision}",
                    target=f"event:{event_id}", ip=ctx.ip, detail={"kind": "event_media"})
        result = await on_revocation(db, ctx.me.id, event_id) if revoked else None
        if row.decision == ConsentDecision.GIVEN.value:
            await on_consent_given(db, ctx.me.id, event_id)
        out = {**consent.record_json(row), "revoked": revoked,
               "withdrawn": result.withdrawn if result else [],
               "due": result.due if result else []}
    if result is not None:
        store = media_store(ctx.services)
        for media_id in result.withdrawn:
            store.remove(media_id)
        await _broadcast(ctx, result.notices)
    return out


@API.op("PUT", "/api/me/consent/profile-photo", tags=("privacy",), body=ConsentBody,
        summary="Give or refuse consent to show my profile photo; refusing deletes it")
async def set_profile_photo_consent(ctx: Ctx) -> dict[str, Any]:
    decision = ConsentDecision(ctx.body_as(ConsentBody).decision)
    async with ctx.services.db.session() as db:
        row, _ = await consent.record(db, ctx.me.id, ConsentKind.PROFILE_PHOTO, decision)
        deleted = False
        if row.decision != ConsentDecision.GIVEN.value:
            photo = await personal_data.photo_of(db, ctx.me.id)
            if photo is not None:
                await db.delete(photo)
                deleted = True
            user = await db.get(User, ctx.me.id)
            if user is not None:
                user.profile_photo_id = None
        await audit(db, actor_id=ctx.me.id, action=f"consent.{row.decision}",
                    target=f"user:{ctx.me.id}", ip=ctx.ip,
                    detail={"kind": "profile_photo", "photo_deleted": deleted})
        return {**consent.record_json(row), "photo_deleted": deleted}


@API.op("POST", "/api/media/{media_id:int}/blur", tags=TAGS, body=BlurBody,
        errors={409: "not a published photo", 422: "a rectangle outside the photo"},
        summary="Blur rectangles of a photo (pixels of the stored image); the blurred "
        "image replaces the stored file and clears the photo's due list (trainers)")
async def blur(ctx: Ctx) -> dict[str, Any]:
    rects = [Rect(r.x, r.y, r.w, r.h) for r in ctx.body_as(BlurBody).rects]
    store = media_store(ctx.services)
    async with ctx.services.db.session() as db:
        item = await repo.managed_item(db, ctx.me, ctx.path_int("media_id"))
        if item.kind != MediaKind.PHOTO.value or item.state != MediaState.PUBLISHED.value:
            raise ApiError(409, "not_a_photo", "only a published photo can be blurred")
    original = await asyncio.to_thread(store.read_all, item.id, "file", repo.sealed_file(item))
    data, ctype = await decode_pool(ctx.services).run(
        ctx.me.id, blur_photo, original, rects,
        max_pixels=ctx.services.settings.photo_max_pixels,
    )
    sealed = await asyncio.to_thread(store.write_all, item.id, "file", data)
    return await _swap(ctx, item.id, sealed, ctype, "blurred", {"rects": len(rects)})


async def _swap(ctx: Ctx, media_id: int, sealed: SealedFile, ctype: str, resolution: str,
                detail: dict[str, Any], size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Point the row at the new file, commit, then delete the old ciphertext."""
    store = media_store(ctx.services)
    try:
        async with ctx.services.db.session() as db:
            row = await repo.managed_item(db, ctx.me, media_id)
            if row.state != MediaState.PUBLISHED.value:
                raise ApiError(409, "withdrawn", "this medium was withdrawn meanwhile")
            row.key_id, row.nonce, row.size = sealed.key_id, sealed.prefix, sealed.size
            row.content_type = ctype
            if size is not None:
                row.width, row.height = size
            row.version += 1
            cleared = await repo.resolve_dues(db, row.id, resolution)
            await audit(db, actor_id=ctx.me.id, action=f"media.{resolution}",
                        target=f"media:{row.id}", ip=ctx.ip,
                        detail={**detail, "due_cleared": cleared})
            keep = (row.nonce, *((row.poster_nonce,) if row.poster_nonce else ()))
            out = repo.media_json(row, None)
    except BaseException:
        store.path(media_id, "file", sealed.prefix).unlink(missing_ok=True)
        raise
    store.remove(media_id, keep=keep)
    return out


@API.op("PUT", "/api/media/{media_id:int}/file", tags=TAGS,
        content_type="application/octet-stream", errors=UPLOAD_ERRORS,
        summary="Replace a medium's file with an edited one of the same kind (e.g. a video "
        "with someone cut or blurred); clears its due list (trainers)")
async def replace_file(ctx: Ctx) -> dict[str, Any]:
    media_id = ctx.path_int("media_id")
    async with ctx.services.db.session() as db:
        item = await repo.managed_item(db, ctx.me, media_id)
        if item.state != MediaState.PUBLISHED.value:
            raise ApiError(409, "withdrawn", "this medium was withdrawn")
    store = media_store(ctx.services)
    if item.kind == MediaKind.PHOTO.value:
        declared = declared_type(ctx.request, PHOTO_TYPES)
        photo = await clean_upload(ctx, declared)
        sealed = await asyncio.to_thread(store.write_all, media_id, "file", photo.data)
        ctype, size = photo.content_type, (photo.width, photo.height)
    else:
        size = None
        ctype = declared_type(ctx.request, VIDEO_TYPES)
        sealed = await stream_video(
            ctx.request, store, media_id, ctype, ctx.services.settings.media_video_max_bytes
        )
    return await _swap(ctx, media_id, sealed, ctype, "replaced", {"bytes": sealed.size}, size)
