"""What a ``classhub`` subcommand module needs: ``@subcommand`` to register itself, and
``ensure_migrated``. web/cli.py builds the parser from the registrations; the modules in
web/commands/ import this module, never web/cli.py (which imports them)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import TypeAlias

from storage.errors import NotMigrated
from storage.settings import Settings

Runner: TypeAlias = Callable[[argparse.Namespace, Settings], int]
# A string: argparse's _SubParsersAction is generic to type checkers only.
Adder: TypeAlias = "Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], Runner]"

# (name, function that adds its parser and returns its runner), in registration order.
REGISTRARS: list[tuple[str, Adder]] = []


def subcommand(name: str) -> Callable[[Adder], None]:
    """Let a module add a subcommand: the decorated function adds its parser, returns the runner."""

    def deco(fn: Adder) -> None:
        REGISTRARS.append((name, fn))

    return deco


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def ensure_migrated(settings: Settings) -> None:
    """On the embedded default migrate automatically; elsewhere refuse to run behind."""
    from storage.migrate import is_current, upgrade

    if asyncio.run(is_current(settings.database_url)):
        return
    if settings.is_sqlite:
        upgrade(settings.database_url)
        return
    raise NotMigrated(
        "the database schema is not current: run `classhub migrate` first "
        f"({redact(settings.database_url)})"
    )
