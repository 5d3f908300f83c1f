"""Admins manage the server API: keys, their webhook subscriptions, and the deliveries.

Every change is audited. A key's token and a subscription's signing secret are in
the answer that creates them and never again (docs/integration.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiKey, OutboxStatus
from storage.repo import api_keys as keys_repo
from storage.repo import notify_outbox
from storage.repo import webhooks as hooks_repo
from storage.repo.logs import audit
from web.api import API, Ctx
from web.errors import ApiError
from web.schemas import Id, OkOut, Strict, Timestamp

Scope = Literal["provision", "publish", "read"]
Topic = Literal[
    "message.posted", "note.released", "moderation.decision", "event.changed", "account.deleted"
]
KeyName = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f]+$")


class KeyBody(Strict):
    name: str = KeyName
    scopes: list[Scope] = Field(min_length=1, max_length=3)


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: Timestamp
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class NewKeyOut(KeyOut):
    token: str  # shown once


class SubscriptionBody(Strict):
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")
    topics: list[Topic] = Field(min_length=1, max_length=5)


class SubscriptionOut(BaseModel):
    id: int
    key_id: int
    url: str
    active: bool
    topics: list[str]
    created_at: Timestamp
    deliveries: dict[str, int] = {}


class NewSubscriptionOut(SubscriptionOut):
    secret: str  # shown once: the receiver verifies signatures with it


class KeysOut(BaseModel):
    keys: list[KeyOut]
    subscriptions: list[SubscriptionOut]


class DeliveryQuery(Strict):
    status: OutboxStatus | None = None
    before_id: int | None = Field(None, ge=1, le=2**63 - 1)
    limit: int = Field(50, ge=1, le=500)


class DeliveryOut(BaseModel):
    id: int
    topic: str
    channel_event_id: int | None
    status: str
    attempts: int
    next_attempt_at: Timestamp
    last_error: str
    last_status_code: int | None
    created_at: Timestamp
    delivered_at: Timestamp | None


class DeliveriesOut(BaseModel):
    items: list[DeliveryOut]
    next_before: int | None


class ReplayBody(Strict):
    delivery_id: Id | None = None  # none: every failed delivery of the subscription


class ReplayOut(BaseModel):
    replayed: int


def key_out(key: ApiKey) -> dict[str, Any]:
    return KeyOut(
        id=key.id, name=key.name, prefix=key.prefix, scopes=key.scopes.split(","),
        created_at=key.created_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at,
    ).model_dump(mode="json")


@API.op("GET", "/api/admin/api-keys", summary="Server API keys and webhook subscriptions",
        auth="admin", response=KeysOut, tags=("server api",))
async def list_keys(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        keys = await keys_repo.list_keys(db)
        subs = await hooks_repo.subscriptions(db)
    return {
        "keys": [key_out(k) for k in keys],
        "subscriptions": [SubscriptionOut(**s).model_dump(mode="json") for s in subs],
    }


@API.op("POST", "/api/admin/api-keys", summary="Make a server API key (its token is shown once)",
        auth="admin", body=KeyBody, response=NewKeyOut, status=201, tags=("server api",),
        example={"name": "moodle-sync", "scopes": ["provision", "publish", "read"]})
async def create_key(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(KeyBody)
    async with ctx.services.db.session() as db:
        key, token = await keys_repo.create_key(
            db, name=body.name, scopes=list(body.scopes), created_by=ctx.me.id
        )
        await audit(db, actor_id=ctx.me.id, action="api_key.create", target=f"api_key:{key.id}",
                    detail={"name": key.name, "scopes": key.scopes}, ip=ctx.ip)
    return {**key_out(key), "token": token}


async def _key(db: AsyncSession, key_id: int) -> ApiKey:
    key = await db.get(ApiKey, key_id)
    if key is None:
        raise ApiError(404, "not_found", "no such API key")
    return key


@API.op("POST", "/api/admin/api-keys/{key_id:int}/revoke",
        summary="Revoke a key (refused from now on; its webhooks stop)", auth="admin",
        response=OkOut, tags=("server api",))
async def revoke_key(ctx: Ctx) -> dict[str, Any]:
    key_id = ctx.path_int("key_id")
    async with ctx.services.db.session() as db:
        key = await _key(db, key_id)
        if await keys_repo.revoke(db, key):
            await audit(db, actor_id=ctx.me.id, action="api_key.revoke",
                        target=f"api_key:{key.id}", detail={"name": key.name}, ip=ctx.ip)
    return {"status": "ok"}


@API.op("POST", "/api/admin/api-keys/{key_id:int}/webhooks",
        summary="Subscribe a URL to webhook topics for this key (the signing secret is shown "
        "once)", auth="admin", body=SubscriptionBody, response=NewSubscriptionOut, status=201,
        tags=("server api",),
        example={"url": "https://suite.example.org/hooks/classhub",
                 "topics": ["note.released", "event.changed"]})
async def subscribe(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(SubscriptionBody)
    key_id = ctx.path_int("key_id")
    async with ctx.services.db.session() as db:
        key = await _key(db, key_id)
        sub, topics = await hooks_repo.create_subscription(
            db, key=key, url=body.url, topics=list(body.topics)
        )
        await audit(db, actor_id=ctx.me.id, action="webhook.subscribe",
                    target=f"webhook:{sub.id}", detail={"key": key.name, "topics": topics},
                    ip=ctx.ip)
    return NewSubscriptionOut(
        id=sub.id, key_id=key.id, url=sub.url, active=True, topics=topics,
        created_at=sub.created_at, secret=sub.secret,
    ).model_dump(mode="json")


@API.op("DELETE", "/api/admin/webhooks/{sub_id:int}",
        summary="End a webhook subscription (its delivery history stays)", auth="admin",
        response=OkOut, tags=("server api",))
async def unsubscribe(ctx: Ctx) -> dict[str, Any]:
    sub_id = ctx.path_int("sub_id")
    async with ctx.services.db.session() as db:
        sub = await hooks_repo.get_subscription(db, sub_id)
        await hooks_repo.end_subscription(db, sub)
        await audit(db, actor_id=ctx.me.id, action="webhook.unsubscribe",
                    target=f"webhook:{sub.id}", ip=ctx.ip)
    return {"status": "ok"}


@API.op("GET", "/api/admin/webhooks/{sub_id:int}/deliveries",
        summary="A subscription's deliveries, newest first, with their status", auth="admin",
        query=DeliveryQuery, response=DeliveriesOut, tags=("server api",))
async def list_deliveries(ctx: Ctx) -> dict[str, Any]:
    sub_id = ctx.path_int("sub_id")
    q = ctx.query_as(DeliveryQuery)
    async with ctx.services.db.session() as db:
        await hooks_repo.get_subscription(db, sub_id)
        items, next_before = await hooks_repo.deliveries(
            db, sub_id, status=q.status.value if q.status else None, before_id=q.before_id,
            limit=q.limit,
        )
    return DeliveriesOut(
        items=[DeliveryOut(**i) for i in items], next_before=next_before
    ).model_dump(mode="json")


@API.op("POST", "/api/admin/webhooks/{sub_id:int}/replay",
        summary="Send failed deliveries again (one, or all of the subscription's)", auth="admin",
        body=ReplayBody, response=ReplayOut, tags=("server api",), example={"delivery_id": 42})
async def replay(ctx: Ctx) -> dict[str, Any]:
    sub_id = ctx.path_int("sub_id")
    body = ctx.body_as(ReplayBody)
    async with ctx.services.db.session() as db:
        sub = await hooks_repo.get_subscription(db, sub_id)
        if not sub.active:
            raise ApiError(409, "inactive", "this subscription has ended")
        n = await notify_outbox.replay(db, subscription_id=sub_id, row_id=body.delivery_id)
        await audit(db, actor_id=ctx.me.id, action="webhook.replay", target=f"webhook:{sub_id}",
                    detail={"replayed": n, "delivery_id": body.delivery_id}, ip=ctx.ip)
    worker = ctx.services.extras.get("webhook_worker")
    if worker is not None:
        worker.wake()
    return {"replayed": n}
