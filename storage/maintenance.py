"""One maintenance pass: retention, the due account deletions, overdue media, audit rows.

Used by ``classhub maintenance`` (once, or every N seconds) and by anything that
wants to run it periodically in-process (the mailer's periodic jobs). Each part
commits on its own, so a failure in one deletion does not undo the others; the
audit log records what was done (actor NULL: the system).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from storage.attachments import AttachmentStore
from storage.db import Database
from storage.media_files import MediaStore
from storage.models import User, utcnow
from storage.repo.erasure import compact_index, erase_user
from storage.repo.lifecycle import due_for_deletion
from storage.repo.logs import audit
from storage.repo.media import delete_expired, delete_stale_uploads
from storage.repo.media_revocation import overdue_media_ids, withdraw_overdue_one
from storage.repo.retention import apply_retention
from storage.settings import Settings

log = logging.getLogger("classhub.maintenance")


async def run_maintenance(
    db: Database, settings: Settings, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Apply retention and delete accounts whose grace month is over; returns a summary."""
    now = now or utcnow()
    store = AttachmentStore.from_settings(settings)
    async with db.session() as s:
        report = await apply_retention(
            s,
            now=now,
            dm_retention_days=settings.dm_retention_days,
            activity_retention_days=settings.activity_retention_days,
        )
        await audit(s, actor_id=None, action="maintenance.retention", detail=report.as_json())
    for attachment_id in report.attachment_ids:
        store.remove(attachment_id)
    deleted: list[int] = []
    async with db.session() as s:
        due = await due_for_deletion(s, now)
    for user_id in due:
        try:
            async with db.session() as s:
                user = await s.get(User, user_id)
                if user is None or user.delete_after is None or user.delete_after > now:
                    continue  # reactivated meanwhile
                erasure = await erase_user(s, user_id, erase_content=user.erase_content)
                await audit(
                    s,
                    actor_id=None,
                    action="user.delete",
                    target=f"user:{user_id}",
                    reason="grace month over",
                    detail=erasure.as_json(),
                )
            for attachment_id in erasure.attachment_ids:
                store.remove(attachment_id)
            deleted.append(user_id)
        except Exception:
            log.exception("deleting account %s failed; it stays due", user_id)
    if deleted or report.chat_events or report.board_events or report.dm_events:
        async with db.session() as s:
            await compact_index(s)
        await db.checkpoint()  # SQLite: the deleted rows' pages out of the write-ahead log
    media = await withdraw_overdue_media(db, settings, now=now)
    async with db.session() as s:
        expired = await delete_expired(s, now) + await delete_stale_uploads(s, now)
        if expired:
            await audit(s, actor_id=None, action="maintenance.media_retention",
                        detail={"media_ids": expired})
    media_store = MediaStore.from_settings(settings)
    for media_id in expired:
        media_store.remove(media_id)
    return {
        **report.as_json(), "users_deleted": deleted, "media_withdrawn": media,
        "media_expired": expired,
    }


async def withdraw_overdue_media(
    db: Database, settings: Settings, *, now: dt.datetime
) -> list[int]:
    """Withdraw media still on a due list past their deadline (one transaction each)."""
    store = MediaStore.from_settings(settings)
    async with db.session() as s:
        due = await overdue_media_ids(s, now)
    withdrawn: list[int] = []
    for media_id in due:
        try:
            async with db.session() as s:
                done = await withdraw_overdue_one(
                    s, media_id, now=now, public_url=settings.public_url
                )
            if done:
                store.remove(media_id)
                withdrawn.append(media_id)
        except Exception:
            log.exception("withdrawing overdue medium %s failed; it stays due", media_id)
    return withdrawn
