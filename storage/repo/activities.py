"""Polls, quizzes and word clouds: who may see and run them, their lifecycle, copies.

Every change runs in the caller's transaction with a :class:`BoardTx`
(``storage/repo/pinboard_access.py``): an activity's news is an event on its
event's or group's board channel, appended before commit and fanned out after it.
Drafts are trainers' business and never logged; once open, every change is an
``activity.changed`` event carrying the activity as the room may see it (no correct
answers before the results are shown, no hidden terms). Answers, tallies and
exports are in ``storage/repo/activity_answers.py``; the rules in
``storage/activity_core.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.activity_core import (
    MAX_TIME_LIMIT_SECS,
    Kind,
    State,
    check_options,
    check_transition,
    normalise_term,
)
from storage.authz_board import BoardViewer
from storage.errors import DomainError, Forbidden, NotFound
from storage.event_types import ACTIVITY_CHANGED, ACTIVITY_DELETED
from storage.models import Activity, Event, LearningGroup, User, utcnow
from storage.repo.pinboard_access import BoardTx, event_board_channel, group_board_channel


@dataclass(frozen=True)
class ActivityAccess:
    activity: Activity
    viewer: BoardViewer

    @property
    def manages(self) -> bool:
        return authz_board.may_moderate_board(self.viewer)


def channel_of(activity: Activity) -> str:
    if activity.group_id is not None:
        return group_board_channel(activity.group_id)
    return event_board_channel(activity.event_id)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def effective_state(activity: Activity, now: dt.datetime | None = None) -> str:
    """``closed`` once an open activity's time limit has run out (nobody has to close it)."""
    ends = activity.closes_at
    if activity.state == State.OPEN and ends is not None and (now or utcnow()) >= ends:
        return State.CLOSED.value
    return activity.state


def public_view(activity: Activity) -> dict[str, Any]:
    """The activity as the room sees it (what ``activity.changed`` carries)."""
    shown = activity.results_shown
    return {
        "id": activity.id,
        "event_id": activity.event_id,
        "group_id": activity.group_id,
        "kind": activity.kind,
        "title": activity.title,
        "options": list(activity.options),
        "multiple": activity.multiple,
        "changeable": activity.changeable,
        "quiz": bool(activity.correct),
        "correct": list(activity.correct) if shown else None,
        "time_limit_secs": activity.time_limit_secs,
        "state": effective_state(activity),
        "results_shown": shown,
        "opened_at": _iso(activity.opened_at),
        "closes_at": _iso(activity.closes_at),
        "channel": channel_of(activity),
    }


def view_for(acc: ActivityAccess) -> dict[str, Any]:
    out = public_view(acc.activity)
    if acc.manages:
        out["correct"] = list(acc.activity.correct)
        out["hidden_terms"] = list(acc.activity.hidden_terms)
        out["draft"] = acc.activity.state == State.DRAFT
    return out


async def _viewer(db: AsyncSession, user: User, event_id: int, group_id: int | None) -> BoardViewer:
    return await authz_board.board_viewer(db, user, event_id, group_id)


async def activity_for(
    db: AsyncSession, user: User, activity_id: int, *, lock: bool = False
) -> ActivityAccess:
    """The activity if ``user`` may see it: drafts only to its trainers; else 404."""
    stmt = select(Activity).where(Activity.id == activity_id)
    if lock:
        stmt = stmt.with_for_update()
    activity = (await db.execute(stmt)).scalar_one_or_none()
    if activity is None:
        raise NotFound("activity")
    viewer = await _viewer(db, user, activity.event_id, activity.group_id)
    acc = ActivityAccess(activity, viewer)
    if not authz_board.may_read_board(viewer) or (
        activity.state == State.DRAFT and not acc.manages
    ):
        raise NotFound("activity")  # an outsider learns nothing of its existence
    return acc


def require_manager(acc: ActivityAccess) -> None:
    if not acc.manages:
        raise Forbidden("only the event's trainers run activities")


async def _scope(
    db: AsyncSession, user: User, event_id: int, group_id: int | None
) -> BoardViewer:
    """The viewer of an event (or a group of it) where activities are listed or made."""
    if await db.get(Event, event_id) is None:
        raise NotFound("event")
    if group_id is not None:
        group = await db.get(LearningGroup, group_id)
        if group is None or group.event_id != event_id:
            raise NotFound("group")
    viewer = await _viewer(db, user, event_id, group_id)
    if not authz_board.may_read_board(viewer):
        raise NotFound("event" if group_id is None else "group")
    return viewer


async def event_viewer(db: AsyncSession, user: User, event_id: int) -> BoardViewer:
    """The caller as a reader of the event's room (404 for an outsider)."""
    return await _scope(db, user, event_id, None)


