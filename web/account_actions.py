"""Account changes that reach beyond the database: closing live connections.

Blocking revokes the sessions in the same transaction as the status change;
after commit the hub closes the user's WebSocket connections on every process.
"""

from __future__ import annotations

from storage.repo import accounts
from storage.repo.logs import audit
from web.services import Services


async def block_user(
    services: Services, user_id: int, *, actor_id: int | None, reason: str = "", ip: str = ""
) -> int:
    """Block an account; returns how many sessions were revoked."""
    async with services.db.session() as db:
        user = await accounts.get_user(db, user_id)
        revoked = await accounts.block(db, user)
        await audit(
            db,
            actor_id=actor_id,
            action="user.block",
            target=f"user:{user_id}",
            reason=reason,
            detail={"sessions_revoked": revoked},
            ip=ip,
        )
    if services.hub is not None:
        await services.hub.disconnect_user(user_id, reason or "account blocked")
    return revoked


async def unblock_user(
    services: Services, user_id: int, *, actor_id: int | None, reason: str = "", ip: str = ""
) -> None:
    async with services.db.session() as db:
        user = await accounts.get_user(db, user_id)
        await accounts.unblock(db, user)
        await audit(
            db,
            actor_id=actor_id,
            action="user.unblock",
            target=f"user:{user_id}",
            reason=reason,
            ip=ip,
        )
