"""The catalogue of event types: every ``type`` the server writes into a channel log or sends.

Code that writes or reads an event type uses these names, docs/protocol.md
("Event types") documents each, and the web client compares event types only
against names listed here; ``tests/test_event_types.py`` checks all three.
A new event type is added here first, with its one-line meaning.
"""

from __future__ import annotations

from typing import Final

# Chat, group and DM channels.
MESSAGE: Final = "message"
MESSAGE_EDITED: Final = "message.edited"
MESSAGE_DELETED: Final = "message.deleted"
MESSAGE_REMOVED: Final = "message.removed"
MESSAGE_RESTORED: Final = "message.restored"
# An event's chat ``event:<id>:chat``: the trainers' room controls (storage/repo/room_controls.py).
ROOM_UPDATED: Final = "room.updated"
# Personal channel ``user:<id>``.
DM_RECEIVED: Final = "dm.received"
MAIL_PROGRESS: Final = "mail_progress"
NOTE_QUEUED: Final = "note.queued"
NOTE_REVISED: Final = "note.revised"
NOTE_TAKEN_OFFLINE: Final = "note.taken_offline"
NOTE_REINSTATED: Final = "note.reinstated"
NOTE_APPROVED: Final = "note.approved"
NOTE_DELETED_BY_MODERATOR: Final = "note.deleted_by_moderator"
CHAT_REMOVED: Final = "chat.removed"
CHAT_MUTED: Final = "chat.muted"
CHAT_UNMUTED: Final = "chat.unmuted"
CHAT_REJECTED: Final = "chat.rejected"
ROOM_HELD: Final = "room.held"
MEDIA_DUE: Final = "media.due"
MEDIA_WITHDRAWN: Final = "media.withdrawn"
# An event's news channel ``event:<id>:news``.
EVENT_CHANGED: Final = "event_changed"
EVENT_CANCELLED: Final = "event_cancelled"
# Board channels ``event:<id>:board``, ``group:<id>:board``.
BOARD_UPDATED: Final = "board.updated"
SECTION_CREATED: Final = "section.created"
SECTION_UPDATED: Final = "section.updated"
SECTION_DELETED: Final = "section.deleted"
SECTIONS_REORDERED: Final = "sections.reordered"
NOTE_PUBLISHED: Final = "note.published"
NOTE_EDITED: Final = "note.edited"
NOTE_PENDING: Final = "note.pending"
NOTE_OFFLINE: Final = "note.offline"
NOTE_DELETED: Final = "note.deleted"
NOTE_PINNED: Final = "note.pinned"
NOTE_LOCKED: Final = "note.locked"
NOTE_MOVED: Final = "note.moved"
REPLY_ADDED: Final = "reply.added"
REPLY_DELETED: Final = "reply.deleted"
VOTE_CHANGED: Final = "vote.changed"
# Activities (polls, quizzes, word clouds), on the same board channels.
ACTIVITY_CHANGED: Final = "activity.changed"
ACTIVITY_DELETED: Final = "activity.deleted"
ACTIVITY_TALLY: Final = "activity.tally"
# Q&A, on the same board channels (docs/qa.md).
QA_UPDATED: Final = "qa.updated"
QA_VOTES: Final = "qa.votes"
QUESTION_ASKED: Final = "question.asked"
QUESTION_PENDING: Final = "question.pending"
QUESTION_CHANGED: Final = "question.changed"
QUESTION_REMOVED: Final = "question.removed"
# Made up when sending, never stored (any channel).
ERASED: Final = "erased"
UNREADABLE: Final = "unreadable"

