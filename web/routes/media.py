"""Trainers' media of learning sections: publish, list, stream, tag, replace, withdraw.

Photos and videos of an event, for its members (an admin outside the event: audited).
Uploads are the raw file as the body with its ``Content-Type``; photos are cleaned
(storage/photos.py), videos sealed chunk by chunk while they stream in; both are kept
encrypted (storage/media_files.py) and served with range requests. Consent, the due
list and the blur tool are in ``web/routes/media_consent.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from storage.crypto import DecryptionFailed, UnknownKey
from storage.errors import DomainError, Forbidden, NotFound
from storage.media_files import MediaStore, SealedFile
from storage.models import (
    ConsentDecision,
    ConsentKind,
    Enrolment,
    MediaItem,
    MediaKind,
    MediaState,
)
from storage.photos import CleanPhoto, check_photo, clean_photo
from storage.repo import consent
from storage.repo import events as events_repo
from storage.repo import media as repo
from storage.repo.logs import audit
from web.api import API, Ctx
from web.body_limits import read_body
from web.errors import ApiError
from web.media_range import ranged_response
from web.media_uploads import (
    PHOTO_TYPES,
    VIDEO_TYPES,
    check_magic,
    declared_type,
    stream_video,
)
from web.photo_decoding import decode_pool
from web.review_common import audited_read
from web.schemas import Strict
from web.services import Services

log = logging.getLogger("classhub.media")
TAGS = ("media",)
UPLOAD_ERRORS = {
    413: "over MEDIA_VIDEO_MAX_BYTES (videos) or PHOTO_MAX_BYTES (photos)",
    415: "not a PNG, JPEG, WebP, MP4 or WebM file, or not the declared type",
    422: "empty, damaged, or too many pixels",
    429: "enough of one's photos are being processed already",
}


def media_store(services: Services) -> MediaStore:
    store = services.extras.get("media.store")
    if store is None:
        store = MediaStore.from_settings(services.settings)
        services.extras["media.store"] = store
    return store


class UploadQuery(BaseModel):
    title: str = Field("", max_length=200)


class TagIn(Strict):
    user_id: int = Field(ge=1, le=2**63 - 1)
    portrait: bool = False


class TagsBody(Strict):
    tags: list[TagIn] = Field(max_length=500)


class WithdrawBody(Strict):
    reason: str = Field("", max_length=2000)


async def clean_upload(ctx: Ctx, declared: str) -> CleanPhoto:
    settings = ctx.services.settings
    raw = await read_body(ctx.request, settings.photo_max_bytes, "the photo")
    check_magic(raw[:4096], declared)
    await asyncio.to_thread(check_photo, raw, max_pixels=settings.photo_max_pixels)
    return await decode_pool(ctx.services).run(
        ctx.me.id, clean_photo, raw,
        max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels,
    )


async def _publish_photo(ctx: Ctx, event_id: int, title: str, declared: str) -> MediaItem:
    photo = await clean_upload(ctx, declared)
    store = media_store(ctx.services)
    async with ctx.services.db.session() as db:
        item = MediaItem(
            event_id=event_id, uploader_id=ctx.me.id, kind=MediaKind.PHOTO.value, title=title,
            content_type=photo.content_type, width=photo.width, height=photo.height,
        )
        db.add(item)
        await db.flush()
        try:
            sealed = await asyncio.to_thread(store.write_all, item.id, "file", photo.data)
            item.key_id, item.nonce, item.size = sealed.key_id, sealed.prefix, sealed.size
            await audit(db, actor_id=ctx.me.id, action="media.publish",
                        target=f"media:{item.id}", ip=ctx.ip, detail={"kind": "photo"})
            await db.flush()
        except BaseException:
            store.remove(item.id)
            raise
    return item


async def _publish_video(ctx: Ctx, event_id: int, title: str, declared: str) -> MediaItem:
    # The row exists (uploading, seen by nobody) while the body streams in, so no
    # transaction stays open for the minutes a large upload can take.
    store = media_store(ctx.services)
    async with ctx.services.db.session() as db:
        item = MediaItem(
            event_id=event_id, uploader_id=ctx.me.id, kind=MediaKind.VIDEO.value, title=title,
            content_type=declared, state=MediaState.UPLOADING.value,
        )
        db.add(item)
        await db.flush()
        media_id = item.id
    try:
        sealed = await stream_video(
            ctx.request, store, media_id, declared, ctx.services.settings.media_video_max_bytes
        )
    except BaseException:
        async with ctx.services.db.session() as db:
            row = await db.get(MediaItem, media_id)
            if row is not None:
                await db.delete(row)
        store.remove(media_id)
        raise
    async with ctx.services.db.session() as db:
        row = await repo.item_for(db, media_id, lock=True)
        row.key_id, row.nonce, row.size = sealed.key_id, sealed.prefix, sealed.size
        row.state = MediaState.PUBLISHED.value
        await audit(db, actor_id=ctx.me.id, action="media.publish", target=f"media:{media_id}",
                    ip=ctx.ip, detail={"kind": "video", "bytes": sealed.size})
        return row


@API.op("POST", "/api/events/{event_id:int}/media", tags=TAGS, query=UploadQuery,
        content_type="application/octet-stream", status=201, errors=UPLOAD_ERRORS,
        summary="Publish a photo (PNG, JPEG, WebP) or video (MP4, WebM) of a learning "
        "section to the event (trainers, organisers); the raw file is the body")
async def publish(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    title = ctx.query_as(UploadQuery).title.strip()
    async with ctx.services.db.session() as db:
        await events_repo.get_event(db, event_id)
        if not await repo.may_manage_media(db, ctx.me, event_id):
            raise Forbidden("only the event's trainers and organisers may publish media")
    declared = declared_type(ctx.request, PHOTO_TYPES + VIDEO_TYPES)
    if declared in PHOTO_TYPES:
        item = await _publish_photo(ctx, event_id, title, declared)
    else:
        item = await _publish_video(ctx, event_id, title, declared)
    return repo.media_json(item, [])


@API.op("GET", "/api/events/{event_id:int}/media", tags=TAGS,
        summary="The event's media, my consent to appear in them, and for its trainers "
        "the tags, withdrawn media, the due list and who refused or revoked consent")
async def list_media(ctx: Ctx) -> dict[str, Any]:
    from storage.repo.media_revocation import due_list

    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await events_repo.get_event(db, event_id)
        may, admin_only = await repo.may_view_media(db, ctx.me, event_id)
        if not may:
            raise Forbidden("you are not enrolled in this event")
        manage = await repo.may_manage_media(db, ctx.me, event_id)
        items = await repo.event_media(db, event_id, include_withdrawn=manage)
        tags = await repo.tags_of(db, [i.id for i in items]) if manage else {}
        mine = await consent.current(db, ctx.me.id, ConsentKind.EVENT_MEDIA, event_id)
        out: dict[str, Any] = {
            "items": [repo.media_json(i, tags.get(i.id) if manage else None) for i in items],
            "may_manage": manage,
            "my_consent": consent.record_json(mine) if mine else None,
        }
        if manage:
            out["due"] = await due_list(db, event_id)
            out["consents"] = await _consents(db, event_id)
    if admin_only:
        await audited_read(ctx, action="media.list", target=f"event:{event_id}")
    return out


async def _consents(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """Every member's decision (undecided: never asked yet), refusals and revocations first."""
    from sqlalchemy import select

    from storage.models import User

    decisions = await consent.event_decisions(db, event_id)
    rows = await db.execute(
        select(User.id, User.display_name, Enrolment.role)
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(Enrolment.event_id == event_id)
        .order_by(User.display_name)
    )
    out = []
    for uid, name, role in rows:
        d = decisions.get(uid)
        out.append({
            "user_id": uid, "display_name": name, "role": role,
            "decision": d.decision if d else None, "at": d.at.isoformat() if d else None,
        })
    order = {ConsentDecision.REVOKED.value: 0, ConsentDecision.REFUSED.value: 1, None: 2}
    return sorted(out, key=lambda r: order.get(r["decision"], 3))


