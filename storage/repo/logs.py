"""Writing the activity log and the append-only audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActivityEntry, AuditEntry


async def log_activity(
    db: AsyncSession, *, user_id: int | None, action: str, target: str = "", ip: str = ""
) -> None:
    """Record what someone did. Never pass a message body as the target."""
    db.add(ActivityEntry(user_id=user_id, action=action, target=target[:200], ip=ip[:64]))


async def audit(
    db: AsyncSession,
    *,
    actor_id: int | None,
    action: str,
    target: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    db.add(
        AuditEntry(
            actor_id=actor_id,
            action=action,
            target=target[:200],
            reason=reason,
            detail=detail or {},
            ip=ip[:64],
        )
    )
