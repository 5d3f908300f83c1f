"""Q&A: the per-event and per-group Q&A, who may do what, asking and the trainers' actions.

Every change runs in the caller's transaction on a ``BoardTx``
(``storage/repo/pinboard_access.py``): the change and its events (always server
events: no ``author_id``) are durable together; the caller fans them out after
commit. Upvotes are batched instead (``storage/repo/qa_votes.py``). What goes
into the board channel is what the whole room may see: a pending or hidden
question appears as a bare id, and hiding or merging a question redacts the
earlier events that carried its text (``redact_question_events``). The rules
themselves are in ``storage/qa_core.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage import authz_board
from storage.errors import Conflict, Forbidden, NotFound
from storage.event_types import (
    QA_UPDATED,
    QA_VOTES,
    QUESTION_ASKED,
    QUESTION_CHANGED,
    QUESTION_PENDING,
    QUESTION_REMOVED,
)
from storage.models import (
    ChannelEvent,
    Event,
    LearningGroup,
    Question,
    QuestionBoard,
    QuestionVote,
    User,
    utcnow,
)
from storage.qa_core import State, check_merge, clean_question, moved, plan_merge, visible_to
from storage.repo.logs import audit
from storage.repo.pinboard_access import BoardTx, event_board_channel, group_board_channel
from storage.repo.qa_views import names_of, qa_view, room_view

# Event types whose body carries a question's text.
TEXT_EVENTS = (QUESTION_ASKED, QUESTION_CHANGED)


@dataclass(frozen=True)
class QaAccess:
    board: QuestionBoard
    viewer: authz_board.BoardViewer

    @property
    def moderator(self) -> bool:
        return authz_board.may_moderate_board(self.viewer)

    @property
    def reviewing(self) -> bool:
        """An admin reading a Q&A of an event they take no part in (audited by the route)."""
        return self.viewer.is_admin and self.viewer.role is None


async def _get_or_create(db: AsyncSession, event_id: int, group_id: int | None) -> QuestionBoard:
    channel = group_board_channel(group_id) if group_id else event_board_channel(event_id)
    stmt = select(QuestionBoard).where(QuestionBoard.channel == channel)
    board = (await db.execute(stmt)).scalar_one_or_none()
    if board is not None:
        return board
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(QuestionBoard)
        .values(event_id=event_id, group_id=group_id, channel=channel, open=True,
                premoderation=False, anonymous=False, vote_version=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel"])
    )
    return (await db.execute(stmt)).scalar_one()


async def event_qa(db: AsyncSession, user: User, event_id: int) -> QaAccess:
    if await db.get(Event, event_id) is None:
        raise NotFound("event")
    viewer = await authz_board.board_viewer(db, user, event_id, None)
    if not authz_board.may_read_board(viewer):
        raise NotFound("event")  # an outsider learns nothing
    return QaAccess(await _get_or_create(db, event_id, None), viewer)


async def group_qa(db: AsyncSession, user: User, group_id: int) -> QaAccess:
    group = await db.get(LearningGroup, group_id)
    if group is None:
        raise NotFound("group")
    viewer = await authz_board.board_viewer(db, user, group.event_id, group_id)
    if not authz_board.may_read_board(viewer):
        raise NotFound("group")
    return QaAccess(await _get_or_create(db, group.event_id, group_id), viewer)


async def qa_access(db: AsyncSession, user: User, board: QuestionBoard) -> QaAccess:
    viewer = await authz_board.board_viewer(db, user, board.event_id, board.group_id)
    if not authz_board.may_read_board(viewer):
        raise NotFound("Q&A")
    return QaAccess(board, viewer)


async def qa_by_id(db: AsyncSession, user: User, qa_id: int) -> QaAccess:
    board = await db.get(QuestionBoard, qa_id)
    if board is None:
        raise NotFound("Q&A")
    return await qa_access(db, user, board)


async def question_for(
    db: AsyncSession, user: User, question_id: int, *, lock: bool = False
) -> tuple[Question, QaAccess]:
    """The question and the viewer's access; 404 for one the viewer may not see."""
    stmt = select(Question).where(Question.id == question_id)
    if lock:
        stmt = stmt.with_for_update()
    q = (await db.execute(stmt)).scalar_one_or_none()
    if q is None:
        raise NotFound("question")
    board = await db.get(QuestionBoard, q.board_id)
    if board is None:
        raise RuntimeError(f"question {q.id} without its Q&A")
    acc = await qa_access(db, user, board)
    mine = q.author_id is not None and q.author_id == acc.viewer.user_id
    if not visible_to(State(q.state), mine=mine, moderator=acc.moderator):
        raise NotFound("question")
    return q, acc


def require_moderator(acc: QaAccess) -> None:
    if not acc.moderator:
        raise Forbidden("only the event's trainers, organisers and admins may do this")


async def update_settings(
    tx: BoardTx, acc: QaAccess, *, open_: bool | None, premoderation: bool | None,
    anonymous: bool | None,
) -> QuestionBoard:
    require_moderator(acc)
    board = acc.board
    changes = {"open": open_, "premoderation": premoderation, "anonymous": anonymous}
    for name, value in changes.items():
        if value is not None:
            setattr(board, name, value)
    tx.emit(board.channel, QA_UPDATED, {"qa": qa_view(board)}, server=True)
    await audit(tx.db, actor_id=tx.actor.id, action="qa.settings", target=f"qa:{board.id}",
                detail={k: v for k, v in changes.items() if v is not None}, ip=tx.ip)
    return board


