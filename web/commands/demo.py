"""``classhub demo``: load a demo training event with known accounts (idempotent)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.errors import DomainError
from storage.models import Enrolment, Event, LearningGroup, Role, User, utcnow
from storage.repo.accounts import create_user, user_by_email
from storage.repo.events import create_event, enrol
from storage.repo.groups import add_member, create_group
from storage.settings import Settings
from web.commands.demo_session import load_session
from web.commands.users import new_password
from web.subcommands import ensure_migrated, subcommand

DEMO_DOMAIN = "demo.classhub.example"
DEMO_TITLE = "Demo: Facilitating live workshops"
PARTICIPANTS = 12
GROUP_SIZE = 4


@dataclass(frozen=True)
class DemoAccount:
    email: str
    name: str
    role: Role | None  # None: the admin, who is not enrolled
    admin: bool = False


def demo_accounts() -> list[DemoAccount]:
    people = [
        DemoAccount(f"admin@{DEMO_DOMAIN}", "Ada Admin", None, admin=True),
        DemoAccount(f"organiser@{DEMO_DOMAIN}", "Olga Organiser", Role.ORGANISER),
        DemoAccount(f"trainer@{DEMO_DOMAIN}", "Tomás Trainer", Role.TRAINER),
    ]
    first = ["Amira", "Ben", "Chloé", "Dmitri", "Esi", "Farid", "Greta", "Hiro", "Ines", "Jonas",
             "Kemal", "Lena"]  # fmt: skip
    for i, name in enumerate(first[:PARTICIPANTS], start=1):
        people.append(DemoAccount(f"participant{i:02d}@{DEMO_DOMAIN}", name, Role.PARTICIPANT))
    return people


async def _demo_event(db: AsyncSession, organiser: User) -> Event | None:
    return (
        await db.execute(
            select(Event)
            .join(Enrolment, Enrolment.event_id == Event.id)
            .where(Enrolment.user_id == organiser.id, Event.title == DEMO_TITLE)
        )
    ).scalar_one_or_none()


async def load_demo(settings: Settings) -> tuple[list[tuple[DemoAccount, str]], int]:
    """Create what is missing; returns the new accounts with their passwords, and the event id."""
    created: list[tuple[DemoAccount, str]] = []
    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.session() as session:
            users: dict[str, User] = {}
            for account in demo_accounts():
                user = await user_by_email(session, account.email)
                if user is None:
                    password = new_password()
                    user = await create_user(
                        session,
                        email=account.email,
                        display_name=account.name,
                        password=password,
                        is_admin=account.admin,
                    )
                    created.append((account, password))
                users[account.email] = user
            organiser = users[f"organiser@{DEMO_DOMAIN}"]
            event = await _demo_event(session, organiser)
            now = utcnow().replace(microsecond=0)
            if event is None:
                event = await create_event(
                    session,
                    title=DEMO_TITLE,
                    description="A demo training day: chat, pinboard and learning groups.",
                    starts_at=now - dt.timedelta(hours=1),
                    ends_at=now + dt.timedelta(hours=7),
                    location="Online and Room 2.14",
                )
            elif event.ends_at <= now:
                # Loaded on an earlier day: the demo is about a session happening now.
                length = event.ends_at - event.starts_at
                event.starts_at = now - dt.timedelta(hours=1)
                event.ends_at = event.starts_at + length
            for account in demo_accounts():
                if account.role is not None:
                    await enrol(session, users[account.email].id, event.id, account.role)
            await _demo_group(session, event.id, users)
        # The session in progress: chat, notes with photos, a poll, a Q&A (demo_session.py).
        emails: dict[str | int, str] = {"trainer": f"trainer@{DEMO_DOMAIN}"}
        emails.update({i: f"participant{i:02d}@{DEMO_DOMAIN}" for i in range(1, 13)})
        try:
            await load_session(db, settings, event.id, emails)
        except (DomainError, OSError) as e:
            # The accounts are committed: their passwords must still be printed, once.
            # (The room refuses posts when the demo event was cancelled, for instance.)
            reason = e.message if isinstance(e, DomainError) else str(e)
            print(f"the demo's session content was not loaded: {reason}", file=sys.stderr)
        return created, event.id
    finally:
        await db.close()


async def _demo_group(db: AsyncSession, event_id: int, users: dict[str, User]) -> None:
    name = "Group A"
    exists = (
        await db.execute(
            select(LearningGroup.id).where(
                LearningGroup.event_id == event_id, LearningGroup.name == name
            )
        )
    ).first()
    if exists is not None:
        return
    group = await create_group(db, event_id, name)
    for i in range(1, GROUP_SIZE + 1):
        await add_member(db, group, users[f"participant{i:02d}@{DEMO_DOMAIN}"].id)


def run(args: argparse.Namespace, settings: Settings) -> int:
    ensure_migrated(settings)
    created, event_id = asyncio.run(load_demo(settings))
    print(f"demo event {event_id}: {DEMO_TITLE!r}, open at {settings.public_url}")
    if not created:
        print(
            "the demo accounts exist already; their passwords were printed when they were "
            "created (set a new one with `classhub user reset-password EMAIL`)"
        )
        return 0
    print("demo accounts (passwords are shown this once):")
    for account, password in created:
        role = "admin" if account.admin else account.role.value if account.role else ""
        print(f"  {role:<12} {account.email:<40} {password}")
    return 0


@subcommand("demo")
def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> Callable[[argparse.Namespace, Settings], int]:
    sub.add_parser(
        "demo",
        help="load a demo event with an admin, organiser, trainer and 12 participants",
        description=f"Load the demo: an event happening now ({DEMO_TITLE!r}), an admin, an "
        f"organiser, a trainer, {PARTICIPANTS} participants (emails @{DEMO_DOMAIN}) and a "
        f"learning group of {GROUP_SIZE}, and in its room a session in progress: chat, notes "
        "in sections (two with photos), a reply chain with votes, a closed poll with its "
        "results shown, a Q&A with upvotes and a note taken offline. Idempotent: running it "
        "again creates only what is missing (the session's content is added once, as a "
        "whole). Passwords are random and printed once, when the accounts are created.",
    )
    return run
