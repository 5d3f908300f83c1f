"""Errors raised by the storage layer, each with structured fields."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration variable has a bad value. ``str()`` is one line naming it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class DomainError(Exception):
    """A request that the rules refuse. ``code`` is stable and documented."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404

    def __init__(self, what: str) -> None:
        super().__init__("not_found", f"{what} not found")


class Forbidden(DomainError):
    status = 403

    def __init__(self, message: str = "you may not do this") -> None:
        super().__init__("forbidden", message)


class Conflict(DomainError):
    status = 409

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


class StoreUnavailable(DomainError):
    """The store could not take a change (a lost connection, a failed transaction, a
    shutdown): nothing of it was stored; the same request may be tried again."""

    status = 503

    def __init__(self, problem: str) -> None:
        super().__init__(
            "store_unavailable", f"the change could not be stored ({problem}); try again"
        )
        self.problem = problem


class NotMigrated(Exception):
    """The database schema is not at the version this code expects."""
