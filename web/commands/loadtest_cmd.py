"""``classhub loadtest`` (the load generator) and ``classhub loadtest-setup`` (its bot accounts).

The generator lives in the top-level ``loadtest`` package and talks to a server
over the wire only; this module just forwards its arguments. The setup step
writes to DATABASE_URL directly: it creates the events and bot accounts a run
needs (one Argon2 hash shared by all bots, so 10,000 accounts take seconds,
not minutes), prints their credentials as JSON, and removes all of it again
with ``--cleanup``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage.settings import Settings
from web.subcommands import subcommand

BOT_DOMAIN = "loadtest.invalid"
EVENT_CHANNEL_KINDS = ("chat", "board", "news")


@subcommand("loadtest")
def _loadtest(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> Callable[[argparse.Namespace, Settings], int]:
    parser = sub.add_parser(
        "loadtest",
        # Every argument, --help included, goes through to the generator's own parser.
        add_help=False,
        prefix_chars="\x00",
        help="run a load test against a classhub server (see `classhub loadtest --help`)",
        description="Run the load generator; every argument is passed to the generator "
        "(`python -m loadtest`).",
    )
    parser.add_argument("args", nargs="*")

    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            from loadtest.cli import main as loadtest_main
        except ImportError as exc:  # the optional extra is not installed
            print(
                f"classhub loadtest: {exc.name or 'a load-test tool'} is missing; "
                "install the load tools with: pip install 'classhub[loadtest]'",
                file=sys.stderr,
            )
            return 2
        return int(loadtest_main(list(args.args), prog="classhub loadtest"))

    return run


@subcommand("loadtest-setup")
def _loadtest_setup(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> Callable[[argparse.Namespace, Settings], int]:
    parser = sub.add_parser(
        "loadtest-setup",
        help="create (or, with --cleanup, remove) the events and bot accounts of a load test",
        description="Create EVENTS events with ACCOUNTS bot participants each in the database "
        "named by DATABASE_URL and print their credentials as JSON (all bots share one random "
        "password). `--cleanup FILE` deletes what a previous run created: the events, the "
        "events in their channel logs (each channel keeps its last sequence number), the bot "
        "accounts and their sessions and activity entries.",
    )
    parser.add_argument("--events", type=int, default=1, help="events to create (default 1)")
    parser.add_argument(
        "--accounts", type=int, default=30, help="bot accounts enrolled in each event (default 30)"
    )
    parser.add_argument(
        "--trainers", type=int, default=0,
        help="enrol the first N bots of each event as trainers (default 0; e.g. the poll-burst "
        "scenario's trainer, who creates and opens the poll)",
    )
    parser.add_argument(
        "--prefix", default=None, help="tag for the emails and event titles (default: random)"
    )
    parser.add_argument(
        "-o", "--output", default="-", help="write the credentials JSON here (default stdout)"
    )
    parser.add_argument(
        "--cleanup", metavar="FILE", help="remove what the credentials FILE describes, then exit"
    )
    parser.add_argument(
        "--sessions", action="store_true",
        help="also sign every bot in here: each account gets `cookie` (the Cookie header) and "
        "`csrf` (the X-CSRF-Token header), so a run needs no POST /api/login (Argon2 costs the "
        "server ~50 ms per login; 1,000 logins would dwarf a one-second burst). Needs the "
        "server's SECRET_KEY in this environment",
    )

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from web.subcommands import ensure_migrated

        ensure_migrated(settings)
        if args.cleanup:
            data = json.loads(Path(args.cleanup).read_text())
            counts = asyncio.run(cleanup(settings, data))
            print(f"removed {counts['events']} events and {counts['users']} bot accounts",
                  file=sys.stderr)
            return 0
        if args.events < 1 or args.accounts < 1:
            print("classhub: --events and --accounts must be at least 1", file=sys.stderr)
            return 2
        prefix = args.prefix or f"lt-{secrets.token_hex(4)}"
        data = asyncio.run(
            create(settings, prefix, args.events, args.accounts, sessions=args.sessions,
                   trainers=args.trainers)
        )
        text = json.dumps(data, indent=1)
        if args.output == "-":
            print(text)
        else:
            path = Path(args.output)
            path.write_text(text + "\n")
            path.chmod(0o600)
        return 0

    return run


def _role(index: int, trainers: int) -> str:
    from storage.models import Role

    return (Role.TRAINER if index < trainers else Role.PARTICIPANT).value


async def create(
    settings: Settings, prefix: str, events: int, accounts: int, *, sessions: bool = False,
    trainers: int = 0,
) -> dict[str, Any]:
    from sqlalchemy import insert

    from storage.db import Database
    from storage.models import AuthSession, Enrolment, Event, User, UserStatus, utcnow
    from storage.passwords import hash_password
    from storage.repo.accounts import token_hash
    from web.auth import COOKIE_NAME, csrf_token_for, sign_token

    password = secrets.token_urlsafe(18)
    password_hash = hash_password(password)  # once: Argon2 costs ~50 ms per hash
    now = utcnow()
    db = Database(settings.database_url, pool_size=2)
    out_events: list[dict[str, Any]] = []
    try:
        async with db.session() as s:
            for e in range(events):
                event_id = (
                    await s.execute(
                        insert(Event).returning(Event.id),
                        [
                            {
                                "title": f"{prefix} load test {e + 1}",
                                "description": "created by classhub loadtest-setup",
                                "starts_at": now,
                                "ends_at": now + dt.timedelta(days=1),
                                "location": "",
                                "status": "scheduled",
                                "retention_days": 1,
                                "created_at": now,
                            }
                        ],
                    )
                ).scalar_one()
                rows = [
                    {
                        "email": f"{prefix}-{e + 1}-{i + 1}@{BOT_DOMAIN}",
                        "display_name": f"Bot {e + 1}.{i + 1}",
                        "password_hash": password_hash,
                        "is_admin": False,
                        "is_dpo": False,
                        "status": UserStatus.ACTIVE.value,
                        "created_at": now,
                        "profile_bio": "",
                        "profile_public": False,
                        "phone": "",
                        "organisation": "",
                        "erase_content": False,
                        "wants_information_mail": False,
                    }
                    for i in range(accounts)
                ]
                ids = (
                    await s.execute(
                        insert(User).returning(User.id, sort_by_parameter_order=True), rows
                    )
                ).scalars().all()
                await s.execute(
                    insert(Enrolment),
                    [
                        {
                            "user_id": uid,
                            "event_id": event_id,
                            "role": _role(i, trainers),
                            "created_at": now,
                        }
                        for i, uid in enumerate(ids)
                    ],
                )
                bots: list[dict[str, Any]] = [
                    {"id": uid, "email": row["email"], "role": _role(i, trainers)}
                    for i, (uid, row) in enumerate(zip(ids, rows, strict=True))
                ]
                if sessions:
                    tokens = [secrets.token_urlsafe(32) for _ in ids]
                    await s.execute(
                        insert(AuthSession),
                        [
                            {
                                "token_hash": token_hash(token),
                                "user_id": uid,
                                "created_at": now,
                                "last_seen_at": now,
                                "expires_at": now + dt.timedelta(seconds=settings.session_max_secs),
                                "ip": "",
                                "user_agent": "classhub loadtest-setup",
                            }
                            for uid, token in zip(ids, tokens, strict=True)
                        ],
                    )
                    for bot, token in zip(bots, tokens, strict=True):
                        bot["cookie"] = f"{COOKIE_NAME}={sign_token(settings.secret_key, token)}"
                        bot["csrf"] = csrf_token_for(settings.secret_key, token)
                out_events.append(
                    {
                        "id": event_id,
                        "channels": {k: f"event:{event_id}:{k}" for k in EVENT_CHANNEL_KINDS},
                        "accounts": bots,
                    }
                )
    finally:
        await db.close()
    return {"version": 1, "prefix": prefix, "password": password, "events": out_events}


async def cleanup(settings: Settings, data: dict[str, Any]) -> dict[str, int]:
    from sqlalchemy import delete

    from storage.db import Database
    from storage.models import ActivityEntry, ChannelEvent, Event, User

    event_ids = [int(e["id"]) for e in data.get("events", [])]
    user_ids = [int(a["id"]) for e in data.get("events", []) for a in e.get("accounts", [])]
    channels = [f"event:{i}:{k}" for i in event_ids for k in EVENT_CHANNEL_KINDS]
    db = Database(settings.database_url, pool_size=2)
    try:
        async with db.session() as s:
            for chunk in _chunks(channels, 500):
                await s.execute(delete(ChannelEvent).where(ChannelEvent.channel.in_(chunk)))
                # The `channels` rows stay: SQLite reuses the ids of deleted events, and a
                # reused channel name must continue its sequence (a running hub remembers it).
            for ids in _chunks(user_ids, 500):
                # Bots may have written to channels other than their events' (DMs, user:).
                await s.execute(delete(ChannelEvent).where(ChannelEvent.author_id.in_(ids)))
                await s.execute(delete(ActivityEntry).where(ActivityEntry.user_id.in_(ids)))
                await s.execute(
                    delete(User).where(User.id.in_(ids), User.email.like(f"%@{BOT_DOMAIN}"))
                )
            for ids in _chunks(event_ids, 500):
                await s.execute(delete(Event).where(Event.id.in_(ids)))
    finally:
        await db.close()
    return {"events": len(event_ids), "users": len(user_ids)}


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
