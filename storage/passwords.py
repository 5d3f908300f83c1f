"""Password hashing with Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10

# glibc raises its mmap threshold to the size of the largest freed mmapped block
# (up to 32 MiB), after which each Argon2 hash's 19 MiB comes from the verifying
# thread's malloc arena and stays resident when freed: measured, 60 sign-ins on 6
# threads left the process 114 MB larger (loadtest: 179 MB before the first
# WebSocket of a 300-bot class). A fixed threshold keeps such blocks mmapped, so
# every hash's memory goes back to the system as soon as it is verified.
M_MMAP_THRESHOLD = -3


def _fixed_mmap_threshold() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to fix
        return False


MMAP_THRESHOLD_FIXED = _fixed_mmap_threshold()

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
# Verified against when the account does not exist, so an unknown user costs
# the same time as a wrong password and the two answers cannot be told apart.
_DUMMY_HASH = _hasher.hash("classhub-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 1024:
        return "the password must have at most 1024 characters"
    return None
