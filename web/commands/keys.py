"""``classhub keys``: the data key that encrypts pinboard photos and event media at rest.

``keys status`` shows the current key id and how many attachments each key
id seals. ``keys rotate`` re-encrypts every attachment not sealed under the
current DATA_KEY, opening the old ones with DATA_KEY_PREVIOUS (comma-separated
old keys) or ``<var>/data_key.previous``. On the embedded default (no DATA_KEY
in the environment) ``--generate`` first makes a new key in ``<var>/data_key``
and keeps the old one in ``<var>/data_key.previous``. See docs/pinboard.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path

from storage.settings import Settings
from web.subcommands import ensure_migrated, subcommand

DESCRIPTION = (
    "Manage the data key that encrypts pinboard photos and event media at rest (AES-256-GCM). "
    "`status` shows the current key id and the files per key id; `rotate` re-encrypts every "
    "file not under the current DATA_KEY, opening old files with the keys in DATA_KEY_PREVIOUS "
    "(comma-separated) or <var>/data_key.previous. Stop the servers, or give them both keys, "
    "while rotating; see docs/pinboard.md."
)


def _write_secret(path: Path, value: str, *, append: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "a" if append else "w") as fh:
        fh.write(value + "\n")


def generate_new_key(settings: Settings) -> Settings:
    """Embedded default only: a fresh <var>/data_key, the old one kept for decryption."""
    from storage.crypto import PREVIOUS_KEYS_FILE

    if settings.data_key_from_env:
        raise SystemExit(
            "classhub keys rotate --generate: DATA_KEY is set in the environment; put the new "
            "key in DATA_KEY and the old one in DATA_KEY_PREVIOUS, then run `keys rotate`"
        )
    var = settings.var_dir
    var.mkdir(parents=True, exist_ok=True)
    _write_secret(var / PREVIOUS_KEYS_FILE, settings.data_key, append=True)
    new = secrets.token_urlsafe(32)
    _write_secret(var / "data_key", new, append=False)
    return replace(settings, data_key=new)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.attachments import AttachmentStore, key_usage, rotate
    from storage.crypto import PREVIOUS_KEYS_FILE
    from storage.db import Database
    from storage.media_files import MediaStore
    from storage.media_rotation import media_key_usage, rotate_media

    database = Database(settings.database_url, pool_size=2)
    try:
        store = AttachmentStore.from_settings(settings)
        if args.keys_command == "status":
            usage = await key_usage(database)
            print(f"current key id: {store.keys.current_id}")
            for key_id, n in sorted(usage.items()):
                known = "current" if key_id == store.keys.current_id else (
                    "previous (configured)" if key_id in store.keys.key_ids else "UNKNOWN KEY")
                print(f"  {key_id}: {n} attachment(s), {known}")
            for key_id, n in sorted((await media_key_usage(database)).items()):
                known = "current" if key_id == store.keys.current_id else (
                    "previous (configured)" if key_id in store.keys.key_ids else "UNKNOWN KEY")
                print(f"  {key_id}: {n} media file(s), {known}")
            return 0
        report = await rotate(database, store, batch=args.batch)
        print(
            f"key {report.key_id}: {report.rotated} attachment(s) re-encrypted, "
            f"{report.current} already current, {len(report.failed)} failed"
        )
        for att_id, why in sorted(report.failed.items()):
            print(f"  attachment {att_id}: {why}", file=sys.stderr)
        media = await rotate_media(database, MediaStore.from_settings(settings), batch=args.batch)
        print(
            f"key {media.key_id}: {media.rotated} medium/media re-encrypted, "
            f"{media.current} already current, {len(media.failed)} failed"
        )
        for media_id, why in sorted(media.failed.items()):
            print(f"  medium {media_id}: {why}", file=sys.stderr)
        if report.failed or media.failed:
            return 1
        previous = settings.var_dir / PREVIOUS_KEYS_FILE
        if args.forget_previous and previous.exists():
            previous.unlink()
            print(f"removed {previous}: the old keys are no longer needed")
        elif settings.data_key_previous or previous.exists():
            print("every file is under the current key: the previous keys may now be removed")
        return 0
    finally:
        await database.close()


@subcommand("keys")
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]):  # type: ignore[no-untyped-def]
    parser = sub.add_parser("keys", help="data-key status and rotation for encrypted photos",
                            description=DESCRIPTION)
    keys = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    keys.add_parser("status", help="show the current key id and the files per key id",
                    description="Show the current key id and how many attachments and media "
                    "files each key seals.")
    rot = keys.add_parser(
        "rotate", help="re-encrypt every attachment and medium under the current DATA_KEY",
        description="Re-encrypt every pinboard photo and event medium not sealed under the "
        "current DATA_KEY. Old "
        "files are opened with DATA_KEY_PREVIOUS (comma-separated) or <var>/data_key.previous. "
        "Each file is rewritten under a new name before its row is updated, so an interrupted "
        "run is safe to repeat. Exit status 1 if any file could not be opened.",
    )
    rot.add_argument("--generate", action="store_true",
                     help="embedded default only: first make a new key in <var>/data_key and "
                     "keep the old one in <var>/data_key.previous")
    rot.add_argument("--forget-previous", action="store_true",
                     help="after a complete rotation, delete <var>/data_key.previous")
    rot.add_argument("--batch", type=int, default=100, help="rows read per query (default 100)")

    def run(args: argparse.Namespace, settings: Settings) -> int:
        ensure_migrated(settings)
        if args.keys_command == "rotate" and args.generate:
            settings = generate_new_key(settings)
        return asyncio.run(_run(args, settings))

    return run