async def _viewable(ctx: Ctx) -> tuple[MediaItem, bool]:
    async with ctx.services.db.session() as db:
        item = await repo.item_for(db, ctx.path_int("media_id"))
        may, admin_only = await repo.may_view_media(db, ctx.me, item.event_id)
        if not may:
            raise NotFound("media")  # an outsider learns nothing
        if item.state != MediaState.PUBLISHED.value:
            raise ApiError(410, "withdrawn", "this medium was withdrawn")
    if admin_only:
        await audited_read(ctx, action="media.read", target=f"media:{item.id}")
    return item, admin_only


async def _stream(ctx: Ctx, item: MediaItem, variant: str, sealed: SealedFile,
                  media_type: str) -> Response:
    store = media_store(ctx.services)
    try:
        return await ranged_response(
            ctx.request, sealed.size, media_type, f'"{item.id}-{variant}-{item.version}"',
            lambda first, last: store.chunks(item.id, variant, sealed, first, last),
            {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff",
             "Content-Disposition": "inline"},
        )
    except FileNotFoundError:
        raise NotFound("media file") from None
    except (DecryptionFailed, UnknownKey) as exc:
        log.error("media %s (%s) refused: %s", item.id, variant, exc)
        raise DomainError(
            "media_integrity", "the stored file failed its integrity check", status=500
        ) from None


@API.op("GET", "/api/media/{media_id:int}/file", tags=TAGS, produces=("image/*", "video/*"),
        errors={206: "the range asked for", 410: "withdrawn", 416: "a bad or unsatisfiable range"},
        summary="A medium's file, decrypted, for the event's members; honours Range")
