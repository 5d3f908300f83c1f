"""Re-encrypting trainers' media under the current data key (``classhub keys rotate``).

Like ``storage.attachments.rotate`` for pinboard photos, and safe the same way: each
file is rewritten under a new name (a new nonce prefix) chunk by chunk, never whole in
memory; the row is updated in a short transaction only if it still points at the file
that was read (a blur or replacement meanwhile wins); only then are the old files
removed. A file that cannot be opened is reported and keeps its row, so the old key
must not be forgotten (``--forget-previous`` is refused when anything failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from storage.crypto import DecryptionFailed, UnknownKey
from storage.db import Database
from storage.media_files import MediaStore, SealedFile
from storage.models import MediaItem, MediaState


@dataclass
class MediaRotationReport:
    key_id: str
    rotated: int = 0
    current: int = 0
    failed: dict[int, str] = field(default_factory=dict)  # media id -> why


def _copy(store: MediaStore, media_id: int, variant: str, sealed: SealedFile) -> SealedFile:
    writer = store.writer(media_id, variant)
    try:
        for piece in store.chunks(media_id, variant, sealed, 0, sealed.size - 1):
            writer.write(piece)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def _stale(item: MediaItem, current: str) -> bool:
    return item.key_id != current or (
        item.poster_key_id is not None and item.poster_key_id != current
    )


async def rotate_media(
    database: Database, store: MediaStore, *, batch: int = 100
) -> MediaRotationReport:
    current = store.keys.current_id
    report = MediaRotationReport(current)
    after = 0
    while True:
        async with database.session() as db:
            rows = list((await db.execute(
                select(MediaItem)
                .where(MediaItem.id > after, MediaItem.state == MediaState.PUBLISHED.value)
                .order_by(MediaItem.id).limit(batch)
            )).scalars())
        if not rows:
            return report
        after = rows[-1].id
        for item in rows:
            if not _stale(item, current):
                report.current += 1
                continue
            try:
                new_file = _copy(store, item.id, "file",
                                 SealedFile(item.key_id, item.nonce, item.size))
                new_poster = None
                if item.poster_nonce is not None and item.poster_key_id and item.poster_size:
                    new_poster = _copy(store, item.id, "poster", SealedFile(
                        item.poster_key_id, item.poster_nonce, item.poster_size))
            except (UnknownKey, DecryptionFailed, FileNotFoundError) as exc:
                report.failed[item.id] = str(exc) or type(exc).__name__
                continue
            async with database.session() as db:
                row = await db.get(MediaItem, item.id, with_for_update=True)
                if row is None or row.nonce != item.nonce or row.poster_nonce != item.poster_nonce:
                    store.remove(item.id, keep=_kept(row))  # changed meanwhile: theirs stays
                    continue
                row.key_id, row.nonce = new_file.key_id, new_file.prefix
                if new_poster is not None:
                    row.poster_key_id, row.poster_nonce = new_poster.key_id, new_poster.prefix
                keep = _kept(row)
            store.remove(item.id, keep=keep)
            report.rotated += 1


def _kept(row: MediaItem | None) -> tuple[bytes, ...]:
    if row is None:
        return ()
    return (row.nonce, *((row.poster_nonce,) if row.poster_nonce is not None else ()))


async def media_key_usage(database: Database) -> dict[str, int]:
    async with database.session() as db:
        rows = await db.execute(
            select(MediaItem.key_id, func.count())
            .where(MediaItem.state == MediaState.PUBLISHED.value)
            .group_by(MediaItem.key_id)
        )
        usage = {key_id: int(n) for key_id, n in rows}
        posters = await db.execute(
            select(MediaItem.poster_key_id, func.count())
            .where(MediaItem.state == MediaState.PUBLISHED.value,
                   MediaItem.poster_key_id.is_not(None))
            .group_by(MediaItem.poster_key_id)
        )
        for poster_key, n in posters:
            if poster_key is not None:
                usage[poster_key] = usage.get(poster_key, 0) + int(n)
        return usage
