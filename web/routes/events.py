"""Training events: create, list mine, show one, its members, enrolment one by one and by CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, model_validator
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import Request

from storage import authz
from storage.models import Event, Role, User
from storage.repo import events as repo
from storage.repo.logs import audit
from storage.repo.registration import enrol_from_csv, register
from storage.repo.restriction import restricted_among
from web.api import API, Ctx
from web.body_limits import limited
from web.errors import ApiError
from web.review_common import audited_read
from web.routes.invitations import membership_changed, registration_out
from web.schemas import (
    Description,
    DisplayName,
    Email,
    EventOut,
    MemberOut,
    OkOut,
    Place,
    RegistrationOut,
    RetentionDays,
    Strict,
    Title,
    When,
)

MAX_CSV_BYTES = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024


class EventBody(Strict):
    title: Title
    description: Description = ""
    starts_at: When
    ends_at: When
    location: Place = ""
    retention_days: RetentionDays = 365

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventBody:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class EventList(BaseModel):
    events: list[EventOut]


class MemberList(BaseModel):
    members: list[MemberOut]


class EnrolBody(Strict):
    email: Email
    # Admins: needed when the email has no account yet. Organisers: always (asked of
    # every address alike, so that it does not tell which have an account).
    display_name: DisplayName | None = None
    role: Role = Role.PARTICIPANT


class CsvLineError(BaseModel):
    line: int
    error: str


class CsvResult(BaseModel):
    enrolled: list[RegistrationOut]
    errors: list[CsvLineError]


def event_out(event: Event, role: Role | None) -> dict[str, Any]:
    return EventOut(
        id=event.id,
        title=event.title,
        description=event.description,
        # Always UTC out, whatever offset the times came in with.
        starts_at=event.starts_at.astimezone(dt.UTC),
        ends_at=event.ends_at.astimezone(dt.UTC),
        location=event.location,
        status=event.status,
        retention_days=event.retention_days,
        my_role=role,
    ).model_dump(mode="json")


async def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise ApiError(403, "forbidden", message)


@API.op(
    "POST",
    "/api/events",
    summary="Create a training event (admins)",
    auth="admin",
    body=EventBody,
    response=EventOut,
    status=201,
    tags=("events",),
)
async def create_event(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(EventBody)
    async with ctx.services.db.session() as db:
        event = await repo.create_event(db, **body.model_dump())
        await audit(
            db, actor_id=ctx.me.id, action="event.create", target=f"event:{event.id}", ip=ctx.ip
        )
    return event_out(event, None)


@API.op(
    "GET",
    "/api/events",
    summary="The events I am enrolled in",
    response=EventList,
    tags=("events",),
)
async def my_events(ctx: Ctx) -> dict[str, Any]:
    async with ctx.services.db.session() as db:
        mine = await repo.events_of(db, ctx.me.id)
    return {"events": [event_out(event, role) for event, role in mine]}


@API.op(
    "GET",
    "/api/events/{event_id:int}",
    summary="One event, with my role in it",
    response=EventOut,
    tags=("events",),
)
async def show_event(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        event = await repo.get_event(db, event_id)
        await require(await authz.may_view_event(db, ctx.me, event_id), "you are not enrolled")
        role = await authz.event_role(db, ctx.me.id, event_id)
    return event_out(event, role)


@API.op(
    "GET",
    "/api/events/{event_id:int}/members",
    summary="Who is enrolled (emails only for the event's trainers, organisers and admins)",
    response=MemberList,
    tags=("events",),
)
async def list_members(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await repo.get_event(db, event_id)
        await require(await authz.may_view_event(db, ctx.me, event_id), "you are not enrolled")
        emails = await authz.may_view_member_emails(db, ctx.me, event_id)
        found = await repo.members(db, event_id)
        # Restriction of processing: running the event needs its staff to know who takes
        # part (name and role, no address); co-participants no longer see the person.
        restricted = await restricted_among(db, [m.user_id for m in found])
        staff = emails
        if restricted and not ctx.me.is_admin:
            found = [m for m in found if m.user_id not in restricted or staff
                     or m.user_id == ctx.me.id]
        outsider = ctx.me.is_admin and await authz.event_role(db, ctx.me.id, event_id) is None
    if outsider:
        # Names and addresses of a whole event read by an admin who takes no part in it:
        # audited like a page of the account list (users.read).
        await audited_read(
            ctx, action="members.read", target=f"event:{event_id}", detail={"returned": len(found)}
        )
    return MemberList(
        members=[
            MemberOut(
                user_id=m.user_id,
                display_name=m.display_name,
                role=m.role,
                email=m.email if emails and (ctx.me.is_admin or m.user_id not in restricted)
                else None,
            )
            for m in found
        ]
    ).model_dump(mode="json")


async def _enrolling(ctx: Ctx, db: AsyncSession, event_id: int) -> User:
    await repo.get_event(db, event_id)
    await require(
        await authz.may_enrol(db, ctx.me, event_id), "only organisers and admins may enrol people"
    )
    return ctx.me


@API.op(
    "POST",
    "/api/events/{event_id:int}/enrolments",
    summary="Enrol one person; an organiser's request for someone outside the events they "
    "teach or organise is mailed to the person as an offer to join, and the answer tells "
    "nothing about the account",
    body=EnrolBody,
    response=RegistrationOut,
    status=201,
    tags=("events",),
)
async def enrol_one(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(EnrolBody)
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        actor = await _enrolling(ctx, db, event_id)
        reg = await register(
            db,
            actor=actor,
            email=body.email,
            display_name=body.display_name or "",
            event_id=event_id,
            role=body.role,
            ttl_secs=ctx.services.settings.invitation_ttl_secs,
            public_url=ctx.services.settings.public_url,
        )
        await audit(
            db,
            actor_id=actor.id,
            action="event.enrol",
            target=f"event:{event_id}",
            detail={"user_id": reg.user.id, "role": body.role.value, "offered": not reg.disclosed},
            ip=ctx.ip,
        )
    if reg.enrolled:
        await membership_changed(ctx, [reg.user.id])
    return registration_out(ctx, reg)


@API.op(
    "DELETE",
    "/api/events/{event_id:int}/enrolments/{user_id:int}",
    summary="End an enrolment (and the person's group memberships in the event)",
    response=OkOut,
    tags=("events",),
)
async def unenrol(ctx: Ctx) -> dict[str, Any]:
    event_id, user_id = ctx.path_int("event_id"), ctx.path_int("user_id")
    async with ctx.services.db.session() as db:
        await _enrolling(ctx, db, event_id)
        if not await repo.unenrol(db, user_id, event_id):
            raise ApiError(404, "not_found", "this person is not enrolled")
        await audit(
            db,
            actor_id=ctx.me.id,
            action="event.unenrol",
            target=f"event:{event_id}",
            detail={"user_id": user_id},
            ip=ctx.ip,
        )
    await membership_changed(ctx, [user_id])
    return {"status": "ok"}


async def _csv_upload(request: Request) -> bytes:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "upload the file as multipart/form-data")
    # The file part counts too: Starlette's max_part_size only bounds the other fields.
    request = limited(request, MAX_CSV_BYTES, "the file", overhead=MULTIPART_OVERHEAD)
    async with request.form(max_files=1, max_fields=5, max_part_size=MAX_CSV_BYTES) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "invalid", "file: attach the CSV as the form field 'file'")
        data = await upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise ApiError(413, "too_large", f"the file is over {MAX_CSV_BYTES} bytes")
    return data


@API.op(
    "POST",
    "/api/events/{event_id:int}/enrolments/csv",
    summary="Enrol people from a CSV file (columns email,display_name,role); "
    "bad rows are reported by line, good rows are kept",
    response=CsvResult,
    tags=("events",),
    content_type="multipart/form-data",
    form_schema={
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}},
    },
)
async def enrol_csv(ctx: Ctx) -> dict[str, Any]:
    event_id = ctx.path_int("event_id")
    async with ctx.services.db.session() as db:
        await _enrolling(ctx, db, event_id)
    data = await _csv_upload(ctx.request)
    async with ctx.services.db.session() as db:
        actor = await _enrolling(ctx, db, event_id)
        outcome = await enrol_from_csv(
            db,
            actor=actor,
            event_id=event_id,
            data=data,
            ttl_secs=ctx.services.settings.invitation_ttl_secs,
            public_url=ctx.services.settings.public_url,
        )
        await audit(
            db,
            actor_id=actor.id,
            action="event.enrol_csv",
            target=f"event:{event_id}",
            detail={"enrolled": len(outcome.registrations), "bad_rows": len(outcome.errors)},
            ip=ctx.ip,
        )
    await membership_changed(ctx, [reg.user.id for _, reg in outcome.registrations if reg.enrolled])
    return {
        "enrolled": [registration_out(ctx, reg) for _, reg in outcome.registrations],
        "errors": [{"line": line, "error": error} for line, error in outcome.errors],
    }
