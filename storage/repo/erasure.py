"""Erasing a person: the one place that runs every part, in a fixed order.

Their personal data goes; their contributions go unless a chain needs them
(then they stay as tombstones, author unlinked: ``erasure_events`` and
``erasure_pinboard`` say how). Each feature that stores something about a
person has its part here, called explicitly (never registered by importing a
module), so that every caller of :func:`erase_user` (the person, an admin,
``classhub maintenance``) erases all of it. The order, all in the caller's
transaction:

0. ``room_held.erase_room_data``: their held posts, room mutes, and the kept originals
   of their messages a trainer removed;
1. ``erasure_events.erase_events``: the person's channel events (chains kept as
   tombstones), the ``dm.received`` notices of their direct messages, their
   personal channel ``user:<id>``;
2. ``erasure_pinboard.erase_pinboard``: notes, replies, votes, photos (files
   after commit), and the board events that carried their notes' text;
   then ``activity_answers.erase_answers``: their poll and word cloud answers;
   then ``erasure_qa.erase_qa``: their questions (tombstones where others voted) and votes;
3. ``erasure_mail.erase_mail``: addresses and errors of their mail deliveries,
   mail still queued for them, their "seen" marks of event changes;
4. account rows: sessions, invitations, enrolments, group memberships,
   activity, profile photo, login failures; their name on invitations they made;
5. the ``users`` row becomes an anonymous shell (no email, name, password or
   profile; status ``deleted``), so rows of other features keep a valid key;
   nothing in it identifies the person.

A new feature that stores personal data adds its part to this list (and to
docs/privacy.md). The full-text index follows through the database's own
triggers/generated column; callers run :func:`compact_index` after commit so
that not even deleted index segments keep the words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ActivityEntry,
    AuthSession,
    ConsentRecord,
    Enrolment,
    GroupMember,
    Invitation,
    LoginFailure,
    MediaDue,
    MediaTag,
    ProcessingRestriction,
    ProfilePhoto,
    User,
    UserStatus,
)
from storage.repo.activity_answers import erase_answers
from storage.repo.channel_log import StoredEvent
from storage.repo.erasure_events import erase_events, remove_contributions
from storage.repo.erasure_mail import erase_mail
from storage.repo.erasure_pinboard import erase_pinboard
from storage.repo.erasure_qa import erase_qa
from storage.repo.notify_outbox import enqueue_payload
from storage.repo.room_held import erase_room_data
from storage.webhooks import ACCOUNT_DELETED

FORMER = "former participant"


@dataclass
class ErasureReport:
    deleted_events: int = 0
    tombstones: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    # Server events that tell live clients to drop or re-render; broadcast after commit.
    notices: list[StoredEvent] = field(default_factory=list)
    # Pinboard attachments whose encrypted files are removed after commit.
    attachment_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"deleted_events": self.deleted_events, "tombstones": self.tombstones, **self.rows}


async def erase_user(db: AsyncSession, user_id: int, *, erase_content: bool) -> ErasureReport:
    """Remove everything about ``user_id``, keeping chains as tombstones (the parts: module doc)."""
    report = ErasureReport()
    user = await db.get(User, user_id)
    if user is None:
        return report
    # 0. room controls (before step 1 unlinks their events from them)
    report.rows.update(await erase_room_data(db, user_id))
    # 1. channel events
    deleted, tombstones, personal, notices = await erase_events(
        db, user_id, erase_content=erase_content
    )
    report.deleted_events, report.tombstones, report.notices = deleted, tombstones, notices
    report.rows["personal_channel"] = personal
    # 2. pinboard
    pin_counts, report.attachment_ids = await erase_pinboard(
        db, user_id, erase_content=erase_content
    )
    report.rows.update(pin_counts)
    report.rows["activity_answers"] = await erase_answers(db, user_id)
    report.rows.update(await erase_qa(db, user_id, erase_content=erase_content))
    # 3. mail
    report.rows.update(await erase_mail(db, user_id))
    # 4. account rows, 5. the anonymous shell
    report.rows.update(await _erase_account(db, user, erase_content=erase_content))
    return report


async def _erase_account(db: AsyncSession, user: User, *, erase_content: bool) -> dict[str, int]:
    user_id = user.id
    counts: dict[str, int] = {}
    email = user.email
    # Told to webhooks in this transaction; the suite's id goes with the account.
    await enqueue_payload(
        db, ACCOUNT_DELETED, {"user_id": user_id, "external_id": user.external_id}
    )
    user.external_id = None
    for name, stmt in (
        ("sessions", delete(AuthSession).where(AuthSession.user_id == user_id)),
        ("invitations", delete(Invitation).where(Invitation.user_id == user_id)),
        ("enrolments", delete(Enrolment).where(Enrolment.user_id == user_id)),
        ("group_memberships", delete(GroupMember).where(GroupMember.user_id == user_id)),
        ("activity", delete(ActivityEntry).where(ActivityEntry.user_id == user_id)),
        ("photos", delete(ProfilePhoto).where(ProfilePhoto.user_id == user_id)),
        ("consents", delete(ConsentRecord).where(ConsentRecord.user_id == user_id)),
        ("media_tags", delete(MediaTag).where(MediaTag.user_id == user_id)),
        (
            "processing_restrictions",
            delete(ProcessingRestriction).where(ProcessingRestriction.user_id == user_id),
        ),
        (
            "login_failures",
            # The sign-in failures and the "Forgot password?" requests (web/routes/
            # own_password.py counts them under "reset:<address>").
            delete(LoginFailure).where(
                LoginFailure.email.in_([email or "\0", "reset:" + (email or "\0")])
            ),
        ),
    ):
        result = await db.execute(stmt)
        counts[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    await db.execute(
        update(Invitation).where(Invitation.created_by == user_id).values(created_by=None)
    )
    # A due item stays (the medium still shows them until blurred), without their name.
    await db.execute(update(MediaDue).where(MediaDue.user_id == user_id).values(user_id=None))
    user.email = None
    user.display_name = FORMER
    user.password_hash = None
    user.profile_bio = ""
    user.profile_public = False
    user.profile_photo_id = None
    user.phone = ""
    user.organisation = ""
    user.is_admin = False
    user.is_dpo = False
    user.wants_information_mail = False
    user.status = UserStatus.DELETED.value
    user.delete_after = None
    user.erase_content = erase_content
    await db.flush()
    return counts


async def compact_index(db: AsyncSession) -> None:
    """Merge the SQLite FTS5 segments so deleted words are gone from the index itself.

    FTS5 (before SQLite 3.44's secure-delete) only marks index entries deleted
    until segments merge; 'optimize' merges them all. PostgreSQL keeps its
    tsvector in the row, so the erased row version is what (auto)vacuum removes.
    """
    if db.get_bind().dialect.name == "sqlite":
        await db.execute(text("INSERT INTO message_fts(message_fts) VALUES ('optimize')"))


__all__ = [
    "FORMER",
    "ErasureReport",
    "compact_index",
    "erase_user",
    "remove_contributions",
]
