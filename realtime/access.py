"""What a connection may still do after accounts, sessions or memberships change.

A connection keeps the account row it opened with and caches its rights to publish;
these re-check them when another part of the server (or another process, over the
control topic) says something changed: connections of an ended session or an account
no longer active close (4401), subscriptions no longer allowed end, cached rights go.
Every ``CLASSHUB_REVALIDATE_SECS`` all connections' sessions are checked too, for what no
message reports (expiry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from realtime.clients import Clients
from realtime.connection import Connection
from realtime.fanout import Fanout
from realtime.protocol.errors import CloseCode
from realtime.tasks import Tasks
from storage import authz, channels
from storage.account_changes import AccountChanges
from storage.db import Database
from storage.models import UserStatus, utcnow
from storage.repo.accounts import touch_sessions, users_by_id, valid_sessions

SESSION_CHECK_CHUNK = 500


class Access:
    def __init__(self, db: Database, clients: Clients, fanout: Fanout, tasks: Tasks) -> None:
        self.db = db
        self.clients = clients
        self.fanout = fanout
        self.tasks = tasks
        self._listeners: list[Callable[[AccountChanges], None]] = []
        # Bumped by every account change: a handshake that looked its session up before a
        # change has it checked again once registered (``Hub.serve``).
        self.account_epoch = 0

    def on_accounts_changed(self, callback: Callable[[AccountChanges], None]) -> None:
        self._listeners.append(callback)

    def accounts_changed_elsewhere(self, changes: AccountChanges) -> None:
        """Another process committed ``changes`` (or a broker reconnect: ``everything``)."""
        for callback in self._listeners:
            callback(changes)
        self.recheck_accounts(changes)

    def recheck_accounts(self, changes: AccountChanges) -> None:
        # A connection keeps the account row it opened with: admin rights taken away
        # (``classhub user make-admin --revoke``) or a status change must reach its
        # subscriptions too, not only the HTTP sign-in cache.
        self.account_epoch += 1
        self.forget_dm_rights(changes.user_ids)
        by_user = self.clients.by_user
        ids = sorted(u for u in changes.user_ids if u in by_user)
        if ids:
            self.tasks.spawn(self.recheck_users(ids), "accounts-recheck")
        # Sign-out, a password reset or any revocation ends the session's connections
        # now, on every process (this runs for the control message too), not at the next
        # periodic revalidation: a signed-out socket must not go on receiving messages.
        # Noted is not necessarily ended (a session's row touched): the store decides.
        conns = self.clients.conns
        if changes.everything:
            named = list(conns)
        else:
            hashes = changes.session_hashes
            named = [c for c in conns if c.session_hash in hashes] if hashes else []
            named += [c for u in ids for c in by_user.get(u, ()) if c.session_hash not in hashes]
        if named:
            self.tasks.spawn(self.revalidate(named), "sessions-recheck")

    def forget_dm_rights(self, user_ids: Iterable[int]) -> None:
        """Drop every connection's cached right to publish to a DM with one of ``user_ids``.

        That right depends on the *peer* too (active, sharing an event): when the peer is
        blocked or leaves their last shared event, the other side's cache must not keep
        answering yes. Recomputed on the next publish.
        """
        changed = set(user_ids)
        if not changed:
            return
        for conn in self.clients.conns:
            stale = [
                channel
                for channel in conn.may_publish
                if channel.startswith("dm:")
                and (ref := channels.parse_channel(channel)) is not None
                and (ref.id in changed or ref.other in changed)
            ]
            for channel in stale:
                del conn.may_publish[channel]

    async def recheck_users(self, user_ids: list[int]) -> None:
        """Re-read these users' accounts and rights for each of their connections here."""
        self.forget_dm_rights(user_ids)
        targets = [c for u in user_ids for c in self.clients.by_user.get(u, ())]
        if not targets:
            return
        async with self.db.session() as db:
            users = await users_by_id(db, user_ids)
            for conn in targets:
                user = users.get(conn.user_id)
                if user is None or user.status != UserStatus.ACTIVE.value:
                    conn.close(CloseCode.SESSION_ENDED, "account not active")
                    continue
                conn.user = user
                conn.may_publish.clear()
                lost = []
                for channel in list(conn.subs):
                    ref = channels.parse_channel(channel)
                    if ref is None:
                        lost.append(channel)
                        continue
                    may_read, may_publish = await authz.channel_rights(db, user, ref)
                    if not may_read:
                        lost.append(channel)
                    elif may_publish is not None:
                        conn.may_publish[channel] = may_publish
                for channel in lost:
                    self.fanout.detach(conn, channel)
                if lost:
                    conn.push({"type": "unsubscribed", "channels": lost, "reason": "forbidden"})

    async def revalidate(self, conns: Iterable[Connection] | None = None) -> None:
        """Close the connections (default: all) whose session ended or whose account is
        no longer active (4401)."""
        by_hash: dict[str, list[Connection]] = {}
        for conn in self.clients.conns if conns is None else conns:
            if conn.closing:
                continue
            by_hash.setdefault(conn.session_hash, []).append(conn)
        hashes = list(by_hash)
        now = utcnow()
        for i in range(0, len(hashes), SESSION_CHECK_CHUNK):
            chunk = hashes[i:i + SESSION_CHECK_CHUNK]
            async with self.db.session() as db:
                valid = await valid_sessions(db, chunk, now)
                if valid and conns is None:
                    # Being connected is activity: keep the session from idling out under us.
                    await touch_sessions(db, valid, now)
            for h in chunk:
                if h not in valid:
                    for conn in by_hash[h]:
                        conn.close(CloseCode.SESSION_ENDED, "session ended")
