"""Webhook subscriptions (per API key) and the admins' view of their deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import Conflict, DomainError, NotFound
from storage.models import ApiKey, NotifyOutbox, WebhookSubscription, WebhookTopic
from storage.repo import paging
from storage.repo.notify_outbox import delivery_columns
from storage.webhooks import TOPICS, WEBHOOK, new_secret


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or len(url) > 2000:
        raise DomainError("invalid", "url: an http:// or https:// URL", status=422)
    return url


def check_topics(topics: Sequence[str]) -> list[str]:
    chosen = sorted(set(topics))
    unknown = [t for t in chosen if t not in TOPICS]
    if unknown or not chosen:
        raise DomainError(
            "invalid", f"topics: some of {', '.join(TOPICS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            status=422,
        )
    return chosen


async def create_subscription(
    db: AsyncSession, *, key: ApiKey, url: str, topics: Sequence[str]
) -> tuple[WebhookSubscription, list[str]]:
    if key.revoked_at is not None:
        raise Conflict("revoked", "this API key is revoked")
    chosen = check_topics(topics)
    sub = WebhookSubscription(key_id=key.id, url=check_url(url), secret=new_secret(), active=True)
    db.add(sub)
    await db.flush()
    db.add_all(WebhookTopic(subscription_id=sub.id, topic=t) for t in chosen)
    await db.flush()
    return sub, chosen


async def get_subscription(db: AsyncSession, sub_id: int) -> WebhookSubscription:
    sub = await db.get(WebhookSubscription, sub_id)
    if sub is None:
        raise NotFound("webhook subscription")
    return sub


async def end_subscription(db: AsyncSession, sub: WebhookSubscription) -> None:
    """No more deliveries: queued ones are skipped by the worker (its rows stay for review)."""
    sub.active = False
    await db.execute(delete(WebhookTopic).where(WebhookTopic.subscription_id == sub.id))


async def subscriptions(db: AsyncSession) -> list[dict[str, Any]]:
    """Every subscription with its topics and delivery counts per status."""
    subs = list(
        (await db.execute(select(WebhookSubscription).order_by(WebhookSubscription.id))).scalars()
    )
    topics: dict[int, list[str]] = {}
    for sid, topic in await db.execute(
        select(WebhookTopic.subscription_id, WebhookTopic.topic).order_by(WebhookTopic.topic)
    ):
        topics.setdefault(sid, []).append(topic)
    counts: dict[int, dict[str, int]] = {}
    for sid, status, n in await db.execute(
        select(NotifyOutbox.target_id, NotifyOutbox.status, func.count())
        .where(NotifyOutbox.consumer == WEBHOOK)
        .group_by(NotifyOutbox.target_id, NotifyOutbox.status)
    ):
        counts.setdefault(sid, {})[status] = int(n)
    return [
        {
            "id": s.id, "key_id": s.key_id, "url": s.url, "active": s.active,
            "topics": topics.get(s.id, []), "created_at": s.created_at,
            "deliveries": counts.get(s.id, {}),
        }
        for s in subs
    ]


async def deliveries(
    db: AsyncSession, sub_id: int, *, status: str | None, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of a subscription's deliveries, newest first."""
    n = NotifyOutbox
    conds = [n.target_id == sub_id, *paging.equal((n.status, status))]
    return await paging.page(
        db, delivery_columns(), n.id, conds, before_id=before_id, limit=limit,
        shape=lambda r: dict(r._mapping),
    )


__all__ = [
    "check_topics", "check_url", "create_subscription", "deliveries", "end_subscription",
    "get_subscription", "subscriptions",
]
