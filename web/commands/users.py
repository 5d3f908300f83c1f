"""``classhub user``: add accounts, reset passwords, block, unblock, make admins."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from storage.account_changes import AccountChanges
from storage.db import Database
from storage.errors import DomainError
from storage.models import User
from storage.repo import accounts
from storage.repo.invitations import create_invitation
from storage.repo.logs import audit
from storage.settings import Settings
from web.signins import tell_servers
from web.subcommands import ensure_migrated, subcommand

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
Action = Callable[[AsyncSession, User], Awaitable[str]]


# The letters generated passwords are drawn from (not a password; no look-alikes l/I/O/0/1).
PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105


def new_password() -> str:
    """A random password that is easy to read and type: 16 letters and digits (~92 bits)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(16))


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set and whether it was generated (and must be shown)."""
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n"), False
    return new_password(), True


async def _with_user(settings: Settings, email: str, action: Action) -> str:
    db = Database(settings.database_url, pool_size=1)
    changed: list[AccountChanges] = []
    db.account_listeners.append(changed.append)
    try:
        async with db.session() as session:
            user = await accounts.user_by_email(session, email)
            if user is None:
                raise DomainError("not_found", f"no account for {email.strip().lower()}")
            done = await action(session, user)
    finally:
        await db.close()
    await tell_servers(settings, changed)
    return done


async def _add(settings: Settings, args: argparse.Namespace) -> str:
    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.session() as session:
            if args.invite:
                user = await accounts.create_user(
                    session, email=args.email, display_name=args.name, is_admin=args.admin
                )
                token = await create_invitation(
                    session, user, created_by=None, ttl_secs=settings.invitation_ttl_secs
                )
                shown = f"invitation link: {settings.public_url}/invite/{token}"
            else:
                password, generated = _password(args)
                user = await accounts.create_user(
                    session,
                    email=args.email,
                    display_name=args.name,
                    password=password,
                    is_admin=args.admin,
                )
                shown = f"password: {password}" if generated else "password: (as given)"
            await audit(
                session,
                actor_id=None,
                action="user.add",
                target=f"user:{user.id}",
                detail={"by": "cli", "admin": args.admin},
            )
        role = "admin" if args.admin else "user"
        return f"added {role} {user.email} (id {user.id}); {shown}"
    finally:
        await db.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    ensure_migrated(settings)
    try:
        if args.action == "add":
            print(asyncio.run(_add(settings, args)))
            return 0
        print(asyncio.run(_with_user(settings, args.email, ACTIONS[args.action](args))))
        return 0
    except DomainError as exc:
        print(f"classhub user {args.action}: {exc.message}", file=sys.stderr)
        return 1


def _reset(args: argparse.Namespace) -> Action:
    async def act(session: AsyncSession, user: User) -> str:
        password, generated = _password(args)
        await accounts.set_password(session, user, password)
        await audit(
            session,
            actor_id=None,
            action="user.reset_password",
            target=f"user:{user.id}",
            detail={"by": "cli"},
        )
        shown = f"new password: {password}" if generated else "password set"
        return f"{user.email}: {shown}; every session of the account has ended"

    return act


def _block(args: argparse.Namespace) -> Action:
    async def act(session: AsyncSession, user: User) -> str:
        revoked = await accounts.block(session, user)
        await audit(
            session,
            actor_id=None,
            action="user.block",
            target=f"user:{user.id}",
            reason=args.reason,
            detail={"by": "cli"},
        )
        return f"{user.email}: blocked; {revoked} session(s) ended"

    return act


def _unblock(args: argparse.Namespace) -> Action:
    async def act(session: AsyncSession, user: User) -> str:
        await accounts.unblock(session, user)
        await audit(
            session,
            actor_id=None,
            action="user.unblock",
            target=f"user:{user.id}",
            reason=args.reason,
            detail={"by": "cli"},
        )
        return f"{user.email}: active again"

    return act


def _make_admin(args: argparse.Namespace) -> Action:
    async def act(session: AsyncSession, user: User) -> str:
        user.is_admin = not args.revoke
        await audit(
            session,
            actor_id=None,
            action="user.admin_revoked" if args.revoke else "user.admin_granted",
            target=f"user:{user.id}",
            detail={"by": "cli"},
        )
        return f"{user.email}: {'no longer an admin' if args.revoke else 'now an admin'}"

    return act


ACTIONS: dict[str, Callable[[argparse.Namespace], Action]] = {
    "reset-password": _reset,
    "block": _block,
    "unblock": _unblock,
    "make-admin": _make_admin,
}


# How soon a change made here reaches the running servers (docs/privacy.md, "Sessions").
REACH = (
    "How soon the running servers follow: with REDIS_URL set (and their REDIS_PREFIX) "
    "they are told at once and close the account's affected WebSocket connections; "
    "without Redis its sessions stop working within CLASSHUB_SESSION_CACHE_SECS "
    "(default 10 s) and its open connections are checked again within "
    "CLASSHUB_REVALIDATE_SECS (default 60 s)."
)


@subcommand("user")
def register(sub: SubParsers) -> Callable[[argparse.Namespace, Settings], int]:
    parser = sub.add_parser(
        "user",
        help="add an account, reset a password, block, unblock, make an admin",
        description="Manage accounts directly in the database named by DATABASE_URL. "
        "Accounts are named by their email address.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="create an account",
        description="Create an account. Without --password-stdin or --invite a random "
        "password is generated and printed once.",
    )
    add.add_argument("email", help="the email address, which is also the user name")
    add.add_argument("--name", required=True, help="the display name others see")
    add.add_argument("--admin", action="store_true", help="make the account an admin")
    how = add.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    how.add_argument(
        "--invite",
        action="store_true",
        help="set no password; print an invitation link (PUBLIC_URL/invite/...) "
        "with which the person sets it",
    )

    reset = actions.add_parser(
        "reset-password",
        help="set a new password and end every session of the account",
        description="Set a new password (random and printed once, or read with "
        "--password-stdin) and end every session of the account. " + REACH,
    )
    reset.add_argument("email")
    reset.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )

    block = actions.add_parser(
        "block",
        help="block the account and end its sessions",
        description="Block the account: it can no longer sign in and its sessions end. "
        + REACH,
    )
    block.add_argument("email")
    block.add_argument("--reason", default="", help="written to the audit log")

    unblock = actions.add_parser(
        "unblock",
        help="let a blocked account sign in again",
        description="Let a blocked account sign in again.",
    )
    unblock.add_argument("email")
    unblock.add_argument("--reason", default="", help="written to the audit log")

    admin = actions.add_parser(
        "make-admin",
        help="give (or with --revoke take) admin rights",
        description="Give the account admin rights, or take them away with --revoke. "
        + REACH,
    )
    admin.add_argument("email")
    admin.add_argument("--revoke", action="store_true", help="take admin rights away")
    return run
