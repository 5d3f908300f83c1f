"""Every model, imported here so ``Base.metadata`` knows all tables (Alembic, tests)."""

from storage.models.accounts import AuthSession, Invitation, LoginFailure, User, UserStatus
from storage.models.base import Base, utcnow
from storage.models.channels import Channel, ChannelEvent
from storage.models.events import Enrolment, Event, EventStatus, GroupMember, LearningGroup, Role
from storage.models.logs import ActivityEntry, AuditEntry
from storage.models.privacy import ProfilePhoto

__all__ = [
    "ActivityEntry",
    "AuditEntry",
    "AuthSession",
    "Base",
    "Channel",
    "ChannelEvent",
    "Enrolment",
    "Event",
    "EventStatus",
    "GroupMember",
    "Invitation",
    "LearningGroup",
    "LoginFailure",
    "ProfilePhoto",
    "Role",
    "User",
    "UserStatus",
    "utcnow",
]