async def names_of(db: AsyncSession, user_ids: Sequence[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await db.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    return {uid: name for uid, name in rows.all()}


async def list_activities(
    db: AsyncSession, user: User, event_id: int, group_id: int | None
) -> tuple[BoardViewer, list[Activity]]:
    viewer = await _scope(db, user, event_id, group_id)
    stmt = select(Activity).where(Activity.event_id == event_id)
    stmt = stmt.where(
        Activity.group_id == group_id if group_id is not None else Activity.group_id.is_(None)
    )
    if not authz_board.may_moderate_board(viewer):
        stmt = stmt.where(Activity.state != State.DRAFT.value)
    rows = (await db.execute(stmt.order_by(Activity.id))).scalars().all()
    return viewer, list(rows)


@dataclass(frozen=True)
class ActivitySpec:
    kind: str
    title: str
    options: Sequence[str] = ()
    correct: Sequence[int] = ()
    multiple: bool = False
    changeable: bool = True
    time_limit_secs: int | None = None


def _check_spec(spec: ActivitySpec) -> ActivitySpec:
    try:
        kind = Kind(spec.kind)
    except ValueError:
        raise DomainError("bad_kind", "an activity is a poll or a wordcloud", status=422) from None
    if not spec.title.strip():
        raise DomainError("bad_title", "the question is empty", status=422)
    if spec.time_limit_secs is not None and not 5 <= spec.time_limit_secs <= MAX_TIME_LIMIT_SECS:
        raise DomainError("bad_time_limit", "a time limit is 5 s to an hour", status=422)
    if kind is Kind.POLL:
        check_options([o.strip() for o in spec.options], spec.correct, spec.multiple)
    elif spec.options or spec.correct:
        raise DomainError("bad_options", "a word cloud has no options", status=422)
    return spec


async def create_activity(
    tx: BoardTx, event_id: int, group_id: int | None, spec: ActivitySpec
) -> ActivityAccess:
    viewer = await _scope(tx.db, tx.actor, event_id, group_id)
    if not authz_board.may_moderate_board(viewer):
        raise Forbidden("only the event's trainers create activities")
    _check_spec(spec)
    now = utcnow()
    activity = Activity(
        event_id=event_id, group_id=group_id, kind=spec.kind, title=spec.title.strip(),
        options=[o.strip() for o in spec.options], correct=sorted(spec.correct),
        multiple=spec.multiple, changeable=spec.changeable,
        time_limit_secs=spec.time_limit_secs, state=State.DRAFT.value, results_shown=False,
        hidden_terms=[], version=0, created_by=tx.actor.id, created_at=now, updated_at=now,
    )
    tx.db.add(activity)
    await tx.db.flush()
    return ActivityAccess(activity, viewer)


def _changed(tx: BoardTx, activity: Activity) -> None:
    activity.updated_at = utcnow()
    if activity.state != State.DRAFT:
        tx.emit(channel_of(activity), ACTIVITY_CHANGED, {"activity": public_view(activity)},
                server=True)


async def edit_activity(tx: BoardTx, acc: ActivityAccess, spec: ActivitySpec) -> None:
    """Edit the question and options: drafts only (answers would no longer fit)."""
    require_manager(acc)
    a = acc.activity
    if a.state != State.DRAFT:
        raise DomainError("not_a_draft", "only a draft can be edited; copy it instead",
                          status=409)
    if spec.kind != a.kind:
        raise DomainError("bad_kind", "the kind of an activity cannot change", status=422)
    _check_spec(spec)
    a.title, a.options = spec.title.strip(), [o.strip() for o in spec.options]
    a.correct, a.multiple, a.changeable = sorted(spec.correct), spec.multiple, spec.changeable
    a.time_limit_secs = spec.time_limit_secs
    _changed(tx, a)


async def set_state(tx: BoardTx, acc: ActivityAccess, wanted: str) -> None:
    """Open (again) or close; the lock on the row orders this against answers in flight."""
    require_manager(acc)
    a = acc.activity
    current = effective_state(a)
    target = check_transition(current, wanted)
    now = utcnow()
    if target is State.OPEN:
        a.opened_at = now
        limit = a.time_limit_secs
        a.closes_at = now + dt.timedelta(seconds=limit) if limit else None
    elif a.closes_at is None or a.closes_at > now:
        a.closes_at = now  # closed by hand: "closes_at" says when it stopped taking answers
    a.state = target.value
    _changed(tx, a)


async def show_results(tx: BoardTx, acc: ActivityAccess, shown: bool) -> None:
    require_manager(acc)
    if acc.activity.state == State.DRAFT and shown:
        raise DomainError("not_open", "a draft has no results to show", status=409)
    acc.activity.results_shown = shown
    _changed(tx, acc.activity)


async def hide_term(tx: BoardTx, acc: ActivityAccess, term: str, hidden: bool) -> str:
    """Hide one word cloud answer (every answer of that term) from the room, or show it."""
    require_manager(acc)
    a = acc.activity
    if a.kind != Kind.WORDCLOUD:
        raise DomainError("bad_kind", "only word cloud answers are hidden", status=422)
    norm = normalise_term(term)
    if not norm:
        raise DomainError("bad_answer", "no such term", status=422)
    terms = [t for t in a.hidden_terms if t != norm]
    a.hidden_terms = [*terms, norm] if hidden else terms
    a.version += 1  # the tally changes: the next one must win over those before it
    a.updated_at = utcnow()
    return norm


async def delete_activity(tx: BoardTx, acc: ActivityAccess) -> None:
    require_manager(acc)
    a = acc.activity
    if a.state != State.DRAFT:
        tx.emit(channel_of(a), ACTIVITY_DELETED, {"id": a.id}, server=True)
    await tx.db.delete(a)


async def copy_activity(
    tx: BoardTx, acc: ActivityAccess, event_id: int, group_id: int | None
) -> ActivityAccess:
    """A fresh draft of the same question in another (or the same) event, no answers."""
    require_manager(acc)
    a = acc.activity
    spec = ActivitySpec(
        kind=a.kind, title=a.title, options=list(a.options), correct=list(a.correct),
        multiple=a.multiple, changeable=a.changeable, time_limit_secs=a.time_limit_secs,
    )
    return await create_activity(tx, event_id, group_id, spec)