async def media_file(ctx: Ctx) -> Response:
    item, _ = await _viewable(ctx)
    return await _stream(ctx, item, "file", repo.sealed_file(item), item.content_type)


@API.op("GET", "/api/media/{media_id:int}/poster", tags=TAGS, produces="image/*",
        errors={410: "withdrawn"},
        summary="A video's poster image (uploaded by the trainer), for the event's members")
async def media_poster(ctx: Ctx) -> Response:
    item, _ = await _viewable(ctx)
    sealed = repo.sealed_poster(item)
    if sealed is None or item.poster_content_type is None:
        raise NotFound("poster")
    return await _stream(ctx, item, "poster", sealed, item.poster_content_type)


@API.op("PUT", "/api/media/{media_id:int}/poster", tags=TAGS,
        content_type="application/octet-stream", errors=UPLOAD_ERRORS,
        summary="Set a video's poster image (PNG, JPEG or WebP as the body; trainers)")
async def set_poster(ctx: Ctx) -> dict[str, Any]:
    declared = declared_type(ctx.request, PHOTO_TYPES)
    async with ctx.services.db.session() as db:
        item = await repo.managed_item(db, ctx.me, ctx.path_int("media_id"))
        if item.kind != MediaKind.VIDEO.value or item.state != MediaState.PUBLISHED.value:
            raise ApiError(409, "not_a_video", "only a published video has a poster")
    photo = await clean_upload(ctx, declared)
    store = media_store(ctx.services)
    sealed = await asyncio.to_thread(store.write_all, item.id, "poster", photo.data)
    try:
        async with ctx.services.db.session() as db:
            row = await repo.managed_item(db, ctx.me, item.id)
            row.poster_key_id, row.poster_nonce = sealed.key_id, sealed.prefix
            row.poster_size, row.poster_content_type = sealed.size, photo.content_type
            row.version += 1
            await audit(db, actor_id=ctx.me.id, action="media.poster", target=f"media:{row.id}",
                        ip=ctx.ip)
            keep = (row.nonce, sealed.prefix)
    except BaseException:
        store.remove(item.id, keep=(item.nonce, *((item.poster_nonce,) if item.poster_nonce
                                                  else ())))
        raise
    store.remove(item.id, keep=keep)
    return repo.media_json(row, None)


@API.op("PUT", "/api/media/{media_id:int}/tags", tags=TAGS, body=TagsBody,
        errors={409: "someone tagged has not given consent"},
        summary="Say who a medium shows (portrait: mainly that person); trainers only. "
        "Only people who consented to appear may be tagged")
async def set_tags(ctx: Ctx) -> dict[str, Any]:
    from sqlalchemy import select

    body = ctx.body_as(TagsBody)
    wanted = {t.user_id: t.portrait for t in body.tags}
    async with ctx.services.db.session() as db:
        item = await repo.managed_item(db, ctx.me, ctx.path_int("media_id"))
        if item.state != MediaState.PUBLISHED.value:
            raise ApiError(409, "withdrawn", "this medium was withdrawn")
        members = set((await db.execute(
            select(Enrolment.user_id).where(
                Enrolment.event_id == item.event_id, Enrolment.user_id.in_(list(wanted))
            )
        )).scalars()) if wanted else set()
        if set(wanted) - members:
            raise ApiError(422, "not_a_member", "only the event's members can be tagged")
        decisions = await consent.event_decisions(db, item.event_id)
        without = sorted(u for u in wanted
                         if (d := decisions.get(u)) is None
                         or d.decision != ConsentDecision.GIVEN.value)
        if without:
            raise ApiError(
                409, "no_consent",
                "these people have not consented to appear in the event's media: "
                + ", ".join(f"#{u}" for u in without) + "; blur them or do not publish",
                details={"user_ids": without},
            )
        await repo.set_tags(db, item, wanted)
        await audit(db, actor_id=ctx.me.id, action="media.tags", target=f"media:{item.id}",
                    ip=ctx.ip, detail={"tags": {str(k): v for k, v in wanted.items()}})
        tags = await repo.tags_of(db, [item.id])
        return repo.media_json(item, tags[item.id])


@API.op("POST", "/api/media/{media_id:int}/withdraw", tags=TAGS, body=WithdrawBody,
        summary="Withdraw a medium: its files are deleted (trainers, organisers)")
async def withdraw_media(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(WithdrawBody)
    async with ctx.services.db.session() as db:
        item = await repo.managed_item(db, ctx.me, ctx.path_int("media_id"))
        if item.state == MediaState.PUBLISHED.value:
            await repo.withdraw(db, item, reason=body.reason or "withdrawn by a trainer")
            await audit(db, actor_id=ctx.me.id, action="media.withdraw",
                        target=f"media:{item.id}", reason=body.reason, ip=ctx.ip)
        out = repo.media_json(item, None)
    media_store(ctx.services).remove(item.id)
    return out
