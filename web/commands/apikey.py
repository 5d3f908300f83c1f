"""``classhub apikey``: keys of the server API (docs/integration.md).

``create NAME --scopes provision,publish,read`` prints the key once (only its
SHA-256 is stored: a random 256-bit key needs no slow hash); ``list`` shows every
key with its scopes, last use and state; ``revoke NAME`` refuses it from the next
request on and stops its webhooks. Each change is in the audit log.
"""

from __future__ import annotations

import argparse
import asyncio

from storage.db import Database
from storage.errors import DomainError
from storage.repo import api_keys
from storage.repo.logs import audit
from storage.settings import Settings
from web.subcommands import ensure_migrated, subcommand

DESCRIPTION = (
    "Manage the keys of the server API (docs/integration.md). `create` prints the new key "
    "once: store it in the suite's secrets; classhub keeps only its hash. `list` shows every "
    "key; `revoke` refuses a key from its next request on and ends its webhooks."
)


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "never"


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.session() as session:
            if args.apikey_command == "create":
                key, token = await api_keys.create_key(
                    session, name=args.name, scopes=api_keys.parse_scopes(args.scopes),
                    created_by=None,
                )
                await audit(session, actor_id=None, action="api_key.create",
                            target=f"api_key:{key.id}",
                            detail={"name": key.name, "scopes": key.scopes, "via": "cli"})
                print(f"API key {key.name!r} (scopes {key.scopes}); shown once, keep it secret:")
                print(token)
            elif args.apikey_command == "list":
                keys = await api_keys.list_keys(session)
                if not keys:
                    print("no API keys")
                for k in keys:
                    state = f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active"
                    print(f"{k.name}\t{k.prefix}…\t{k.scopes}\tlast used "
                          f"{_when(k.last_used_at)}\t{state}")
            else:
                key = await api_keys.key_by_name(session, args.name)
                if await api_keys.revoke(session, key):
                    await audit(session, actor_id=None, action="api_key.revoke",
                                target=f"api_key:{key.id}",
                                detail={"name": key.name, "via": "cli"})
                    print(f"revoked {key.name!r}")
                else:
                    print(f"{key.name!r} was revoked before")
    except DomainError as exc:
        print(f"classhub apikey: {exc.message}")
        return 1
    finally:
        await db.close()
    return 0


@subcommand("apikey")
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]):  # type: ignore[no-untyped-def]
    parser = sub.add_parser("apikey", help="keys of the server API (create, list, revoke)",
                            description=DESCRIPTION)
    actions = parser.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="make a key and print it once",
        description="Make a server API key and print it once. Scopes: provision (users, events, "
        "enrolments, groups), publish (into event and group chats), read (channel history, "
        "presence).",
    )
    create.add_argument("name", help="a name for the key, shown in lists and the activity log")
    create.add_argument("--scopes", required=True,
                        help="comma-separated: provision,publish,read")
    actions.add_parser("list", help="every key: scopes, last use, state",
                       description="List every key with its scopes, last use and state.")
    revoke = actions.add_parser("revoke", help="refuse a key from now on",
                                description="Revoke a key: refused from its next request on; "
                                "its webhook subscriptions stop.")
    revoke.add_argument("name", help="the key's name")

    def run(args: argparse.Namespace, settings: Settings) -> int:
        ensure_migrated(settings)
        return asyncio.run(_run(args, settings))

    return run
