"""Bulk mail: compose, preview the audience, send now or later, follow each recipient."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.authz import has_event_role, may_see_mail_addresses
from storage.errors import DomainError, Forbidden, NotFound
from storage.models import (
    DeliveryStatus,
    MailCampaign,
    MailCategory,
    MailDelivery,
    Role,
    User,
    utcnow,
)
from storage.repo import outbox
from storage.repo.audience import AudienceKind, AudienceSpec, When, resolve
from storage.repo.logs import log_activity
from web import schemas
from web.api import API, Ctx
from web.mail_markdown import render_html
from web.schemas import Strict

TAGS = ("mail",)
SAMPLE_SIZE = 5
PAGE_LIMIT = 500


class AudienceBody(Strict):
    kind: AudienceKind
    event_id: int | None = Field(default=None, gt=0)
    group_id: int | None = Field(default=None, gt=0)
    when: When = When.ALL
    roles: list[Role] = Field(default_factory=list, max_length=3)

    @model_validator(mode="after")
    def _needs_target(self) -> AudienceBody:
        if self.kind is AudienceKind.EVENT and self.event_id is None:
            raise ValueError("audience 'event' needs event_id")
        if self.kind is AudienceKind.GROUP and self.group_id is None:
            raise ValueError("audience 'group' needs group_id")
        return self

    def spec(self) -> AudienceSpec:
        return AudienceSpec(self.kind, self.event_id, self.group_id, self.when, tuple(self.roles))


class ComposeBody(BaseModel):
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=200_000, description="plain text")
    markdown: bool = Field(default=False, description="also send the body rendered as HTML")
    category: MailCategory
    audience: AudienceBody
    send_at: schemas.When | None = Field(default=None, description="send later; omit to send now")

    @field_validator("subject")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if "\n" in v or "\r" in v:
            raise ValueError("the subject must be one line")
        return v


class PreviewBody(BaseModel):
    audience: AudienceBody
    category: MailCategory = MailCategory.INFORMATION


@API.op(
    "POST",
    "/api/mail/preview",
    summary="How many people an audience reaches, and a sample of them (trainers/organisers)",
    body=PreviewBody,
    tags=TAGS,
)
async def preview(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(PreviewBody)
    async with ctx.services.db.session() as db:
        audience = await resolve(db, ctx.me, body.audience.spec())
    recipients = audience.recipients
    suppressed = (
        sum(1 for r in recipients if not r.wants_information_mail)
        if body.category is MailCategory.INFORMATION
        else 0
    )
    return {
        "count": len(recipients),
        "will_send": len(recipients) - suppressed,
        "suppressed": suppressed,
        "event_ids": list(audience.event_ids),
        # The caller is a trainer/organiser of every event concerned (resolve checked).
        "sample": [
            {"user_id": r.user_id, "display_name": r.display_name, "email": r.email}
            for r in recipients[:SAMPLE_SIZE]
        ],
    }


def _campaign_out(c: MailCampaign, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "category": c.category,
        "subject": c.subject,
        "audience": c.audience,
        "event_ids": c.event_ids,
        "sender_id": c.sender_id,
        "total": c.total,
        "send_at": c.send_at.isoformat(),
        "created_at": c.created_at.isoformat(),
        "counts": counts,
        "done": counts.get(DeliveryStatus.QUEUED.value, 0) == 0,
    }


@API.op(
    "POST",
    "/api/mail/campaigns",
    summary="Send a mail to an audience now or at send_at: one message per recipient, "
    "queued in the outbox in one transaction",
    body=ComposeBody,
    status=201,
    tags=TAGS,
)
async def create(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ComposeBody)
    now = utcnow()
    send_at = max(body.send_at, now) if body.send_at is not None else now
    async with ctx.services.db.session() as db:
        audience = await resolve(db, ctx.me, body.audience.spec())
        if not audience.recipients:
            raise DomainError("empty_audience", "this audience has no one with an address to mail")
        campaign = await outbox.create_campaign(
            db,
            sender_id=ctx.me.id,
            kind="bulk",
            category=body.category,
            subject=body.subject,
            body_text=body.body,
            body_html=render_html(body.body) if body.markdown else None,
            audience=body.audience.model_dump(mode="json"),
            event_ids=audience.event_ids,
            recipients=audience.recipients,
            send_at=send_at,
        )
        await log_activity(
            db,
            user_id=ctx.me.id,
            action="mail_campaign",
            target=f"campaign:{campaign.id}",
            ip=ctx.ip,
        )
        counts = (await outbox.counts(db, [campaign.id]))[campaign.id]
    return _campaign_out(campaign, counts)


async def _visible_campaign(db: AsyncSession, user: User, campaign_id: int) -> MailCampaign:
    c = await db.get(MailCampaign, campaign_id)
    if c is None:
        raise NotFound("campaign")
    if c.sender_id == user.id or await may_see_mail_addresses(db, user, c.event_ids):
        return c
    raise NotFound("campaign")


@API.op("GET", "/api/mail/campaigns", summary="The campaigns I sent, newest first", tags=TAGS)
async def list_campaigns(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        rows = list(
            (
                await db.execute(
                    select(MailCampaign)
                    .where(MailCampaign.sender_id == ctx.me.id)
                    .order_by(MailCampaign.id.desc())
                    .limit(200)
                )
            ).scalars()
        )
        counts = await outbox.counts(db, [c.id for c in rows])
    return {"campaigns": [_campaign_out(c, counts[c.id]) for c in rows]}


@API.op(
    "GET",
    "/api/mail/campaigns/{campaign_id:int}",
    summary="A campaign and its progress (its sender, and trainers/organisers of its events)",
    tags=TAGS,
)
async def get_campaign(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        c = await _visible_campaign(db, ctx.me, ctx.path_int("campaign_id"))
        counts = (await outbox.counts(db, [c.id]))[c.id]
    return _campaign_out(c, counts)


class DeliveriesQuery(BaseModel):
    status: DeliveryStatus | None = None
    after_id: int = Field(default=0, ge=0, description="page on: the last id of the previous page")
    limit: int = Field(default=100, ge=1, le=PAGE_LIMIT)


@API.op(
    "GET",
    "/api/mail/campaigns/{campaign_id:int}/deliveries",
    summary="Per-recipient status (queued, sent, failed, bounced, suppressed; attempts; "
    "last error). Addresses only for trainers/organisers of the events concerned",
    query=DeliveriesQuery,
    tags=TAGS,
)
async def deliveries(ctx: Ctx) -> dict[str, Any]:
    q = ctx.query_as(DeliveriesQuery)
    async with ctx.services.db.session() as db:
        c = await _visible_campaign(db, ctx.me, ctx.path_int("campaign_id"))
        show_addresses = await may_see_mail_addresses(db, ctx.me, c.event_ids)
        stmt = (
            select(MailDelivery, User.display_name, User.email)
            .outerjoin(User, User.id == MailDelivery.user_id)
            .where(MailDelivery.campaign_id == c.id, MailDelivery.id > q.after_id)
            .order_by(MailDelivery.id)
            .limit(q.limit)
        )
        if q.status is not None:
            stmt = stmt.where(MailDelivery.status == q.status.value)
        rows = (await db.execute(stmt)).all()
    items = [
        {
            "id": d.id,
            "user_id": d.user_id,
            "display_name": name or "",
            "email": (d.email or email) if show_addresses else None,
            "status": d.status,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at.isoformat() if d.status == "queued" else None,
            "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            "message_id": d.message_id,
        }
        for d, name, email in rows
    ]
    return {"deliveries": items, "addresses_visible": show_addresses}


@API.op(
    "POST",
    "/api/mail/campaigns/{campaign_id:int}/retry-failed",
    summary="Queue the campaign's failed deliveries again (bounced ones stay bounced)",
    tags=TAGS,
)
async def retry_failed(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        c = await _visible_campaign(db, ctx.me, ctx.path_int("campaign_id"))
        if c.sender_id != ctx.me.id and not all(
            [await has_event_role(db, ctx.me, e, Role.ORGANISER) for e in c.event_ids]
        ):
            raise Forbidden("only the sender or an organiser of its events may retry")
        n = await outbox.retry_failed(db, c.id)
        await log_activity(
            db, user_id=ctx.me.id, action="mail_retry_failed", target=f"campaign:{c.id}", ip=ctx.ip
        )
    return {"requeued": n}


class PrefsBody(BaseModel):
    wants_information_mail: bool


@API.op(
    "GET", "/api/me/mail-preferences", summary="Do I receive information mail?", tags=TAGS
)
async def get_prefs(ctx: Ctx) -> dict[str, Any]:
    return {"wants_information_mail": ctx.me.wants_information_mail, "service_mail": True}


@API.op(
    "PUT",
    "/api/me/mail-preferences",
    summary="Subscribe to or unsubscribe from information mail (service mail always arrives)",
    body=PrefsBody,
    tags=TAGS,
)
async def put_prefs(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(PrefsBody)
    async with ctx.services.db.session() as db:
        user = await db.get(User, ctx.me.id)
        if user is None:
            raise RuntimeError("the signed-in user vanished")
        user.wants_information_mail = body.wants_information_mail
    return {"wants_information_mail": body.wants_information_mail, "service_mail": True}

