"""Password hashing with Argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1), and
the rules a new password must meet (NIST SP 800-63B 3.1.1.2, OWASP ASVS 2.1).

A new password is refused when it is short, when it contains the account's email
address, the address's local part or the person's name, or when it is easy to guess:
zxcvbn (the maintained Python port of Dropbox's estimator, MIT, a pinned dependency)
matches it offline against its bundled lists (30,000 passwords most common in public
breach corpora, English words, names, keyboard patterns, dates, repeats and
sequences, with common substitutions), and a password it expects to fall within
10^8 guesses (score below 3) is refused with its reason. No composition rules (NIST).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import sys

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
# zxcvbn's work grows fast with length and it refuses more than 72 characters; a
# password whose first 72 characters are hard to guess is hard to guess.
ESTIMATE_CHARS = 72
# zxcvbn's score 3: "safely unguessable", at least 10^8 guesses.
MIN_SCORE = 3
# Pieces of a name or address shorter than this are not looked for in a password.
MIN_PERSONAL_PART = 4

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


def _personal_parts(email: str | None, name: str | None) -> list[str]:
    parts: list[str] = []
    if email:
        email = email.strip().lower()
        local = email.partition("@")[0]
        parts += [email, local, *re.split(r"[^\w]+", local)]
    if name:
        name = name.strip().lower()
        parts += [name, "".join(name.split()), *name.split()]
    return sorted({p for p in parts if len(p) >= MIN_PERSONAL_PART}, key=len, reverse=True)


def password_problem(
    password: str, *, email: str | None = None, name: str | None = None
) -> str | None:
    """Why a new password is refused, or None when it is acceptable.

    ``email`` and ``name`` are the account's: a password containing them is refused.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password must have at most {MAX_PASSWORD_LENGTH} characters"
    lowered = password.lower()
    personal = _personal_parts(email, name)
    for part in personal:
        if part in lowered:
            return "the password must not contain your email address or your name"
    from zxcvbn import zxcvbn  # its lists take ~80 ms to load: only when a password is set

    result = zxcvbn(password[:ESTIMATE_CHARS], user_inputs=[*personal, "classhub"])
    if result["score"] >= MIN_SCORE:
        return None
    reason = str(result["feedback"].get("warning") or "").strip().rstrip(".")
    hint = "a few unrelated words, or a longer phrase, work well"
    if reason:
        return f"this password is too easy to guess ({reason[0].lower()}{reason[1:]}); {hint}"
    return f"this password is too easy to guess; {hint}"
