"""The process's store of pinboard photos, made from the settings on first use.

Shared by the photo routes (upload, download, export) and the board transaction
(which removes the files of photos a committed change dropped), so neither route
module imports the other.
"""

from __future__ import annotations

from typing import Any

from storage.attachments import AttachmentStore


def attachment_store(services: Any) -> AttachmentStore:
    store = services.extras.get("pinboard.attachments")
    if store is None:
        store = AttachmentStore.from_settings(services.settings)
        services.extras["pinboard.attachments"] = store
    return store  # type: ignore[no-any-return]
