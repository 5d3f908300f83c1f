"""The one error of single sign-on: a sign-in through a provider that classhub refuses."""

from __future__ import annotations

from storage.errors import DomainError


class SsoRefused(DomainError):
    """Shown to the person as a page (they arrived by a redirect, not from the web client),
    with ``code`` and a message that says what to do. 400 unless said otherwise."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message, status=status)
