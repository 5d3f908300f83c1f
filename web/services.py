"""The long-lived parts of one process, opened in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storage.db import Database
from storage.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    # Filled by the hub when it starts (realtime.hub.Hub); Any keeps web free of
    # a hard import cycle during start-up.
    hub: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
