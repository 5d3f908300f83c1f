"""Encrypted attachment files on disk: ``<var>/attachments/<id>.photo`` and ``<id>.thumb``.

The database row (``storage.models.Attachment``) holds the key id and nonces;
the files hold only ciphertext. Files are written to a temporary name and
renamed, so a crash never leaves half a file under the real name.
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.crypto import KeyRing, Sealed, aad_for
from storage.models import Attachment

VARIANTS = ("photo", "thumb")


class AttachmentStore:
    def __init__(self, root: Path, keys: KeyRing) -> None:
        self.root = root
        self.keys = keys

    def path(self, attachment_id: int, variant: str) -> Path:
        if variant not in VARIANTS:
            raise RuntimeError(f"unknown attachment variant {variant!r}")
        return self.root / f"{attachment_id}.{variant}"

    def seal(self, attachment_id: int, variant: str, plaintext: bytes) -> Sealed:
        return self.keys.seal(plaintext, aad_for(attachment_id, variant))

    def write(self, attachment_id: int, variant: str, sealed: Sealed) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(attachment_id, variant)
        tmp = final.with_name(final.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(sealed.ciphertext)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def read(self, att: Attachment, variant: str) -> bytes:
        """Decrypt one file; raises DecryptionFailed if it was altered, FileNotFoundError."""
        nonce = att.nonce if variant == "photo" else att.thumb_nonce
        ciphertext = self.path(att.id, variant).read_bytes()
        return self.keys.open(att.key_id, nonce, ciphertext, aad_for(att.id, variant))

    def remove(self, attachment_id: int) -> None:
        for variant in VARIANTS:
            self.path(attachment_id, variant).unlink(missing_ok=True)

    @classmethod
    def from_settings(cls, settings: object) -> AttachmentStore:
        return cls(Path(getattr(settings, "var_dir")) / "attachments", KeyRing.from_settings(settings))
