"""Encryption of attachments at rest: AES-256-GCM under keys derived from DATA_KEY.

Each file is sealed with a fresh random 96-bit nonce and the attachment's id
(plus which variant: the photo or its thumbnail) as associated data, so a file
copied onto another attachment's name, or a thumbnail swapped for a photo,
fails authentication just like a flipped bit does.

The AES key is derived from the configured secret with HKDF-SHA256, and its
*key id* (a short hash of the derived key, never the key) is stored with each
attachment. Rotation (``classhub keys rotate``) re-encrypts every file whose
key id is not the current one, using the previous secrets given in
``DATA_KEY_PREVIOUS`` (comma-separated) or, on the embedded default, the
``<var>/data_key.previous`` file that ``--generate`` keeps.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.settings import Settings

NONCE_BYTES = 12  # 96 bits: the size GCM is specified for
HKDF_INFO = b"classhub attachments v1"
PREVIOUS_KEYS_FILE = "data_key.previous"


class DecryptionFailed(Exception):
    """The ciphertext, nonce or associated data was altered, or the key is wrong."""


class UnknownKey(Exception):
    """A file was sealed under a key id this process was not given."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no data key with id {key_id} is configured (see DATA_KEY_PREVIOUS)")
        self.key_id = key_id


def derive_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret.encode()
    )


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(b"classhub key id:" + key).hexdigest()[:16]


def aad_for(attachment_id: int, variant: str) -> bytes:
    return f"classhub attachment {attachment_id} {variant}".encode()


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


class KeyRing:
    """The current key (used to seal) and earlier ones (accepted to open)."""

    def __init__(self, current: str, previous: Iterable[str] = ()) -> None:
        self._current = derive_key(current)
        self.current_id = key_id_of(self._current)
        self._keys = {self.current_id: self._current}
        for secret in previous:
            key = derive_key(secret)
            self._keys.setdefault(key_id_of(key), key)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """Current DATA_KEY plus DATA_KEY_PREVIOUS and ``<var>/data_key.previous``."""
        previous = list(settings.data_key_previous)
        path = Path(settings.var_dir) / PREVIOUS_KEYS_FILE
        if path.exists():
            previous += [line.strip() for line in path.read_text().splitlines() if line.strip()]
        return cls(settings.data_key, previous)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def aead(self, key_id: str) -> AESGCM:
        """The cipher of ``key_id`` (the current key's for sealing); raises UnknownKey.

        For formats that seal piece by piece (storage/media_files.py: chunked videos).
        """
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownKey(key_id)
        return AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        return Sealed(self.current_id, nonce, AESGCM(self._current).encrypt(nonce, plaintext, aad))

    def open(self, key_id: str, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownKey(key_id)
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise DecryptionFailed("the file failed authentication") from None
