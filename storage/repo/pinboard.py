"""The pinboard's write API, one import for the routes: boards, sections, notes, moderation,
replies and votes.

The parts live in their own modules (docs/architecture.md): ``pinboard_access``
(boards, rights, the request's :class:`BoardTx`), ``pinboard_sections``,
``pinboard_notes``, ``pinboard_moderation``, ``pinboard_replies``,
``pinboard_client_ids`` (idempotent creates) and ``pinboard_redaction``
(blanking the board events of removed text). Reading lives in
``pinboard_read``, the JSON shapes in ``pinboard_views``, batched releases in
``pinboard_release``.
"""

from __future__ import annotations

from storage.repo.pinboard_access import (
    COLOURS,
    MAX_NOTE_CHARS,
    MAX_REPLY_CHARS,
    BoardAccess,
    BoardTx,
    board_by_id,
    clean_colour,
    clean_text,
    event_board,
    event_board_channel,
    group_board,
    group_board_channel,
    note_for,
    require_moderator,
    update_board,
)
from storage.repo.pinboard_client_ids import by_client_id
from storage.repo.pinboard_moderation import approve, history, queue, reinstate, take_offline
from storage.repo.pinboard_notes import (
    admin_lock_note,
    create_note,
    delete_note,
    edit_note,
    move_note,
    pin_note,
    release_note,
)
from storage.repo.pinboard_replies import add_reply, delete_reply, unvote, vote
from storage.repo.pinboard_sections import (
    create_section,
    delete_section,
    reorder_sections,
    section_for,
    update_section,
)

__all__ = [
    "COLOURS",
    "MAX_NOTE_CHARS",
    "MAX_REPLY_CHARS",
    "BoardAccess",
    "BoardTx",
    "add_reply",
    "admin_lock_note",
    "approve",
    "board_by_id",
    "by_client_id",
    "clean_colour",
    "clean_text",
    "create_note",
    "create_section",
    "delete_note",
    "delete_reply",
    "delete_section",
    "edit_note",
    "event_board",
    "event_board_channel",
    "group_board",
    "group_board_channel",
    "history",
    "move_note",
    "note_for",
    "pin_note",
    "queue",
    "reinstate",
    "release_note",
    "reorder_sections",
    "require_moderator",
    "section_for",
    "take_offline",
    "unvote",
    "update_board",
    "update_section",
    "vote",
]
