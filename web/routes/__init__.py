"""HTTP route modules. Importing one registers its operations on ``web.api.API``."""

from web.routes import accounts, health
from web.routes import account_lifecycle, admin_logs, admin_review, my_data
from web.routes import events, groups, invitations, users
from web.routes import pinboard, pinboard_photos
from web.routes import realtime  # noqa: F401 - the hub's HTTP side (ws tokens)
from web.routes import event_changes, mail  # noqa: F401 - organiser broadcasts, bulk mail

__all__ = [
    "account_lifecycle",
    "accounts",
    "admin_logs",
    "admin_review",
    "events",
    "groups",
    "health",
    "invitations",
    "pinboard",
    "pinboard_photos",
    "my_data",
    "users",
]
