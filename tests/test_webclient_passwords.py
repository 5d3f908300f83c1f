"""Self-service passwords in Debian's Chromium against a real classhub server: a participant
who forgot their password gets a link by mail (the Maildir the mailer writes) from the
sign-in page, chooses a new one and signs in with it; another changes theirs on the Me
screen, which signs out their other browser."""

from __future__ import annotations

import email
import re
import time
from email.message import Message
from typing import Any

import pytest

from tests.browser_harness import (  # noqa: F401 - fixtures
    Person,
    Server,
    browser,
    seed_people,
    server,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESET_LINK = re.compile(r"https?://[^\s\"]+/reset-password/[A-Za-z0-9_-]+")
MAIL_WAIT_SECS = 60
UI_MS = 10_000


def mail_to(server: Server, person: Person) -> Message:
    """The first mail to ``person`` in the Maildir, running the mailer until it is there
    (the web process queues it from a task after answering)."""
    deadline = time.monotonic() + MAIL_WAIT_SECS
    while True:
        server.cli("mailer", "--until-idle")
        for sub in ("new", "cur"):
            folder = server.maildir / sub
            for path in sorted(folder.iterdir()) if folder.is_dir() else ():
                msg = email.message_from_bytes(path.read_bytes())
                if person.email in str(msg["To"]):
                    return msg
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {person.email} in {server.maildir}")
        time.sleep(0.5)


def parts(msg: Message) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return out


def test_a_participant_resets_a_forgotten_password(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    _, people = server.run(seed_people(server.db_url, "Forgetful", {"pia": "participant"}))
    pia = people["pia"]
    new_password = "maple kites over harbour"
    ctx = browser.new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.url}/signin")
        page.get_by_label("Email").fill(pia.email)
        page.get_by_role("link", name="Forgot password?").click()
        expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible(
            timeout=UI_MS
        )
        expect(page.get_by_label("Email")).to_have_value(pia.email)  # kept from sign-in
        shot(page, "forgot-password")
        page.get_by_role("button", name="Mail me a link").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible(timeout=UI_MS)
        shot(page, "forgot-password-sent")

        msg = mail_to(server, pia)
        assert msg["Subject"] == "Choose a new classhub password"
        texts = parts(msg)
        assert set(texts) == {"text/plain", "text/html"}
        match = RESET_LINK.search(texts["text/plain"])
        assert match is not None, texts["text/plain"]
        link = match.group(0)
        assert f'href="{link}"' in texts["text/html"]

        page.goto(link)
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible(
            timeout=UI_MS
        )
        hello = f"Hello Pia: choose a new password for your account ({pia.email})"
        expect(page.get_by_text(hello)).to_be_visible()
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("Repeat the new password").fill(new_password)
        shot(page, "reset-password")
        page.get_by_role("button", name="Set the new password").click()
        expect(page.get_by_text("Your new password is set")).to_be_visible(timeout=UI_MS)
        page.get_by_label("Email").fill(pia.email)
        page.get_by_label("Password").fill(pia.password)  # the old one
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("wrong email or password")).to_be_visible(timeout=UI_MS)
        page.get_by_label("Password").fill(new_password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("link", name="Forgetful")).to_be_visible(timeout=UI_MS)

        # The link worked once; following it again says so.
        page.goto(link)
        expect(page.get_by_role("heading", name="This link does not work")).to_be_visible(
            timeout=UI_MS
        )
        expect(page.get_by_text("was used already")).to_be_visible()
        expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()
        shot(page, "reset-password-used")
        assert errors == []
    finally:
        ctx.close()


def test_a_participant_changes_the_password_on_the_me_screen(
    server: Server, browser: Any
) -> None:
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    _, people = server.run(seed_people(server.db_url, "Careful", {"cem": "participant"}))
    cem = people["cem"]
    new_password = "copper owls reading maps"
    here = open_as(browser, server, cem, "/me")
    elsewhere = open_as(browser, server, cem, "/events")
    page = here.page
    try:
        card = page.locator("form", has=page.get_by_role("heading", name="Password"))
        card.get_by_label("Current password").fill("not the password")
        card.get_by_label("New password", exact=True).fill(new_password)
        card.get_by_label("Repeat the new password").fill(new_password)
        card.get_by_role("button", name="Change password").click()
        expect(card.get_by_text("the password is not right")).to_be_visible(timeout=UI_MS)
        card.get_by_label("Current password").fill(cem.password)
        card.get_by_role("button", name="Change password").click()
        expect(page.locator("#toast")).to_have_text(
            "Password changed; 1 other session signed out", timeout=UI_MS
        )
        shot(page, "me-password")
        # The other browser is signed out; this one stays.
        elsewhere.page.reload()
        expect(elsewhere.page.get_by_role("heading", name="Sign in")).to_be_visible(
            timeout=UI_MS
        )
        page.reload()
        expect(page.get_by_role("heading", name="Password")).to_be_visible(timeout=UI_MS)
        assert here.errors == [] and elsewhere.errors == []
    finally:
        here.close()
        elsewhere.close()
