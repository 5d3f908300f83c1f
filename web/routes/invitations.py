"""Registering participants: an account without a password plus an invitation link."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from storage.authz import may_invite
from storage.models import Event, Role
from storage.repo.events import get_event
from storage.repo.invitations import invitation_for
from storage.repo.logs import audit
from storage.repo.registration import Registration, register
from web.api import API, Ctx
from web.errors import ApiError
from web.schemas import DisplayName, Email, Id, RegistrationOut, Strict


class InviteBody(Strict):
    email: Email
    display_name: DisplayName
    # Trainers must name one of their events; the person is enrolled as participant.
    event_id: Id | None = None


class InvitationOut(BaseModel):
    email: str | None
    display_name: str
    # True: the account has a password; the link only offers to join ``event_title``
    # (POST /api/invitations/join). False: set the password (POST /api/invitations/accept).
    has_password: bool = False
    event_title: str | None = None  # an offer to join this event
    role: str | None = None


def invite_url(public_url: str, token: str) -> str:
    return f"{public_url}/invite/{token}"


def registration_out(ctx: Ctx, reg: Registration) -> dict[str, Any]:
    if not reg.disclosed:
        return RegistrationOut(
            user_id=None,
            email=reg.email,
            display_name=reg.display_name,
            created=None,
            enrolled=False,
            offered=True,
        ).model_dump()
    url = (
        invite_url(ctx.services.settings.public_url, reg.invite_token) if reg.invite_token else None
    )
    return RegistrationOut(
        user_id=reg.user.id,
        email=reg.user.email or "",
        display_name=reg.user.display_name,
        created=reg.created,
        enrolled=reg.enrolled,
        invite_url=url,
    ).model_dump()


async def membership_changed(ctx: Ctx, user_ids: list[int]) -> None:
    hub = ctx.services.hub
    if hub is not None and user_ids:
        await hub.membership_changed(user_ids)


@API.op(
    "POST",
    "/api/invitations",
    summary="Register a participant: admins get the account and a set-password link; "
    "trainers get nothing back about an account they do not teach, whose owner is mailed "
    "an offer to join",
    body=InviteBody,
    response=RegistrationOut,
    status=201,
    tags=("accounts",),
    errors={403: "only trainers of the event and admins may register people"},
)
async def invite(ctx: Ctx) -> dict[str, Any]:
    """Only an admin's answer ever carries a link (``invite_url``, for an account without a
    password). A trainer's request for a person they already teach enrols them (and mails
    a set-password link to the person if they have none); for anyone else, new address or
    not, the answer is the same (``offered``) and the person is mailed an offer to join."""
    body = ctx.body_as(InviteBody)
    settings = ctx.services.settings
    async with ctx.services.db.session() as db:
        if body.event_id is not None:
            await get_event(db, body.event_id)
        if not await may_invite(db, ctx.me, body.event_id):
            raise ApiError(403, "forbidden", "only trainers of the event and admins may do this")
        reg = await register(
            db,
            actor=ctx.me,
            email=body.email,
            display_name=body.display_name,
            event_id=body.event_id,
            role=Role.PARTICIPANT,
            ttl_secs=settings.invitation_ttl_secs,
            public_url=settings.public_url,
            keep_higher_role=True,
        )
        await audit(
            db,
            actor_id=ctx.me.id,
            action="user.invite",
            target=f"user:{reg.user.id}",
            detail={
                "event_id": body.event_id,
                "created": reg.created,
                "offered": not reg.disclosed,
            },
            ip=ctx.ip,
        )
    if reg.enrolled:
        await membership_changed(ctx, [reg.user.id])
    return registration_out(ctx, reg)


@API.op(
    "GET",
    "/api/invitations/{token}",
    summary="Who an invitation link is for (while it is valid)",
    auth="public",
    response=InvitationOut,
    tags=("accounts",),
    errors={404: "unknown invitation", 410: "used or expired"},
)
async def show_invitation(ctx: Ctx) -> dict[str, Any]:
    token = ctx.path_str("token")
    async with ctx.services.db.session() as db:
        invitation, user = await invitation_for(db, token)
        event = await db.get(Event, invitation.event_id) if invitation.event_id else None
    return InvitationOut(
        email=user.email,
        display_name=user.display_name,
        has_password=user.password_hash is not None,
        event_title=event.title if event is not None else None,
        role=invitation.role if event is not None else None,
    ).model_dump()