async def ask(tx: BoardTx, acc: QaAccess, text: str) -> Question:
    """A question from a member of the room; held for approval on a pre-moderated Q&A
    (a trainer's own question is not). Anonymous when the Q&A is, at this moment."""
    if not authz_board.may_post_on_board(acc.viewer):
        raise Forbidden("you may not ask questions here")
    board = acc.board
    if not board.open:
        raise Conflict("qa_closed", "this Q&A is closed")
    held = board.premoderation and not acc.moderator
    q = Question(
        board_id=board.id, author_id=tx.actor.id, text=clean_question(text),
        anonymous=board.anonymous, state=(State.PENDING if held else State.VISIBLE).value,
        answered=False, pinned=False, votes=0, erased=False, created_at=utcnow(),
    )
    tx.db.add(q)
    await tx.db.flush()
    if held:
        tx.emit(board.channel, QUESTION_PENDING, {"id": q.id, "qa_id": board.id}, server=True)
    else:
        names = {tx.actor.id: tx.actor.display_name}
        tx.emit(board.channel, QUESTION_ASKED, {"question": room_view(q, names)}, server=True)
    return q


async def _emit_changed(tx: BoardTx, board: QuestionBoard, q: Question) -> None:
    tx.emit(board.channel, QUESTION_CHANGED,
            {"question": room_view(q, await names_of(tx.db, [q]))}, server=True)


async def moderate(tx: BoardTx, acc: QaAccess, q: Question, action: str) -> Question:
    """approve (a pending question), hide, unhide: audited, announced to the room."""
    require_moderator(acc)
    q.state = moved(State(q.state), action).value
    board = acc.board
    if q.state == State.VISIBLE.value:
        await _emit_changed(tx, board, q)
    else:
        await redact_question_events(tx.db, board.channel, q)
        tx.emit(board.channel, QUESTION_REMOVED,
                {"id": q.id, "qa_id": board.id, "merged_into": None}, server=True)
    await audit(tx.db, actor_id=tx.actor.id, action=f"qa.{action}", target=f"question:{q.id}",
                ip=tx.ip)
    return q


async def mark(
    tx: BoardTx, acc: QaAccess, q: Question, *, answered: bool | None, pinned: bool | None
) -> Question:
    require_moderator(acc)
    if q.state == State.MERGED.value:
        raise Conflict("bad_transition", "the question is merged into another")
    if answered is not None:
        q.answered = answered
    if pinned is not None:
        q.pinned = pinned
    if q.state == State.VISIBLE.value:  # others are no news for the room
        await _emit_changed(tx, acc.board, q)
    return q


async def merge(tx: BoardTx, acc: QaAccess, source: Question, target_id: int) -> Question:
    """Fold a duplicate into ``target_id``: its votes move, a person who voted for both
    counts once (``qa_core.plan_merge``); the duplicate leaves the room."""
    require_moderator(acc)
    target = (
        await tx.db.execute(select(Question).where(Question.id == target_id).with_for_update())
    ).scalar_one_or_none()
    if target is None:
        raise NotFound("target question")
    check_merge(source.id, State(source.state), source.board_id,
                target.id, State(target.state), target.board_id)
    voters = select(QuestionVote.user_id)
    src = set((await tx.db.execute(voters.where(QuestionVote.question_id == source.id))).scalars())
    dst = set((await tx.db.execute(voters.where(QuestionVote.question_id == target.id))).scalars())
    plan = plan_merge(src, dst)
    await tx.db.execute(delete(QuestionVote).where(QuestionVote.question_id == source.id))
    now = utcnow()
    tx.db.add_all(
        QuestionVote(question_id=target.id, user_id=uid, created_at=now)
        for uid in sorted(plan.moved_voters)
    )
    await tx.db.flush()
    count = select(func.count()).where(QuestionVote.question_id == target.id)
    target.votes = int((await tx.db.execute(count)).scalar_one())
    if target.votes != plan.votes_after:  # the row locks make this impossible
        raise RuntimeError(f"merge of {source.id} into {target.id} miscounted")
    source.state, source.merged_into, source.votes, source.pinned = (
        State.MERGED.value, target.id, 0, False
    )
    board = acc.board
    await tx.db.execute(
        update(QuestionBoard).where(QuestionBoard.id == board.id)
        .values(vote_version=QuestionBoard.vote_version + 1)
    )
    await tx.db.refresh(board, ["vote_version"])
    await redact_question_events(tx.db, board.channel, source)
    tx.emit(board.channel, QUESTION_REMOVED,
            {"id": source.id, "qa_id": board.id, "merged_into": target.id}, server=True)
    tx.emit(board.channel, QA_VOTES, {
        "qa_id": board.id, "version": board.vote_version,
        "votes": [{"id": target.id, "votes": target.votes}, {"id": source.id, "votes": 0}],
    }, server=True)
    await audit(tx.db, actor_id=tx.actor.id, action="qa.merge", target=f"question:{source.id}",
                detail={"into": target.id, "moved_votes": len(plan.moved_voters)}, ip=tx.ip)
    return target


async def redact_question_events(db: AsyncSession, channel: str, q: Question) -> int:
    """Blank the board events that carried ``q``'s text (a replay must not bring back a
    hidden, merged or erased question); sequence, type and id stay."""
    rows = (
        await db.execute(
            select(ChannelEvent).where(
                ChannelEvent.channel == channel,
                ChannelEvent.type.in_(TEXT_EVENTS),
                ChannelEvent.created_at >= q.created_at,
            )
        )
    ).scalars()
    count = 0
    for row in rows:
        body = row.body
        inner = body.get("question") if isinstance(body, dict) else None
        if isinstance(inner, dict) and inner.get("id") == q.id:
            row.body = {"question": {"id": q.id, "qa_id": q.board_id}, "redacted": True}
            count += 1
    return count
