"""Everything classhub stores about one person, gathered for their own eyes.

``collect`` returns plain JSON-safe sections; the access page shows them and the
export zip writes one file per section. Features that store more about a
person add their collector to ``EXTRA_SECTIONS`` (see docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ActivityEntry,
    AuthSession,
    ChannelEvent,
    Enrolment,
    Event,
    GroupMember,
    LearningGroup,
    ProfilePhoto,
    User,
)
from storage.repo.activity_answers import answers_of
from storage.repo.consent import consent_history
from storage.repo.erasure_pinboard import pinboard_data
from storage.repo.mail_data import changes_seen, mails_received
from storage.repo.media import media_appearances
from storage.repo.qa_views import qa_data
from storage.repo.restriction import restriction_history
from storage.repo.room_held import my_room_data

REACTION_MARKERS = ("reaction", "vote", "like")
NOTE_PREFIXES = ("note.",)

Collector = Callable[[AsyncSession, int], Awaitable[dict[str, Any]]]
# name -> collector returning {"items": [...], ...}; filled by other features.
# Sections of other modules, each named explicitly (registering at import time would
# depend on who imported what, and storage/authz.py's use of restriction made a cycle).
EXTRA_SECTIONS: dict[str, Collector] = {
    "consents": consent_history,
    "media_appearances": media_appearances,
    "processing_restrictions": restriction_history,
}


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def profile_json(user: User, *, has_photo: bool) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "status": user.status,
        "created_at": _iso(user.created_at),
        "profile_bio": user.profile_bio,
        "profile_public": user.profile_public,
        "has_photo": has_photo,
        "phone": user.phone,
        "organisation": user.organisation,
        "external_id": user.external_id,  # the suite's id of the person (docs/integration.md)
        "wants_information_mail": user.wants_information_mail,
        "is_admin": user.is_admin,
        "is_dpo": user.is_dpo,
        "delete_after": _iso(user.delete_after),
        "erase_content": user.erase_content,
    }


def event_json(ev: ChannelEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "channel": ev.channel,
        "seq": ev.seq,
        "type": ev.type,
        "ref_id": ev.ref_id,
        "body": ev.body,
        "created_at": _iso(ev.created_at),
    }


def _kind(ev: ChannelEvent) -> str:
    # Board events first: the pinboard's own rows (notes, replies, votes) are listed apart.
    if ev.type.startswith(NOTE_PREFIXES) or ev.channel.endswith(":board"):
        return "board_events"
    if any(m in ev.type for m in REACTION_MARKERS):
        return "reactions"
    return "messages"


async def photo_of(db: AsyncSession, user_id: int) -> ProfilePhoto | None:
    return (
        await db.execute(select(ProfilePhoto).where(ProfilePhoto.user_id == user_id))
    ).scalar_one_or_none()


async def collect(db: AsyncSession, user_id: int) -> dict[str, Any]:
    user = await db.get(User, user_id)
    if user is None:
        raise RuntimeError(f"user {user_id} vanished while collecting their data")
    photo = await photo_of(db, user_id)
    out: dict[str, Any] = {"profile": profile_json(user, has_photo=photo is not None)}
    out["enrolments"] = [
        {
            "event_id": ev.id,
            "title": ev.title,
            "starts_at": _iso(ev.starts_at),
            "ends_at": _iso(ev.ends_at),
            "role": en.role,
            "enrolled_at": _iso(en.created_at),
        }
        for en, ev in await db.execute(
            select(Enrolment, Event)
            .join(Event, Event.id == Enrolment.event_id)
            .where(Enrolment.user_id == user_id)
            .order_by(Event.starts_at)
        )
    ]
    out["groups"] = [
        {"group_id": g.id, "event_id": g.event_id, "name": g.name}
        for g in (
            await db.execute(
                select(LearningGroup)
                .join(GroupMember, GroupMember.group_id == LearningGroup.id)
                .where(GroupMember.user_id == user_id)
            )
        ).scalars()
    ]
    sections: dict[str, list[dict[str, Any]]] = {
        "messages": [],
        "board_events": [],
        "reactions": [],
    }
    for ev in (
        await db.execute(
            select(ChannelEvent)
            .where(ChannelEvent.author_id == user_id)
            .order_by(ChannelEvent.id)
        )
    ).scalars():
        sections[_kind(ev)].append(event_json(ev))
    out.update(sections)
    pinboard = await pinboard_data(db, user_id)
    out["notes"] = pinboard["notes"]
    out["note_replies"] = pinboard["note_replies"]
    # Votes on notes are reactions too; each entry says what it is.
    out["reactions"] += [{"type": "note.vote", **v} for v in pinboard["votes"]]
    out["photos"] = pinboard["photos"]
    out["activity_answers"] = await answers_of(db, user_id)  # polls, quizzes, word clouds
    qa = await qa_data(db, user_id)  # anonymous questions too: they are the person's
    out["questions"] = qa["questions"]
    out["reactions"] += [{"type": "question.vote", **v} for v in qa["question_votes"]]
    out["notifications"] = [
        event_json(ev)
        for ev in (
            await db.execute(
                select(ChannelEvent)
                .where(ChannelEvent.channel == f"user:{user_id}")
                .order_by(ChannelEvent.id)
            )
        ).scalars()
    ]
    out["mails_received"] = await mails_received(db, user_id)
    out["event_changes_seen"] = await changes_seen(db, user_id)
    out["sessions"] = [
        {
            "created_at": _iso(s.created_at),
            "last_seen_at": _iso(s.last_seen_at),
            "expires_at": _iso(s.expires_at),
            "revoked_at": _iso(s.revoked_at),
            "ip": s.ip,
            "user_agent": s.user_agent,
        }
        for s in (
            await db.execute(
                select(AuthSession)
                .where(AuthSession.user_id == user_id)
                .order_by(AuthSession.created_at)
            )
        ).scalars()
    ]
    out["activity"] = [
        {"at": _iso(a.at), "action": a.action, "target": a.target, "ip": a.ip}
        for a in (
            await db.execute(
                select(ActivityEntry)
                .where(ActivityEntry.user_id == user_id)
                .order_by(ActivityEntry.id)
            )
        ).scalars()
    ]
    out["room_controls"] = await my_room_data(db, user_id)
    for name, collector in EXTRA_SECTIONS.items():
        extra = await collector(db, user_id)
        if name in out and isinstance(out[name], list):
            out[name].extend(extra.get("items", []))
        else:
            out[name] = extra.get("items", [])
    return out


FileCollector = Callable[[AsyncSession, int], Awaitable[dict[str, bytes]]]
# Features with files (pinboard photos) add the person's files here: path in zip -> bytes.
EXTRA_FILES: list[FileCollector] = []


async def collect_files(db: AsyncSession, user_id: int) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for collector in EXTRA_FILES:
        files.update(await collector(db, user_id))
    return files
