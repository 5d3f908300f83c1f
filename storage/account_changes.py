"""Which accounts and sessions a committed transaction changed, for caches of sign-ins.

A process may keep what a session cookie resolves to for a few seconds
(``web/signins.py``); every change that could end or alter that answer must
reach it once the change is durable. Two kinds are collected on the ORM
session's ``info`` while a transaction runs, and handed to the database's
listeners right after it commits:

* sessions revoked by statement (``repo.accounts.revoke_session`` and
  ``revoke_user_sessions`` call :func:`note_session` / :func:`note_user`);
* any ``User`` row changed or deleted through the ORM (block, terminate,
  reactivate, erasure, admin flags, name), caught by a ``before_flush`` hook,
  so a new code path that changes an account cannot forget to tell.

Noting too much is harmless (a cache entry is read again); a rolled-back
transaction's notes are dropped. Listeners run synchronously inside the
commit, so an in-process cache is invalidated before the request that made
the change answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from storage.models import AuthSession, User

log = logging.getLogger("classhub.accounts")

INFO_KEY = "classhub.account_changes"
LISTENERS_KEY = "classhub.account_listeners"


@dataclass(slots=True)
class AccountChanges:
    """Accounts and sessions whose cached sign-in must go; ``everything``: forget all."""

    user_ids: set[int] = field(default_factory=set)
    session_hashes: set[str] = field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return self.everything or bool(self.user_ids or self.session_hashes)


AccountListener = Callable[[AccountChanges], None]


def _pending(session: Session) -> AccountChanges:
    changes = session.info.get(INFO_KEY)
    if changes is None:
        changes = session.info[INFO_KEY] = AccountChanges()
    return changes


def note_user(db: Any, user_id: int) -> None:
    """Every session of ``user_id`` must be looked up again once this transaction commits."""
    _pending(db.sync_session if hasattr(db, "sync_session") else db).user_ids.add(user_id)


def note_session(db: Any, session_hash: str) -> None:
    _pending(db.sync_session if hasattr(db, "sync_session") else db).session_hashes.add(
        session_hash
    )


class TrackedSession(Session):
    """The ORM session class of ``storage.db.Database``: carries the hooks below."""


@event.listens_for(TrackedSession, "before_flush")
def _collect(session: Session, _flush_context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, User) and obj.id is not None:
            if obj in session.deleted or session.is_modified(obj, include_collections=False):
                _pending(session).user_ids.add(obj.id)
        elif isinstance(obj, AuthSession):
            _pending(session).session_hashes.add(obj.token_hash)


@event.listens_for(TrackedSession, "after_commit")
def _report(session: Session) -> None:
    changes: AccountChanges | None = session.info.pop(INFO_KEY, None)
    if not changes:
        return
    for listener in session.info.get(LISTENERS_KEY, ()):
        try:
            listener(changes)
        except Exception:  # the change is committed; the request must not fail with this
            log.exception("an account-change listener failed")


@event.listens_for(TrackedSession, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(INFO_KEY, None)
