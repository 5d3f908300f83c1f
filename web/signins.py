"""What a session cookie resolves to, kept per process for a few seconds.

Looking a session up costs a database round trip (and on SQLite a thread hop)
for every signed-in request: about 1 ms of the server's CPU, more than the
rest of a small request. A class releasing its notes at once makes a thousand
such requests within a second, from sessions that were all in use moments
before. So each process keeps the answer for ``SESSION_CACHE_SECS``.

Security does not wait for the timeout (docs/privacy.md, "Sessions"):

* Everything that ends or changes a sign-in (sign-out, block, terminate,
  deletion, password reset, any change to a ``users`` row) is reported by the
  store inside its commit (``storage/account_changes.py``); this process
  drops the entries at once, before the request that made the change answers.
* The hub tells the other processes on its control topic (``accounts_changed``);
  they drop theirs on arrival. A broker reconnect clears the whole cache, as
  messages may have been lost meanwhile.
* A change made outside the servers (the ``classhub`` CLI, SQL by hand) or a
  control message lost in transit takes effect within ``SESSION_CACHE_SECS``.

Only live sessions are cached: an unknown, revoked or expired one is looked up
every time. Lookups are coalesced like the batch writer's releases: misses that
arrive while a query is in flight share the next one. ``SessionCache`` is the
plain core (no I/O, driven synchronously by tests); ``SignIns`` is the thin
adapter over the database and the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from realtime.control import announce_accounts_changed
from realtime.hub import Hub
from storage.account_changes import AccountChanges
from storage.db import Database
from storage.models import User, utcnow
from storage.repo.accounts import LiveSession, admits, live_sessions
from storage.settings import Settings

# The default of CLASSHUB_SESSION_CACHE_SECS (its reason is in storage/settings.py).
SESSION_CACHE_SECS = Settings.session_cache_secs
# One entry is a user row (~1 KB); far above the sessions a process serves at once.
SESSION_CACHE_MAX = 20_000
# Cache misses that arrive while a lookup is in flight go to the store together, in
# one query of at most this many (a class whose sign-ins are not cached, at once).
LOOKUP_BATCH = 500


@dataclass(frozen=True, slots=True)
class _Entry:
    session: LiveSession
    fresh_until: float  # monotonic


class SessionCache:
    """Live sessions by token hash, each for ``ttl`` seconds or until it is forgotten."""

    def __init__(
        self,
        ttl: float = SESSION_CACHE_SECS,
        max_entries: int = SESSION_CACHE_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._by_user: dict[int, set[str]] = {}
        # Bumped by every forget: a lookup that began before a revocation must not
        # put its (possibly pre-revocation) answer into the cache after it.
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def get(self, session_hash: str, now: dt.datetime) -> LiveSession | None:
        entry = self._entries.get(session_hash)
        if entry is None:
            self.misses += 1
            return None
        if entry.fresh_until <= self.clock() or entry.session.good_until <= now:
            self._drop(session_hash)
            self.misses += 1
            return None
        self.hits += 1
        return entry.session

    def put(self, session: LiveSession, generation: int) -> bool:
        """Keep ``session`` if nothing was forgotten since ``generation`` was read."""
        if self.ttl <= 0 or generation != self.generation:
            return False
        if len(self._entries) >= self.max_entries:
            self.clear()  # rare: cheaper and simpler than an LRU, and always safe
        self._drop(session.session_hash)
        self._entries[session.session_hash] = _Entry(session, self.clock() + self.ttl)
        self._by_user.setdefault(session.user_id, set()).add(session.session_hash)
        return True

    def forget(self, changes: AccountChanges) -> None:
        self.generation += 1
        if changes.everything:
            self.clear()
            return
        for user_id in changes.user_ids:
            for session_hash in self._by_user.pop(user_id, ()):
                self._entries.pop(session_hash, None)
        for session_hash in changes.session_hashes:
            self._drop(session_hash)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_user.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, session_hash: str) -> None:
        entry = self._entries.pop(session_hash, None)
        if entry is not None:
            hashes = self._by_user.get(entry.session.user_id)
            if hashes is not None:
                hashes.discard(session_hash)
                if not hashes:
                    del self._by_user[entry.session.user_id]


class SignIns:
    """The signed-in user behind a session hash, through the cache; one per process."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.cache = SessionCache(settings.session_cache_secs)
        self.hub: Hub | None = None
        self._wanted: dict[str, asyncio.Future[LiveSession | None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.lookups = 0  # queries made
        db.account_listeners.append(self._committed)

    def attach_hub(self, hub: Hub) -> None:
        """Share this process's account changes with the others, and hear theirs."""
        self.hub = hub
        hub.on_accounts_changed(self.cache.forget)

    def detach_hub(self) -> None:
        self.hub = None

    async def user_for_hash(
        self, session_hash: str, *, allow_terminating: bool = False
    ) -> User | None:
        found = self.cache.get(session_hash, utcnow())
        if found is None:
            found = await self._look_up(session_hash)
            if found is None:
                return None
        if not admits(found.status, allow_terminating):
            return None
        return found.user()

    async def close(self) -> None:
        """Stop the lookup in flight (app shutdown); its waiters get the cancellation."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for fut in self._wanted.values():
            fut.cancel()
        self._wanted.clear()

    async def _look_up(self, session_hash: str) -> LiveSession | None:
        fut = self._wanted.get(session_hash)
        if fut is None:
            fut = self._wanted[session_hash] = asyncio.get_running_loop().create_future()
            # An answer whose requests all went away is nobody's: retrieve it, so that
            # asyncio does not log "exception was never retrieved".
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
            if self._task is None:
                self._task = asyncio.create_task(self._drain(), name="signin-lookups")
        # Shielded: a request that goes away does not cancel a lookup others share.
        return await asyncio.shield(fut)

    async def _drain(self) -> None:
        try:
            while self._wanted:
                batch = dict(itertools.islice(self._wanted.items(), LOOKUP_BATCH))
                for session_hash in batch:
                    del self._wanted[session_hash]
                generation = self.cache.generation
                try:
                    async with self.db.connection() as conn:
                        found = await live_sessions(
                            conn, list(batch), idle_secs=self.settings.session_idle_secs
                        )
                except Exception as exc:  # noqa: BLE001 - each waiting request fails with it, as it would alone
                    for fut in batch.values():
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                except BaseException:
                    for fut in batch.values():
                        fut.cancel()
                    raise
                self.lookups += 1
                for session_hash, fut in batch.items():
                    live = found.get(session_hash)
                    if live is not None:
                        self.cache.put(live, generation)
                    if not fut.done():
                        fut.set_result(live)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _committed(self, changes: AccountChanges) -> None:
        # Inside the commit of the change: this process forgets before anyone answers.
        self.cache.forget(changes)
        if self.hub is not None:
            self.hub.share_accounts_changed(changes)


async def tell_servers(settings: Settings, changed: list[AccountChanges]) -> None:
    """From a process without a hub (the ``classhub`` CLI, maintenance): with Redis, the
    running servers drop these accounts' cached sign-ins at once; without, they notice
    within ``CLASSHUB_SESSION_CACHE_SECS``. A failure is reported, never raised: the change is
    committed already."""
    if not settings.redis_url or not changed:
        return
    merged = AccountChanges()
    for changes in changed:
        merged.user_ids |= changes.user_ids
        merged.session_hashes |= changes.session_hashes
        merged.everything |= changes.everything
    try:
        await announce_accounts_changed(settings, merged)
    except Exception as exc:  # noqa: BLE001 - see above
        print(
            f"note: could not tell the running servers through {settings.redis_url} ({exc}); "
            f"they notice within {settings.session_cache_secs:g} s",
            file=sys.stderr,
        )
