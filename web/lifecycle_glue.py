"""What follows a lifecycle change once its transaction committed: close, notify, compact."""

from __future__ import annotations

import logging

from storage.repo.erasure import ErasureReport, compact_index
from web.services import Services

log = logging.getLogger("classhub.privacy")


async def close_connections(services: Services, user_id: int, reason: str) -> None:
    """Close the user's live connections on every process (the hub fans this out)."""
    if services.hub is not None:
        await services.hub.disconnect_user(user_id, reason)


async def after_erasure(services: Services, report: ErasureReport) -> None:
    """Tell live clients what went, and squeeze the deleted words out of the search index
    and (SQLite) the write-ahead log."""
    if services.hub is not None and report.notices:
        try:
            await services.hub.broadcast(report.notices)
        except Exception:
            log.exception("broadcasting %d erasure notices failed", len(report.notices))
    if report.attachment_ids:
        from storage.attachments import AttachmentStore

        store = AttachmentStore.from_settings(services.settings)
        for attachment_id in report.attachment_ids:
            store.remove(attachment_id)
    async with services.db.session() as db:
        await compact_index(db)
    await services.db.checkpoint()  # SQLite: nor in the write-ahead log
