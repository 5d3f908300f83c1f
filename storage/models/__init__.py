"""Every model, imported here so ``Base.metadata`` knows all tables (Alembic, tests)."""

from storage.models.accounts import AuthSession, Invitation, LoginFailure, User, UserStatus
from storage.models.base import Base, utcnow
from storage.models.channels import Channel, ChannelEvent
from storage.models.events import Enrolment, Event, EventStatus, GroupMember, LearningGroup, Role
from storage.models.logs import ActivityEntry, AuditEntry
from storage.models.privacy import ProfilePhoto
from storage.models.pinboard import (
    Attachment,
    Board,
    BoardSection,
    Note,
    NoteRevision,
    NoteState,
    Reply,
    Vote,
)
from storage.models.mail import (  # organiser broadcasts and the mail outbox
    CampaignKind,
    DeliveryStatus,
    EventChange,
    EventChangeSeen,
    MailCampaign,
    MailCategory,
    MailDelivery,
)

__all__ = [
    "Attachment",
    "Board",
    "BoardSection",
    "Note",
    "NoteRevision",
    "NoteState",
    "Reply",
    "Vote",
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
    "CampaignKind",
    "DeliveryStatus",
    "EventChange",
    "EventChangeSeen",
    "MailCampaign",
    "MailCategory",
    "MailDelivery",
]
