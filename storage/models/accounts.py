"""People, their sign-in sessions and invitations."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    TERMINATING = "terminating"  # locked, deletion scheduled; the owner may reactivate
    DELETED = "deleted"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Lower-cased on write; the user name.  NULL once the account is deleted.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Data-protection officer: may read the audit log, nothing else beyond a user.
    is_dpo: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Profile: a brief part co-participants see only when profile_public is on.
    profile_bio: Mapped[str] = mapped_column(Text, default="")
    profile_public: Mapped[bool] = mapped_column(Boolean, default=False)
    profile_photo_id: Mapped[int | None] = mapped_column(BigId)
    phone: Mapped[str] = mapped_column(String(40), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    # Termination: when the account will be deleted unless reactivated.
    delete_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    erase_content: Mapped[bool] = mapped_column(Boolean, default=False)
    wants_information_mail: Mapped[bool] = mapped_column(Boolean, default=True)
    # The suite's own id of this person (server API provisioning); NULL once deleted.
    external_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_users_external_id", "external_id", unique=True), AUTOINCREMENT)


class AuthSession(Base):
    """A server-side sign-in session; the cookie carries only its random token."""

    __tablename__ = "auth_sessions"

    # SHA-256 of the token: a leaked database does not yield usable cookies.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class Invitation(Base):
    """A single-use, expiring link that lets a registered person set a password.

    With ``event_id`` it is also an offer to join that event as ``role``: following
    it enrols the person (docs/privacy.md, "Invitations and enrolment").
    """

    __tablename__ = "invitations"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(16))
    # Sent to the person's own address (storage/repo/account_mail.py), not handed to anyone.
    mailed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "reset": asked for by the person ("Forgot password?", storage/repo/own_password.py);
    # it replaces a password the account has. NULL: an invitation or an admin's reset
    # link, which only sets a password on an account that has none.
    purpose: Mapped[str | None] = mapped_column(String(16))


class LoginFailure(Base):
    """Failed sign-ins, counted per account and per IP over a sliding window."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_ip_at", "ip", "at"),
        AUTOINCREMENT,
    )


__all__ = ["AuthSession", "Invitation", "LoginFailure", "User", "UserStatus"]
