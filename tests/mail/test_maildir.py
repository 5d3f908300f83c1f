"""The Maildir transport under concurrent first use (the mailer's slots are threads)."""

from __future__ import annotations

import asyncio
import mailbox
from email.message import Message
from pathlib import Path

from realtime.mailer.transport import MaildirTransport
from storage.mail_config import MailTarget


def _message(i: int) -> Message:
    msg = Message()
    msg["Subject"] = f"message {i}"
    msg.set_payload("hello")
    return msg


async def test_slots_opening_a_new_maildir_at_once_all_deliver(tmp_path: Path) -> None:
    # A race needs a few tries to show: each round starts a fresh Maildir.
    for rnd in range(5):
        box_path = tmp_path / f"round{rnd}" / "mail"
        target = MailTarget(scheme="maildir", maildir=box_path)
        slots = [MaildirTransport(target) for _ in range(8)]
        await asyncio.gather(
            *(slot.send(_message(i), f"r{i}@example.org") for i, slot in enumerate(slots))
        )
        assert len(mailbox.Maildir(box_path, create=False)) == 8
