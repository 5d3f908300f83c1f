"""Trainers' media on disk, encrypted in chunks so a range is read without the whole file.

Pinboard photos are sealed whole (one AES-GCM message, storage/attachments.py):
fine for a few megabytes, but a video of hundreds would have to be decrypted
entirely, into memory, for every HTTP range request a player makes while
seeking. So media use a chunked scheme (the STREAM construction of Hoang, Reyhanitabar,
Rogaway and Vizár, as in Tink's streaming AEAD), built on the same AES-256-GCM keys:

* the plaintext is cut into ``CHUNK`` (64 KiB) pieces, each sealed on its own; the
  file is their ciphertexts back to back, chunk ``i`` at ``i * (CHUNK + 16)``;
* chunk ``i``'s nonce is the file's random 8-byte prefix followed by ``i`` (32 bits),
  so no nonce repeats under a key (a new prefix for every file written);
* its associated data names the medium, the variant (``file`` or ``poster``), ``i``
  and whether it is the last chunk: chunks moved between files or positions, and a
  file cut short at a chunk boundary, fail authentication like a flipped bit does.

Reading ``bytes=a-b`` decrypts only the chunks that cover it, one at a time; writing
takes the plaintext piece by piece (an upload as it streams in). The prefix is part
of the file name, so a replacement writes new files, commits, then deletes the old.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag

from storage.crypto import DecryptionFailed, KeyRing
from storage.settings import Settings

CHUNK = 64 * 1024
TAG = 16
PREFIX_BYTES = 8
MAX_CHUNKS = 2**32
VARIANTS = ("file", "poster")


def _aad(media_id: int, variant: str, index: int, last: bool) -> bytes:
    return f"classhub media {media_id} {variant} {index} {int(last)}".encode()


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


@dataclass(frozen=True)
class SealedFile:
    key_id: str
    prefix: bytes
    size: int  # plaintext bytes


class MediaWriter:
    """Seal a file piece by piece: ``write`` as bytes arrive, ``finish`` once, or ``abort``."""

    def __init__(self, store: MediaStore, media_id: int, variant: str) -> None:
        self._store, self._id, self._variant = store, media_id, variant
        self.key_id = store.keys.current_id
        self._aead = store.keys.aead(self.key_id)
        self.prefix = os.urandom(PREFIX_BYTES)
        self.final = store.path(media_id, variant, self.prefix)
        self._tmp = self.final.with_name(self.final.name + ".tmp")
        store.root.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO = os.fdopen(
            os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb"
        )
        self._pending = bytearray()
        self._index = 0
        self.size = 0

    def _seal(self, piece: bytes, last: bool) -> None:
        if self._index >= MAX_CHUNKS:
            raise RuntimeError("a media file over 2**32 chunks")
        nonce = _nonce(self.prefix, self._index)
        self._fh.write(self._aead.encrypt(nonce, piece, _aad(self._id, self._variant,
                                                             self._index, last)))
        self._index += 1

    def write(self, data: bytes) -> None:
        self._pending += data
        self.size += len(data)
        # Keep at least one byte back: only ``finish`` knows which chunk is the last.
        while len(self._pending) > CHUNK:
            self._seal(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]

    def finish(self) -> SealedFile:
        if not self.size:
            raise RuntimeError("an empty media file")
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.final)
        return SealedFile(self.key_id, self.prefix, self.size)

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)
        self.final.unlink(missing_ok=True)


class MediaStore:
    def __init__(self, root: Path, keys: KeyRing) -> None:
        self.root = root
        self.keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaStore:
        return cls(Path(settings.var_dir) / "media", KeyRing.from_settings(settings))

    def path(self, media_id: int, variant: str, prefix: bytes) -> Path:
        if variant not in VARIANTS:
            raise RuntimeError(f"unknown media variant {variant!r}")
        return self.root / f"{media_id}-{variant}-{prefix.hex()}"

    def writer(self, media_id: int, variant: str) -> MediaWriter:
        return MediaWriter(self, media_id, variant)

    def write_all(self, media_id: int, variant: str, data: bytes) -> SealedFile:
        w = self.writer(media_id, variant)
        try:
            w.write(data)
            return w.finish()
        except BaseException:
            w.abort()
            raise

    def chunks(
        self, media_id: int, variant: str, sealed: SealedFile, start: int, end: int
    ) -> Iterator[bytes]:
        """The plaintext bytes ``start``..``end`` (inclusive), decrypted a chunk at a time.

        Raises DecryptionFailed (altered), UnknownKey, FileNotFoundError (at the first read).
        """
        if not 0 <= start <= end < sealed.size:
            raise RuntimeError(f"range {start}-{end} outside 0-{sealed.size - 1}")
        aead = self.keys.aead(sealed.key_id)
        last = (sealed.size - 1) // CHUNK
        with self.path(media_id, variant, sealed.prefix).open("rb") as fh:
            for index in range(start // CHUNK, end // CHUNK + 1):
                fh.seek(index * (CHUNK + TAG))
                want = (CHUNK if index < last else sealed.size - last * CHUNK) + TAG
                blob = fh.read(want)
                try:
                    plain = aead.decrypt(
                        _nonce(sealed.prefix, index), blob,
                        _aad(media_id, variant, index, index == last),
                    )
                except InvalidTag:
                    raise DecryptionFailed("the media file failed authentication") from None
                lo = start - index * CHUNK if index == start // CHUNK else 0
                hi = end - index * CHUNK + 1 if index == end // CHUNK else len(plain)
                yield plain[lo:hi]

    def read_all(self, media_id: int, variant: str, sealed: SealedFile) -> bytes:
        return b"".join(self.chunks(media_id, variant, sealed, 0, sealed.size - 1))

    def remove(self, media_id: int, keep: tuple[bytes, ...] = ()) -> None:
        """Remove the medium's files, except those sealed with a prefix in ``keep``."""
        if not self.root.exists():
            return
        kept = {p.hex() for p in keep}
        for path in self.root.glob(f"{media_id}-*"):
            if path.name.rsplit("-", 1)[-1].removesuffix(".tmp") not in kept:
                path.unlink(missing_ok=True)
