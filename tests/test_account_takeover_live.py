"""Issue 13, item 1, against a running ``classhub serve`` over real HTTP: after an admin
resets a participant's password, a trainer of that participant's event asks for an
invitation to the participant's address. The trainer must get no credential (the old
answer carried a working set-password link: the trainer signed in as the participant
and read their direct messages), the link goes to the participant's own mailbox, and
the admin's reset link keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser_harness import Person, seed_people, start_server, stop_server

pytestmark = pytest.mark.slow

LINK = re.compile(r"/invite/([A-Za-z0-9_-]+)")
NEW_PASSWORD = "an entirely fresh passphrase"


@contextlib.contextmanager
def _signed_in(url: str, person: Person) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/api/login", json={"email": person.email, "password": person.password})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield client


def _mails_to(maildir: Path) -> list[email.message.Message]:
    return [
        email.message_from_bytes(path.read_bytes())
        for sub in ("new", "cur")
        if (maildir / sub).is_dir()
        for path in sorted((maildir / sub).iterdir())
    ]


def test_trainer_gets_no_key_to_a_reset_account(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        event_id, people = asyncio.run(
            seed_people(
                server.db_url,
                "Course",
                {"admin": "none", "trainer": "trainer", "victim": "participant"},
                admins=("admin",),
            )
        )
        victim = people["victim"]
        with _signed_in(server.url, people["admin"]) as admin:
            r = admin.post(
                f"/api/admin/users/{victim.id}/reset-password", json={"reason": "forgot it"}
            )
            assert r.status_code == 200, r.text
            admin_token = LINK.search(r.json()["reset_url"]).group(1)  # type: ignore[union-attr]

        # The attack: the trainer "invites" the participant whose account has no password now.
        with _signed_in(server.url, people["trainer"]) as trainer:
            r = trainer.post(
                "/api/invitations",
                json={"email": victim.email, "display_name": "Whoever", "event_id": event_id},
            )
            assert r.status_code == 201, r.text
            assert r.json()["invite_url"] is None, r.text
            assert LINK.search(r.text) is None, r.text  # no token anywhere in the answer
            # No other way in for the trainer: enrolment is an organiser's operation.
            r = trainer.post(
                f"/api/events/{event_id}/enrolments",
                json={"email": victim.email, "display_name": "Whoever"},
            )
            assert r.status_code == 403 and LINK.search(r.text) is None

        with httpx.Client(base_url=server.url, timeout=30) as anon:
            # The admin's link still works: issuing another link invalidated nothing.
            r = anon.get(f"/api/invitations/{admin_token}")
            assert r.status_code == 200 and r.json()["email"] == victim.email, r.text

            # The trainer's request mailed a link to the participant's own address only.
            server.cli("mailer", "--until-idle")
            mails = _mails_to(server.maildir)
            assert [m["To"] for m in mails] == [f"Victim <{victim.email}>"]
            body = mails[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
            mailed_token = LINK.search(body).group(1)  # type: ignore[union-attr]
            assert mailed_token != admin_token

            # The owner uses the admin's link; the first link used uses up the other.
            r = anon.post(
                "/api/invitations/accept", json={"token": admin_token, "password": NEW_PASSWORD}
            )
            assert r.status_code == 200 and r.json()["id"] == victim.id, r.text
            r = anon.get(f"/api/invitations/{mailed_token}")
            assert r.status_code == 410
        with httpx.Client(base_url=server.url, timeout=30) as again:
            r = again.post("/api/login", json={"email": victim.email, "password": NEW_PASSWORD})
            assert r.status_code == 200, r.text
    finally:
        stop_server(server)
