"""The server API's provisioning (scope ``provision``): one idempotent batch upsert of
users, events, enrolments and groups by the suite's ids (storage/repo/provisioning.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from storage.models import Role
from storage.repo import provisioning as repo
from storage.repo.logs import audit
from web.api import API, Ctx
from web.schemas import Description, DisplayName, Email, Place, Strict, Title, When

ExternalId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
MAX_ITEMS = 5000


class UserItem(Strict):
    external_id: ExternalId
    email: Email
    display_name: DisplayName


class EventItem(Strict):
    external_id: ExternalId
    title: Title
    starts_at: When
    ends_at: When
    description: Description = ""
    location: Place = ""

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventItem:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class EnrolmentItem(Strict):
    event: ExternalId
    user: ExternalId
    role: Role = Role.PARTICIPANT


class UnenrolItem(Strict):
    event: ExternalId
    user: ExternalId


class GroupItem(Strict):
    external_id: ExternalId
    event: ExternalId
    name: Annotated[str, Field(min_length=1, max_length=120)]
    # The group's complete membership (people enrolled in its event); left out: unchanged.
    members: list[ExternalId] | None = Field(None, max_length=MAX_ITEMS)


class ProvisionBody(Strict):
    users: list[UserItem] = Field([], max_length=MAX_ITEMS)
    events: list[EventItem] = Field([], max_length=MAX_ITEMS)
    enrolments: list[EnrolmentItem] = Field([], max_length=MAX_ITEMS)
    unenrol: list[UnenrolItem] = Field([], max_length=MAX_ITEMS)
    groups: list[GroupItem] = Field([], max_length=MAX_ITEMS)


class CountsOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    removed: int


class ProvisionOut(BaseModel):
    changed: bool
    users: CountsOut
    events: CountsOut
    enrolments: CountsOut
    groups: CountsOut
    group_members: CountsOut
    # external id -> classhub id of every user, event and group named in the batch's lists
    ids: dict[str, dict[str, int]]


EXAMPLE = {
    "users": [
        {"external_id": "u-1001", "email": "ada@example.org", "display_name": "Ada Lovelace"}
    ],
    "events": [
        {
            "external_id": "course-42", "title": "Statistics 101",
            "starts_at": "2027-03-01T09:00:00+01:00", "ends_at": "2027-03-01T17:00:00+01:00",
            "location": "Room 3",
        }
    ],
    "enrolments": [{"event": "course-42", "user": "u-1001", "role": "participant"}],
    "unenrol": [],
    "groups": [
        {"external_id": "team-a", "event": "course-42", "name": "Team A", "members": ["u-1001"]}
    ],
}


@API.op(
    "POST", "/api/server/provision",
    summary="Upsert users, events, enrolments and groups by external id, all or nothing; "
    "a second identical call changes nothing",
    auth="key", scope="provision", body=ProvisionBody, response=ProvisionOut,
    tags=("server api",), example=EXAMPLE,
)
async def provision(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body_as(ProvisionBody)
    batch = repo.Batch(
        users=[repo.UserIn(u.external_id, u.email, u.display_name) for u in body.users],
        events=[
            repo.EventIn(e.external_id, e.title, e.starts_at, e.ends_at, e.description,
                         e.location)
            for e in body.events
        ],
        enrolments=[repo.EnrolmentIn(e.event, e.user, e.role) for e in body.enrolments],
        unenrol=[(u.event, u.user) for u in body.unenrol],
        groups=[
            repo.GroupIn(g.external_id, g.event, g.name,
                         tuple(g.members) if g.members is not None else None)
            for g in body.groups
        ],
    )
    key = ctx.api_key
    async with ctx.services.db.session() as db:
        out = await repo.provision(db, batch)
        if out.changed:
            await audit(
                db, actor_id=None, action="api.provision", target=f"api_key:{key.id}",
                detail={"key": key.name, **{k: vars(c) for k, c in out.counts.items()}},
                ip=ctx.ip,
            )
    hub = ctx.services.hub
    if hub is not None and out.changed_users:
        await hub.membership_changed(out.changed_users)
    return {
        "changed": out.changed,
        **{k: vars(c) for k, c in out.counts.items()},
        "ids": out.ids,
    }
