"""Driving the pinboard in a browser test: writing a note through a section's "+ note"."""

from __future__ import annotations

from typing import Any


def write_note(page: Any, text: str, *, section: str = "Unsorted", draft: bool = False) -> None:
    """Open the composer of ``section`` with its "+ note", write ``text`` and post it
    (or save it as a draft)."""
    page.get_by_role("button", name=f"+ note in {section}", exact=True).click()
    page.get_by_label("New note").fill(text)
    page.get_by_role("button", name="Save as draft" if draft else "Post note").click()
