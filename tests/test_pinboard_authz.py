"""The pinboard's authorization rules (storage/authz_board.py), case by case, without a database."""

from __future__ import annotations

import pytest

from storage.authz_board import (
    BoardViewer,
    may_change_note,
    may_delete_note,
    may_export_board,
    may_moderate_board,
    may_post_on_board,
    may_read_board,
    may_see_note,
    may_see_note_history,
    may_write_in_section,
)
from storage.channels import ChannelKind, parse_channel
from storage.models import Role

ME = 10
OTHER = 11


def v(role: Role | None, *, admin: bool = False, active: bool = True, group: bool = False,
      member: bool = False) -> BoardViewer:
    return BoardViewer(ME, active, admin, role, group_board=group, in_group=member)


P = v(Role.PARTICIPANT)
T = v(Role.TRAINER)
ORG = v(Role.ORGANISER)
A = v(None, admin=True)
OUT = v(None)
BLOCKED_T = v(Role.TRAINER, active=False)
GP_IN = v(Role.PARTICIPANT, group=True, member=True)
GP_OUT = v(Role.PARTICIPANT, group=True, member=False)
GT = v(Role.TRAINER, group=True)


def test_group_board_channel_name() -> None:
    ref = parse_channel("group:7:board")
    assert ref is not None and ref.kind is ChannelKind.GROUP_BOARD and ref.id == 7
    assert ref.name == "group:7:board"
    for bad in ("group:0:board", "group:7:chat", "group:x:board", "group:7:board:1"):
        assert parse_channel(bad) is None, bad


@pytest.mark.parametrize(
    "viewer,read,post,moderate",
    [
        (P, True, True, False),
        (T, True, True, True),
        (ORG, True, True, True),
        (A, True, False, True),
        (OUT, False, False, False),
        (BLOCKED_T, False, False, False),
        (GP_IN, True, True, False),
        (GP_OUT, False, False, False),
        (GT, True, True, True),
    ],
)
def test_board_rights(viewer: BoardViewer, read: bool, post: bool, moderate: bool) -> None:
    assert may_read_board(viewer) is read
    assert may_post_on_board(viewer) is post
    assert may_moderate_board(viewer) is moderate
    assert may_export_board(viewer) is moderate
    assert may_see_note_history(viewer) is moderate


@pytest.mark.parametrize(
    "viewer,state,author,visible",
    [
        (P, "draft", ME, True),
        (P, "draft", OTHER, False),
        (T, "draft", OTHER, False),
        (A, "draft", OTHER, False),
        (P, "published", OTHER, True),
        (P, "deleted", OTHER, True),
        (P, "pending", OTHER, False),
        (P, "pending", ME, True),
        (T, "pending", OTHER, True),
        (P, "offline", OTHER, False),
        (P, "offline", ME, True),
        (T, "offline", OTHER, True),
        (A, "offline", OTHER, True),
        (OUT, "published", OTHER, False),
        (OUT, "draft", ME, False),
        (GP_OUT, "published", OTHER, False),
    ],
)
def test_note_visibility(viewer: BoardViewer, state: str, author: int, visible: bool) -> None:
    assert may_see_note(viewer, state, author) is visible


@pytest.mark.parametrize(
    "viewer,locked,admin_locked,ok",
    [
        (P, False, False, True),
        (P, True, False, False),
        (T, True, False, True),
        (A, True, False, True),
        (T, False, True, False),
        (T, True, True, False),
        (A, False, True, True),
        (v(None, admin=True, active=False), False, True, False),
    ],
)
def test_section_locks(viewer: BoardViewer, locked: bool, admin_locked: bool, ok: bool) -> None:
    assert may_write_in_section(viewer, locked, admin_locked) is ok


@pytest.mark.parametrize(
    "viewer,author,state,admin_locked,change,delete",
    [
        (P, ME, "published", False, True, True),
        (P, OTHER, "published", False, False, False),
        (T, OTHER, "published", False, False, True),
        (A, OTHER, "published", False, False, True),
        (P, ME, "offline", False, True, True),
        (P, ME, "deleted", False, False, True),
        (P, ME, "published", True, False, False),
        (T, OTHER, "published", True, False, False),
        (A, OTHER, "published", True, False, True),
        (OUT, ME, "published", False, False, False),  # the author left the event
        (P, None, "published", False, False, False),  # the author's account is gone
    ],
)
def test_note_changes(viewer: BoardViewer, author: int | None, state: str, admin_locked: bool,
                      change: bool, delete: bool) -> None:
    assert may_change_note(viewer, author, state, admin_locked) is change
    assert may_delete_note(viewer, author, admin_locked) is delete
