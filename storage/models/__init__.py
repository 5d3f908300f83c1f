"""Every model, imported here so ``Base.metadata`` knows all tables (Alembic, tests)."""

from storage.models.accounts import AuthSession, Invitation, LoginFailure, User, UserStatus
from storage.models.activities import Activity, ActivityAnswer
from storage.models.base import Base, utcnow
from storage.models.channels import Channel, ChannelEvent
from storage.models.events import Enrolment, Event, EventStatus, GroupMember, LearningGroup, Role
from storage.models.integration import (
    ApiKey,
    NotifyOutbox,
    OutboxStatus,
    WebhookSubscription,
    WebhookTopic,
)
from storage.models.logs import ActivityEntry, AuditEntry
from storage.models.lti import LtiContextLink, LtiDeployment, LtiNonce, LtiPlatform
from storage.models.mail import (  # organiser broadcasts and the mail outbox
    CampaignKind,
    DeliveryStatus,
    EventChange,
    EventChangeSeen,
    MailCampaign,
    MailCategory,
    MailDelivery,
)
from storage.models.media import (  # trainers' media, consent, restriction of processing
    ConsentDecision,
    ConsentKind,
    ConsentRecord,
    MediaDue,
    MediaItem,
    MediaKind,
    MediaState,
    MediaTag,
    ProcessingRestriction,
)
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
from storage.models.privacy import ProfilePhoto
from storage.models.qa import Question, QuestionBoard, QuestionVote
from storage.models.room import HeldMessage, HeldStatus, RemovedMessage, RoomMute, RoomSettings

__all__ = [
    "Activity",
    "ActivityAnswer",
    "ActivityEntry",
    "ApiKey",
    "Attachment",
    "AuditEntry",
    "AuthSession",
    "Base",
    "Board",
    "BoardSection",
    "CampaignKind",
    "Channel",
    "ChannelEvent",
    "ConsentDecision",
    "ConsentKind",
    "ConsentRecord",
    "DeliveryStatus",
    "Enrolment",
    "Event",
    "EventChange",
    "EventChangeSeen",
    "EventStatus",
    "GroupMember",
    "HeldMessage",
    "HeldStatus",
    "Invitation",
    "LearningGroup",
    "LoginFailure",
    "LtiContextLink",
    "LtiDeployment",
    "LtiNonce",
    "LtiPlatform",
    "MailCampaign",
    "MailCategory",
    "MailDelivery",
    "MediaDue",
    "MediaItem",
    "MediaKind",
    "MediaState",
    "MediaTag",
    "Note",
    "NotifyOutbox",
    "NoteRevision",
    "NoteState",
    "OutboxStatus",
    "ProcessingRestriction",
    "ProfilePhoto",
    "RemovedMessage",
    "Question",
    "QuestionBoard",
    "QuestionVote",
    "Reply",
    "Role",
    "RoomMute",
    "RoomSettings",
    "User",
    "UserStatus",
    "Vote",
    "WebhookSubscription",
    "WebhookTopic",
    "utcnow",
]
