"""The long-lived parts of one process, opened in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storage.db import Database
from storage.settings import Settings
from web.signins import SignIns


@dataclass
class Services:
    settings: Settings
    db: Database
    # Filled by the hub when it starts (realtime.hub.Hub); Any keeps web free of
    # a hard import cycle during start-up.
    hub: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The signed-in user of a session cookie, cached briefly (web/signins.py).
    signins: SignIns = field(init=False)

    def __post_init__(self) -> None:
        self.signins = SignIns(self.settings, self.db)
