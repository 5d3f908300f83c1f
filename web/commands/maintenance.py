"""``classhub maintenance``: retention, due account deletions, overdue media, audited."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Callable

from storage.settings import Settings
from web.subcommands import subcommand

log = logging.getLogger("classhub.maintenance")


@subcommand("maintenance")
def _maintenance(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> Callable[[argparse.Namespace, Settings], int]:
    parser = sub.add_parser(
        "maintenance",
        help="apply retention periods, delete accounts whose grace month is over, and "
        "withdraw media left unblurred a month after a revoked consent",
        description="Delete what the retention periods say is due (per event: chat, notes, "
        "photos; direct messages after DM_RETENTION_DAYS if set; the activity log after "
        "ACTIVITY_RETENTION_DAYS), erase accounts whose termination grace month is over, and "
        "withdraw event media still on a trainer's due list a month after someone revoked "
        "their consent (the event's trainers and the admins are told by mail and notice). "
        "Each pass is written to the audit log and printed as one JSON line. Runs once, or "
        "with --every forever (e.g. its own Procfile line).",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=0,
        metavar="SECS",
        help="repeat every SECS seconds until stopped (default: run once and exit)",
    )

    def run(args: argparse.Namespace, settings: Settings) -> int:
        from web.subcommands import ensure_migrated

        if args.every < 0:
            parser.error("--every must not be negative")
        ensure_migrated(settings)
        return asyncio.run(_loop(settings, args.every))

    return run


async def _loop(settings: Settings, every: int) -> int:
    from storage.account_changes import AccountChanges
    from storage.db import Database
    from storage.maintenance import run_maintenance
    from web.signins import tell_servers

    db = Database(settings.database_url, pool_size=2)
    # Accounts erased in a pass: running servers drop their cached sign-ins (web/signins.py).
    changed: list[AccountChanges] = []
    db.account_listeners.append(changed.append)
    try:
        while True:
            summary = await run_maintenance(db, settings)
            await tell_servers(settings, changed)
            changed.clear()
            print(json.dumps(summary), flush=True)
            if every <= 0:
                return 0
            await asyncio.sleep(every)
    finally:
        await db.close()
