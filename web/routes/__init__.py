"""HTTP route modules. Importing one registers its operations on ``web.api.API``."""

from web.routes import (  # noqa: F401 - organiser broadcasts, bulk mail
    account_lifecycle,
    accounts,
    admin_logs,
    admin_review,
    event_changes,
    events,
    groups,
    health,
    invitations,
    mail,
    my_data,
    pinboard,
    pinboard_notes,
    pinboard_photos,
    pinboard_release,
    realtime,
    users,
)

__all__ = [
    "account_lifecycle",
    "accounts",
    "admin_logs",
    "admin_review",
    "events",
    "groups",
    "health",
    "invitations",
    "my_data",
    "pinboard",
    "pinboard_notes",
    "pinboard_photos",
    "pinboard_release",
    "users",
]
