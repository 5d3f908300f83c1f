"""Q&A: questions to the trainers of an event or a learning group, with upvotes.

One Q&A per event and one per learning group (``QuestionBoard``); its news travels
on that event's or group's board channel (``event:<id>:board``, ``group:<id>:board``),
so subscribe rights, admin review and retention of those channels apply unchanged.
Every Q&A event is a server event (no ``author_id``): who asked a question is in
``Question.author_id`` only, and reaches the room only in the question's own body,
and only when the question is not anonymous (storage/repo/qa_views.py).
The ordering and merge rules are in ``storage/qa_core.py``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class QuestionBoard(Base):
    __tablename__ = "question_boards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("learning_groups.id", ondelete="CASCADE"), index=True
    )
    # The board channel its events go to: one Q&A per event and per group.
    channel: Mapped[str] = mapped_column(String(120), unique=True)
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    # Questions are held until a trainer approves them.
    premoderation: Mapped[bool] = mapped_column(Boolean, default=False)
    # New questions are asked anonymously: the room (trainers included) sees no author.
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped by every transaction that changes votes: a ``qa.votes`` event carries the
    # version it counted, so a client keeps the newest whatever order they arrive in.
    vote_version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    board_id: Mapped[int] = mapped_column(
        ForeignKey("question_boards.id", ondelete="CASCADE"), index=True
    )
    # Kept for accountability even when anonymous; NULL once the author is erased.
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    # Fixed when asked (the Q&A's setting then): turning anonymity off later names nobody.
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="visible", index=True)  # qa_core.State
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into: Mapped[int | None] = mapped_column(
        ForeignKey("questions.id", ondelete="SET NULL")
    )
    votes: Mapped[int] = mapped_column(Integer, default=0)  # the count of its vote rows
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The author's account was erased: the question stays (others voted on it), nameless.
    erased: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = AUTOINCREMENT


class QuestionVote(Base):
    """One upvote per account per question: the primary key refuses a second one."""

    __tablename__ = "question_votes"

    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["Question", "QuestionBoard", "QuestionVote"]
