"""Encrypted attachment files on disk, and re-encrypting them under a new key.

Files live under ``<var>/attachments/`` as ``<id>-<variant>-<nonce hex>``;
the database row (``storage.models.Attachment``) holds the key id and the
nonces, the files only ciphertext. Because the nonce is part of the name, a
re-encryption writes *new* files, commits the row, and only then removes the
old ones: a crash at any point leaves at most an orphan, never a row that
points at a file sealed under another key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from storage.crypto import DecryptionFailed, KeyRing, Sealed, UnknownKey, aad_for
from storage.db import Database
from storage.models import Attachment
from storage.settings import Settings

VARIANTS = ("photo", "thumb")


class AttachmentStore:
    def __init__(self, root: Path, keys: KeyRing) -> None:
        self.root = root
        self.keys = keys

    def path(self, attachment_id: int, variant: str, nonce: bytes) -> Path:
        if variant not in VARIANTS:
            raise RuntimeError(f"unknown attachment variant {variant!r}")
        return self.root / f"{attachment_id}-{variant}-{nonce.hex()}"

    def seal(self, attachment_id: int, variant: str, plaintext: bytes) -> Sealed:
        return self.keys.seal(plaintext, aad_for(attachment_id, variant))

    def write(self, attachment_id: int, variant: str, sealed: Sealed) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(attachment_id, variant, sealed.nonce)
        tmp = final.with_name(final.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(sealed.ciphertext)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def read(self, att: Attachment, variant: str) -> bytes:
        """Decrypt one file; raises DecryptionFailed (altered), UnknownKey, FileNotFoundError."""
        nonce = att.nonce if variant == "photo" else att.thumb_nonce
        ciphertext = self.path(att.id, variant, nonce).read_bytes()
        return self.keys.open(att.key_id, nonce, ciphertext, aad_for(att.id, variant))

    def remove(self, attachment_id: int, keep: tuple[bytes, ...] = ()) -> None:
        """Remove the attachment's files, except those sealed with a nonce in ``keep``."""
        if not self.root.exists():
            return
        kept = {n.hex() for n in keep}
        for path in self.root.glob(f"{attachment_id}-*"):
            if path.name.rsplit("-", 1)[-1].removesuffix(".tmp") not in kept:
                path.unlink(missing_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> AttachmentStore:
        root = Path(settings.var_dir) / "attachments"
        return cls(root, KeyRing.from_settings(settings))


@dataclass
class RotationReport:
    key_id: str
    rotated: int = 0
    current: int = 0  # already under the current key
    failed: dict[int, str] = field(default_factory=dict)  # attachment id -> why


async def rotate(database: Database, store: AttachmentStore, *, batch: int = 100) -> RotationReport:
    """Re-encrypt every attachment not under the current key; one short transaction each."""
    report = RotationReport(store.keys.current_id)
    after = 0
    while True:
        async with database.session() as db:
            rows = list(
                (
                    await db.execute(
                        select(Attachment).where(Attachment.id > after)
                        .order_by(Attachment.id).limit(batch)
                    )
                ).scalars()
            )
        if not rows:
            return report
        after = rows[-1].id
        for att in rows:
            if att.key_id == store.keys.current_id:
                report.current += 1
                continue
            try:
                photo = store.read(att, "photo")
                thumb = store.read(att, "thumb")
            except (UnknownKey, DecryptionFailed, FileNotFoundError) as exc:
                report.failed[att.id] = str(exc) or type(exc).__name__
                continue
            new_photo = store.seal(att.id, "photo", photo)
            new_thumb = store.seal(att.id, "thumb", thumb)
            store.write(att.id, "photo", new_photo)
            store.write(att.id, "thumb", new_thumb)
            async with database.session() as db:
                row = await db.get(Attachment, att.id)
                if row is None or row.nonce != att.nonce:  # deleted or replaced meanwhile
                    store.remove(att.id, keep=(row.nonce, row.thumb_nonce) if row else ())
                    continue
                row.key_id, row.nonce, row.thumb_nonce = (
                    new_photo.key_id, new_photo.nonce, new_thumb.nonce,
                )
            store.remove(att.id, keep=(new_photo.nonce, new_thumb.nonce))
            report.rotated += 1


async def key_usage(database: Database) -> dict[str, int]:
    from sqlalchemy import func

    async with database.session() as db:
        rows = await db.execute(
            select(Attachment.key_id, func.count()).group_by(Attachment.key_id)
        )
        return {key_id: int(n) for key_id, n in rows}
