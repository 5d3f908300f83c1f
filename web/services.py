"""The long-lived parts of one process, opened in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from realtime.hub import Hub
from storage.db import Database
from storage.settings import Settings
from web.signins import SignIns


@dataclass
class Services:
    settings: Settings
    db: Database
    # Set while this process's hub runs (web/hub_glue.py); None before start-up and
    # after shutdown, and in an app built without its lifespan (some tests).
    hub: Hub | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The signed-in user of a session cookie, cached briefly (web/signins.py).
    signins: SignIns = field(init=False)

    def __post_init__(self) -> None:
        self.signins = SignIns(self.settings, self.db)


def services_of(conn: HTTPConnection) -> Services:
    """The process's services, set on the app by its lifespan (web/app.py)."""
    services: Services = conn.app.state.services
    return services
