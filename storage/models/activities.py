"""Live activities of an event or a learning group: polls (quizzes) and word clouds.

An activity belongs to an event and optionally to a learning group inside it; its
news travels on that event's or group's board channel (``event:<id>:board``,
``group:<id>:board``: the room's shared workspace, readable by the same people), so
subscribe rights, admin review, retention and erasure of those channels apply
unchanged. Q&A is not a kind here: it has questions and votes of its own tables.
The rules (states, checks, tallies) are in ``storage/activity_core.py``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class Activity(Base):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("learning_groups.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # activity_core.Kind
    title: Mapped[str] = mapped_column(String(300))
    options: Mapped[list[str]] = mapped_column(JSON, default=list)  # a poll's options
    # Quiz mode: the correct options' indexes (empty: an ordinary poll).
    correct: Mapped[list[int]] = mapped_column(JSON, default=list)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    changeable: Mapped[bool] = mapped_column(Boolean, default=True)  # until closed
    time_limit_secs: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    results_shown: Mapped[bool] = mapped_column(Boolean, default=False)
    # Word cloud terms a trainer hid from the room.
    hidden_terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Bumped by every stored answer and by hiding or showing a term: a tally carries the
    # version it counted, so a client keeps the newest tally whatever order they arrive in.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the time limit's end
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = AUTOINCREMENT


class ActivityAnswer(Base):
    """One person's answer to one activity (the unique constraint: one per person)."""

    __tablename__ = "activity_answers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    # Erased with the account (storage/repo/erasure_activities.py), never anonymised:
    # a tally needs no author, and a stored answer without one would be nobody's data.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    choices: Mapped[list[int]] = mapped_column(JSON, default=list)  # a poll answer
    text: Mapped[str] = mapped_column(String(120), default="")  # a word cloud answer, as typed
    term: Mapped[str] = mapped_column(String(60), default="")  # ... and normalised
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("activity_id", "user_id"), AUTOINCREMENT)


__all__ = ["Activity", "ActivityAnswer"]
