"""Field types shared by the request and response models of the HTTP API.

Bounds match the database columns, so a value that passes validation can be
stored on both backends (a longer string or a bigger integer would otherwise
fail in the driver, i.e. a 500).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from storage.channels import parse_channel
from storage.models import Role


def _canonical_channel(value: str) -> str:
    # Only the one spelling a channel is stored under (docs/protocol.md section 4): a
    # lookalike ("event:01:chat", "event:١:chat") would match nothing, silently.
    if parse_channel(value) is None:
        raise ValueError(
            "not a channel name: event:<id>:chat|board|news, group:<id>, group:<id>:board,"
            " dm:<a>:<b> (a < b) or user:<id>, ids in ASCII digits without leading zeros"
        )
    return value


Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
Email = Annotated[str, Field(min_length=3, max_length=320)]
DisplayName = Annotated[str, Field(min_length=1, max_length=120)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Place = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=20_000)]
Reason = Annotated[str, Field(max_length=2000)]
RetentionDays = Annotated[int, Field(ge=1, le=36_500)]
_ID = "[1-9][0-9]{0,17}"
CHANNEL_PATTERN = (
    f"^(event:{_ID}:(chat|board|news)|group:{_ID}(:board)?|user:{_ID}|dm:{_ID}:{_ID})$"
)
ChannelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        pattern=CHANNEL_PATTERN,
        description="a channel name (canonical)",
    ),
    AfterValidator(_canonical_channel),
]

# Every time a client sends goes through one of these two types (a test walks the API
# for any other). Python's datetime ends at year 9999: 9999-12-31T23:59:59-14:00 parses,
# but is past that end in UTC, so converting, comparing or storing it raised
# OverflowError, a 500. A time is refused unless it lies in EARLIEST..LATEST in UTC.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _in_range(value: dt.datetime) -> dt.datetime:
    try:
        utc = value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("the time must lie between 1970-01-01 and 2199-12-31 (UTC)")
    return value


def _naive_is_utc(value: dt.datetime) -> dt.datetime:
    return _in_range(value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC))


# A time from a client: with its time zone (a naive time is refused), within the range.
When = Annotated[AwareDatetime, AfterValidator(_in_range)]
# A time from a search filter: a naive time means UTC; within the range.
UtcWhen = Annotated[dt.datetime, AfterValidator(_naive_is_utc)]
# A time we send: whatever is stored.
Timestamp = AwareDatetime


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class EventOut(BaseModel):
    id: int
    title: str
    description: str
    starts_at: Timestamp
    ends_at: Timestamp
    location: str
    status: str
    retention_days: int
    my_role: Role | None = None  # None: an admin who is not enrolled


class MemberOut(BaseModel):
    user_id: int
    display_name: str
    role: Role
    email: str | None = None  # only for the event's trainers, organisers and admins


class RegistrationOut(BaseModel):
    """For a non-admin who registered someone outside the events they teach, every
    answer is the same whether or not the address has an account: ``offered`` true,
    ``user_id`` and ``created`` null, ``enrolled`` false, the email and name as sent
    (docs/privacy.md, "Invitations and enrolment")."""

    user_id: int | None
    email: str
    display_name: str
    created: bool | None
    enrolled: bool
    invite_url: str | None = None  # only ever in an admin's answer
    offered: bool = False  # the person was mailed an offer to join; nothing changed yet


class OkOut(BaseModel):
    status: str = "ok"
