"""The process's store of pinboard photos, made from the settings on first use.

Shared by the photo routes (upload, download, export) and the board transaction
(which removes the files of photos a committed change dropped), so neither route
module imports the other.
"""

from __future__ import annotations

from storage.attachments import AttachmentStore
from web.services import Services


def attachment_store(services: Services) -> AttachmentStore:
    store = services.extras.get("pinboard.attachments")
    if store is None:
        store = AttachmentStore.from_settings(services.settings)
        services.extras["pinboard.attachments"] = store
    return store
