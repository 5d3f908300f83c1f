"""Short-lived, single-use WebSocket tokens for clients that cannot send the session cookie.

The token is signed (SECRET_KEY), names the user and the session that asked for
it (by the session's hash, never the session token itself), expires after
``TOKEN_TTL_SECS`` and is claimed once through the broker, so it works once
across all processes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer

TOKEN_TTL_SECS = 60
_SALT = "classhub.ws-token"


@dataclass(frozen=True, slots=True)
class TokenClaim:
    user_id: int
    session_hash: str
    nonce: str


def issue_token(secret: str, user_id: int, session_hash: str) -> str:
    return URLSafeTimedSerializer(secret, salt=_SALT).dumps(
        [user_id, session_hash, secrets.token_urlsafe(12)]
    )


def read_token(secret: str, token: str) -> TokenClaim | None:
    """The claim of a well-signed, unexpired token (not yet checked for reuse)."""
    if len(token) > 512:
        return None
    try:
        data = URLSafeTimedSerializer(secret, salt=_SALT).loads(token, max_age=TOKEN_TTL_SECS)
    except BadData:
        return None
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not isinstance(data[0], int)
        or not all(isinstance(x, str) for x in data[1:])
    ):
        return None
    return TokenClaim(data[0], data[1], data[2])
