"""Trainers' media of an event: rows, tags, who may do what, and their JSON.

Files are ``storage.media_files``'; these functions change rows only and return the
ids whose files the caller removes after commit (a rollback must not lose a file).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.authz import ROLE_RANK, event_role, is_active
from storage.errors import Forbidden, NotFound
from storage.media_files import SealedFile
from storage.models import (
    MediaDue,
    MediaItem,
    MediaState,
    MediaTag,
    Role,
    User,
    utcnow,
)


async def may_view_media(db: AsyncSession, user: User, event_id: int) -> tuple[bool, bool]:
    """``(may view, only as an admin)``: the event's members see its media; an admin
    outside the event too, audited by the caller."""
    if not is_active(user):
        return False, False
    if await event_role(db, user.id, event_id) is not None:
        return True, False
    return user.is_admin, user.is_admin


async def may_manage_media(db: AsyncSession, user: User, event_id: int) -> bool:
    """Publish, tag, blur, replace and withdraw: the event's trainers and organisers."""
    if not is_active(user):
        return False
    role = await event_role(db, user.id, event_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[Role.TRAINER]


async def item_for(db: AsyncSession, media_id: int, *, lock: bool = False) -> MediaItem:
    query = select(MediaItem).where(MediaItem.id == media_id)
    if lock:
        query = query.with_for_update()
    item = (await db.execute(query)).scalar_one_or_none()
    if item is None:
        raise NotFound("media")
    return item


async def managed_item(db: AsyncSession, user: User, media_id: int) -> MediaItem:
    item = await item_for(db, media_id, lock=True)
    if not await may_manage_media(db, user, item.event_id):
        raise Forbidden("only the event's trainers and organisers may change its media")
    return item


def sealed_file(item: MediaItem) -> SealedFile:
    return SealedFile(item.key_id, item.nonce, item.size)


def sealed_poster(item: MediaItem) -> SealedFile | None:
    if item.poster_nonce is None or item.poster_key_id is None or not item.poster_size:
        return None
    return SealedFile(item.poster_key_id, item.poster_nonce, item.poster_size)


async def tags_of(db: AsyncSession, media_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in media_ids}
    if not media_ids:
        return out
    rows = await db.execute(
        select(MediaTag, User.display_name)
        .join(User, User.id == MediaTag.user_id)
        .where(MediaTag.media_id.in_(media_ids))
        .order_by(User.display_name)
    )
    for tag, name in rows:
        out[tag.media_id].append(
            {"user_id": tag.user_id, "display_name": name, "portrait": tag.portrait}
        )
    return out


async def set_tags(db: AsyncSession, item: MediaItem, tags: dict[int, bool]) -> None:
    await db.execute(delete(MediaTag).where(MediaTag.media_id == item.id))
    for user_id, portrait in tags.items():
        db.add(MediaTag(media_id=item.id, user_id=user_id, portrait=portrait))
    await db.flush()


def media_json(item: MediaItem, tags: list[dict[str, Any]] | None) -> dict[str, Any]:
    base = f"/api/media/{item.id}"
    published = item.state == MediaState.PUBLISHED.value
    out: dict[str, Any] = {
        "id": item.id,
        "event_id": item.event_id,
        "kind": item.kind,
        "title": item.title,
        "content_type": item.content_type,
        "size": item.size,
        "width": item.width,
        "height": item.height,
        "state": item.state,
        "version": item.version,
        "created_at": item.created_at.isoformat(),
        "url": f"{base}/file?v={item.version}" if published else None,
        "poster_url": (
            f"{base}/poster?v={item.version}"
            if published and item.poster_nonce is not None else None
        ),
        "withdrawn_at": item.withdrawn_at.isoformat() if item.withdrawn_at else None,
        "withdrawn_reason": item.withdrawn_reason or None,
    }
    if tags is not None:  # staff only: who is shown is the trainer's record
        out["tags"] = tags
    return out


async def event_media(
    db: AsyncSession, event_id: int, *, include_withdrawn: bool
) -> list[MediaItem]:
    query = select(MediaItem).where(MediaItem.event_id == event_id)
    if not include_withdrawn:
        query = query.where(MediaItem.state == MediaState.PUBLISHED.value)
    return list((await db.execute(query.order_by(MediaItem.id.desc()))).scalars())


async def resolve_dues(
    db: AsyncSession, media_id: int, resolution: str, now: dt.datetime | None = None
) -> int:
    """Close the medium's open due items; returns how many were open.

    Blurred or replaced, the medium no longer shows those people: their tags go too.
    """
    rows = (
        await db.execute(
            select(MediaDue).where(MediaDue.media_id == media_id, MediaDue.resolved_at.is_(None))
        )
    ).scalars().all()
    for due in rows:
        due.resolved_at, due.resolution = now or utcnow(), resolution
    gone = [d.user_id for d in rows if d.user_id is not None]
    if gone and resolution in ("blurred", "replaced"):
        await db.execute(
            delete(MediaTag).where(MediaTag.media_id == media_id, MediaTag.user_id.in_(gone))
        )
    return len(rows)


async def withdraw(
    db: AsyncSession, item: MediaItem, *, reason: str, resolution: str = "withdrawn",
    now: dt.datetime | None = None,
) -> None:
    """Take the medium offline for good: the caller deletes its files after commit."""
    now = now or utcnow()
    item.state = MediaState.WITHDRAWN.value
    item.withdrawn_at, item.withdrawn_reason = now, reason
    item.nonce, item.key_id, item.size = b"", "", 0
    item.poster_nonce = item.poster_key_id = item.poster_content_type = None
    item.poster_size = None
    await resolve_dues(db, item.id, resolution, now)


async def delete_expired(db: AsyncSession, now: dt.datetime) -> list[int]:
    """Delete the media of events whose photo retention is over (``photos_retention_days``,
    else ``retention_days``, after the event ends); returns their ids, to remove files."""
    from storage.models import Event

    ended = (await db.execute(select(Event).where(Event.ends_at <= now))).scalars().all()
    due = [
        ev.id for ev in ended
        if ev.ends_at + dt.timedelta(
            days=ev.retention_days if ev.photos_retention_days is None
            else ev.photos_retention_days
        ) <= now
    ]
    if not due:
        return []
    ids = list((await db.execute(
        select(MediaItem.id).where(MediaItem.event_id.in_(due))
    )).scalars())
    if ids:
        await db.execute(delete(MediaItem).where(MediaItem.id.in_(ids)))
    return ids


async def media_appearances(db: AsyncSession, user_id: int) -> dict[str, Any]:
    """The media a trainer said show the person (for their access and export)."""
    rows = await db.execute(
        select(MediaTag, MediaItem)
        .join(MediaItem, MediaItem.id == MediaTag.media_id)
        .where(MediaTag.user_id == user_id)
        .order_by(MediaItem.id)
    )
    return {"items": [
        {"media_id": item.id, "event_id": item.event_id, "kind": item.kind,
         "title": item.title, "portrait": tag.portrait, "state": item.state,
         "published_at": item.created_at.isoformat()}
        for tag, item in rows
    ]}



STALE_UPLOAD_SECS = 24 * 3600  # far beyond any upload; a row older is from a crashed process


async def delete_stale_uploads(db: AsyncSession, now: dt.datetime) -> list[int]:
    """Rows of uploads a crashed process left ``uploading``; returns their ids (files)."""
    cutoff = now - dt.timedelta(seconds=STALE_UPLOAD_SECS)
    ids = list((await db.execute(
        select(MediaItem.id).where(
            MediaItem.state == MediaState.UPLOADING.value, MediaItem.created_at < cutoff
        )
    )).scalars())
    if ids:
        await db.execute(delete(MediaItem).where(MediaItem.id.in_(ids)))
    return ids