CATALOGUE: Final[dict[str, str]] = {
    MESSAGE: "a published message (chat, group, DM); with `ref`, an answer to that event",
    MESSAGE_EDITED: (
        "the server re-renders the message `ref` (an author erased: `former_participant`)"
    ),
    MESSAGE_DELETED: "the server removed the message `ref` (`reason`)",
    MESSAGE_REMOVED: "a trainer removed the message `ref` (`reason`); its text is gone",
    MESSAGE_RESTORED: "a trainer restored the removed message `ref` (`body`: its text again)",
    ROOM_UPDATED: "the room's settings changed (`room`: `slow_secs`, `frozen`, `announcement`)",
    DM_RECEIVED: (
        "a direct message to this person: `channel`, `from` (sender id), `ref` the message"
    ),
    MAIL_PROGRESS: "counts of a mail campaign this person sends, as the mailer works through it",
    NOTE_QUEUED: "the person's note waits for a trainer's approval (pre-moderated board)",
    NOTE_REVISED: "the author revised a note this trainer took offline",
    NOTE_TAKEN_OFFLINE: "a trainer took the person's note offline (`reason`, `by`, `dm`)",
    NOTE_REINSTATED: "the person's offline note is back on the board",
    NOTE_APPROVED: "the person's queued note was approved and is on the board",
    NOTE_DELETED_BY_MODERATOR: "a trainer deleted the person's note (`reason`)",
    CHAT_REMOVED: "a trainer removed the person's message (`channel`, `ref`, `reason`)",
    CHAT_MUTED: "a trainer muted the person in an event (`event_id`, `until`)",
    CHAT_UNMUTED: "the person may post in the event again (`event_id`)",
    CHAT_REJECTED: "a trainer rejected the person's held post (`channel`, `held_id`)",
    ROOM_HELD: "to the event's trainers: a post waits in the review queue (`event_id`, `held_id`)",
    MEDIA_DUE: (
        "to the event's trainers: a medium shows someone who revoked consent; blur, replace "
        "or withdraw it by `due_at` (`media_id`, `event_id`, `title`)"
    ),
    MEDIA_WITHDRAWN: (
        "to the event's trainers (and admins when overdue): a medium was withdrawn "
        "(`media_id`, `event_id`, `title`, `reason`)"
    ),
    EVENT_CHANGED: "the event's time, place or description changed (`changes`, `ack`)",
    EVENT_CANCELLED: "the event is cancelled (`ack`)",
    BOARD_UPDATED: "the board's settings changed (`board.premoderation`)",
    SECTION_CREATED: "a section was added (`section`)",
    SECTION_UPDATED: "a section was renamed or (un)locked (`section`)",
    SECTION_DELETED: "a section was removed; its notes moved to unsorted (`id`)",
    SECTIONS_REORDERED: "the sections' new order (`order`: section ids)",
    NOTE_PUBLISHED: "a note is on the board (`note`, `via`: release, approve or reinstate)",
    NOTE_EDITED: "a published note's new version (`note`)",
    NOTE_PENDING: "a note waits for approval: a bare `id`",
    NOTE_OFFLINE: "a note was taken offline: a bare `id`",
    NOTE_DELETED: "a note was deleted (`id`, `tombstone` when replies keep its place)",
    NOTE_PINNED: "a note was pinned or unpinned (`id`, `pinned`)",
    NOTE_LOCKED: "an admin locked or unlocked a note (`id`, `admin_locked`)",
    NOTE_MOVED: "a note moved (`id`, `section_id`, `positions`)",
    REPLY_ADDED: "a reply under a note (`reply`)",
    REPLY_DELETED: "a reply's text was removed; it keeps its place (`id`, `note_id`)",
    VOTE_CHANGED: "a note's vote count (`note_id`, `votes`)",
    ACTIVITY_CHANGED: (
        "an activity opened, closed, showed or hid its results (`activity`, as the room sees it)"
    ),
    ACTIVITY_DELETED: "a trainer deleted an activity (`id`)",
    ACTIVITY_TALLY: (
        "an activity's coalesced tally (`activity_id`, `version`, `total`; `counts` or `terms`"
        " only while its results are shown)"
    ),
    QA_UPDATED: (
        "a Q&A opened, closed or changed its settings (`qa`: open, premoderation, anonymous)"
    ),
    QA_VOTES: (
        "a Q&A's coalesced vote counts (`qa_id`, `version`, `votes`: [{`id`, `votes`}]);"
        " keep the highest version"
    ),
    QUESTION_ASKED: "a question the room can see (`question`; no author when anonymous)",
    QUESTION_PENDING: "a question waits for a trainer's approval: a bare `id` and `qa_id`",
    QUESTION_CHANGED: (
        "a question was answered, pinned, approved or shown again (`question`, as the room sees it)"
    ),
    QUESTION_REMOVED: "a question was hidden or merged (`id`, `qa_id`, `merged_into` or null)",
    ERASED: "placeholder for a removed event in a replay or gap fill: no author, body or ref",
    UNREADABLE: "an event whose stored body the encodings cannot carry alike (`reason`)",
}

__all__ = ["CATALOGUE"]
