"""Live scenarios in Chromium for staff and accounts: admin review of a DM, user administration,
organiser mail and cancellation, invitations, signing in again, a missing event."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser_harness import (  # noqa: F401 - fixtures
    LIVE_MS,
    Server,
    browser,
    event,
    note,
    open_as,
    seed_people,
    server,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_admin_reads_a_dm_with_a_reason_and_the_audit_log_shows_it(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    _event_id, people = event
    ada = open_as(browser, server, people["ada"], f"/dm/{people['grace'].id}?name=Grace")
    try:
        expect(ada.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        ada.page.get_by_label("Message to Grace").fill("A private word about the exam")
        ada.page.get_by_role("button", name="Send").click()
        expect(ada.page.locator("li.msg:not(.pending)", has_text="private word")).to_have_count(
            1, timeout=LIVE_MS
        )
    finally:
        ada.close()
    root = open_as(browser, server, people["root"], "/admin/messages")
    page = root.page
    try:
        lo, hi = sorted((people["ada"].id, people["grace"].id))
        page.get_by_label("Channel (e.g. event:3:chat, dm:4:9)").fill(f"dm:{lo}:{hi}")
        page.get_by_role("button", name="Search").click()
        # Reading a DM asks for a reason first.
        page.get_by_label(re.compile("Why do you need to read")).fill(
            "Complaint #42 about exam leaks"
        )
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("tr", has_text="private word about the exam")).to_have_count(
            1, timeout=LIVE_MS
        )
        shot(page, "admin-messages")
        # The export link carries the filter and the reason; it streams the same rows.
        href = page.get_by_role("link", name="Export CSV").get_attribute("href")
        assert href is not None and "reason=" in href
        csv_text = page.evaluate("(href) => fetch(href).then(r => r.text())", href)
        assert "private word about the exam" in csv_text
        page.get_by_role("link", name="Audit log").click()
        entry = page.locator("tr", has_text="review.search")
        expect(entry.first).to_contain_text("Complaint #42 about exam leaks", timeout=LIVE_MS)
        expect(entry.first).to_contain_text(f"dm:{lo}:{hi}")
        shot(page, "admin-audit")
        assert root.errors == []
    finally:
        root.close()


def test_admin_finds_a_user_blocks_and_resets_the_password(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    _, people = server.run(
        seed_people(
            server.db_url,
            "Users Screen",
            {"quentin_quirk": "participant", "una_admin": "none"},
            admins=("una_admin",),
        )
    )
    quentin = open_as(browser, server, people["quentin_quirk"], "/events")
    una = open_as(browser, server, people["una_admin"], "/admin/users")
    page = una.page
    try:
        expect(quentin.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        # Search by part of the name, pick the person from the list.
        page.get_by_label("Name or email contains").fill("quirk")
        page.get_by_role("button", name="Find").click()
        row = page.locator("tbody tr", has_text="Quentin Quirk")
        expect(row).to_have_count(1, timeout=LIVE_MS)
        expect(row).to_contain_text("active")
        expect(row).to_contain_text(people["quentin_quirk"].email)
        page.get_by_role("button", name="Choose Quentin Quirk").click()
        panel = page.get_by_role("region", name="Quentin Quirk")
        expect(panel.locator(".user-status")).to_have_text("active")
        shot(page, "admin-users")

        # Block: his open page loses its session at once (close code 4401 -> sign-in).
        panel.get_by_role("button", name="Block").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Reason (written to the audit log)").fill("Spamming the chat")
        dialog.get_by_role("button", name="Block").click()
        expect(panel.locator(".user-status")).to_have_text("blocked", timeout=LIVE_MS)
        expect(row).to_contain_text("blocked", timeout=LIVE_MS)
        expect(quentin.page).to_have_url(re.compile(r"/signin"), timeout=LIVE_MS)
        # Only blocked accounts are listed with the status filter.
        page.get_by_label("Status").select_option("blocked")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("tbody tr", has_text="Quentin Quirk")).to_have_count(1, timeout=LIVE_MS)
        shot(page, "admin-users-blocked")
        page.get_by_label("Status").select_option("")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("tbody tr", has_text="Quentin Quirk")).to_contain_text(
            "blocked", timeout=LIVE_MS
        )

        panel.get_by_role("button", name="Unblock").click()
        page.get_by_role("dialog").get_by_role("button", name="Unblock").click()
        expect(panel.locator(".user-status")).to_have_text("active", timeout=LIVE_MS)
        expect(page.locator("tbody tr", has_text="Quentin Quirk")).to_contain_text(
            "active", timeout=LIVE_MS
        )
        # Unblocked, he signs in again in the tab that lost its session: it is live again.
        quentin.page.get_by_label("Email").fill(people["quentin_quirk"].email)
        quentin.page.get_by_label("Password").fill(people["quentin_quirk"].password)
        quentin.page.get_by_role("button", name="Sign in").click()
        expect(quentin.page.get_by_role("heading", name="My events")).to_be_visible(timeout=LIVE_MS)
        expect(quentin.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)

        # Reset the password: the admin gets a one-time link, never the password.
        panel.get_by_role("button", name="Reset password").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Reason (written to the audit log)").fill("Forgot it, asked by phone")
        dialog.get_by_role("button", name="Reset password").click()
        link_field = panel.get_by_label(re.compile("Set-password link"))
        expect(link_field).to_have_value(re.compile(r"/invite/"), timeout=LIVE_MS)
        link = link_field.input_value()
        shot(page, "admin-users-reset")

        page.get_by_role("link", name="Audit log").click()
        for action, reason in (
            ("user.block", "Spamming the chat"),
            ("user.reset_password", "Forgot it, asked by phone"),
        ):
            expect(page.locator("tr", has_text=action).first).to_contain_text(
                reason, timeout=LIVE_MS
            )
        expect(page.locator("tr", has_text="users.read").first).to_contain_text("quirk")
        assert una.errors == []
    finally:
        una.close()
        quentin.close()

    # The link sets a new password and signs him in, once.
    ctx = browser.new_context()
    fresh = ctx.new_page()
    try:
        fresh.goto(link)
        expect(fresh.get_by_text("Hello Quentin Quirk")).to_be_visible(timeout=LIVE_MS)
        # A password with his own name in it is refused, and the form says why (issue 13).
        fresh.get_by_label("New password").fill("quentins new passphrase")
        fresh.get_by_label("Repeat the password").fill("quentins new passphrase")
        fresh.get_by_role("button", name="Set password and sign in").click()
        expect(fresh.get_by_role("alert")).to_contain_text(
            "your email address or your name", timeout=LIVE_MS
        )
        fresh.get_by_label("New password").fill("a fresh start with violins")
        fresh.get_by_label("Repeat the password").fill("a fresh start with violins")
        fresh.get_by_role("button", name="Set password and sign in").click()
        expect(fresh.get_by_role("heading", name="My events")).to_be_visible(timeout=LIVE_MS)
        fresh.goto(link)
        expect(fresh.get_by_role("alert")).to_contain_text("used already", timeout=LIVE_MS)
        expect(fresh.get_by_role("button", name="Set password and sign in")).to_be_disabled()
    finally:
        ctx.close()


def test_organiser_mails_and_cancels_participants_see_the_banner_and_get_the_mail(
    server: Server, browser: Any
) -> None:
    import mailbox
    from email.header import decode_header, make_header

    from playwright.sync_api import expect

    event_id, people = server.run(
        seed_people(
            server.db_url,
            "Cancelled Seminar",
            {"olga": "organiser", "pia": "participant", "paul": "participant"},
        )
    )
    pia = open_as(browser, server, people["pia"], "/events")
    olga = open_as(browser, server, people["olga"], f"/events/{event_id}/organiser/mail")
    page = olga.page
    try:
        expect(pia.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        # Compose a mail: the preview shows who gets it before sending.
        page.get_by_label("Subject").fill("Material for next week")
        page.get_by_label("Message (plain text)").fill("Please read *chapter 3*.")
        page.get_by_role("button", name="Preview recipients").click()
        expect(page.locator(".recipient-count")).to_have_text("3 recipients", timeout=LIVE_MS)
        expect(page.locator(".preview")).to_contain_text(people["pia"].email)
        shot(page, "organiser-compose")
        page.get_by_role("button", name="Send", exact=True).click()
        page.get_by_role("dialog").get_by_role("button", name="Send").click()
        expect(page.get_by_role("heading", name="Material for next week")).to_be_visible(
            timeout=LIVE_MS
        )
        expect(page.locator("tbody tr")).to_have_count(3)
        server.cli("mailer", "--until-idle")
        page.reload()
        expect(page.locator(".campaign-progress")).to_contain_text("3 of 3 done", timeout=LIVE_MS)
        expect(page.locator("td.status-sent")).to_have_count(3)
        shot(page, "organiser-campaign")

        # Cancel the event: participants see the banner live, and the mail arrives.
        page.get_by_role("link", name="Edit or cancel").click()
        page.get_by_label("Message to everyone").fill("The trainer is ill, sorry.")
        page.get_by_role("button", name="Cancel the event").click()
        page.get_by_role("button", name="Yes, cancel it").click()
        banner = pia.page.locator("#banner")
        expect(banner).to_contain_text("Cancelled: Cancelled Seminar", timeout=LIVE_MS)
        expect(banner).to_contain_text("The trainer is ill, sorry.")
        shot(pia.page, "participant-cancel-banner")
        # Who has it: Pia saw it live (her client acknowledged the banner).
        expect(page.get_by_role("heading", name="Who has it")).to_be_visible(timeout=LIVE_MS)
        page.reload()
        expect(page.locator(".who-has-it tr", has_text="Pia")).to_contain_text(
            "seen", timeout=LIVE_MS
        )
        shot(page, "organiser-who-has-it")
        server.cli("mailer", "--until-idle")
        box = mailbox.Maildir(str(server.maildir), create=False)
        subjects = {
            (str(make_header(decode_header(m["Subject"]))), m["To"]) for m in box
        }
        assert any(
            "Cancelled Seminar: cancelled" in s and people["pia"].email in to for s, to in subjects
        )
        assert pia.errors == [] and olga.errors == []
    finally:
        pia.close()
        olga.close()


def test_invitation_link_sets_the_password(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    async def invite() -> tuple[str, str]:
        from storage.db import Database
        from storage.repo.accounts import create_user
        from storage.repo.invitations import create_invitation

        db = Database(server.db_url)
        try:
            async with db.session() as s:
                email = f"newbie-{event_suffix()}@example.org"
                user = await create_user(s, email=email, display_name="Nina Newbie")
                return email, await create_invitation(s, user, created_by=None, ttl_secs=3600)
        finally:
            await db.close()

    _email, token = server.run(invite())
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/invite/{token}")
        expect(page.get_by_text("Hello Nina Newbie")).to_be_visible(timeout=LIVE_MS)
        page.get_by_label("New password").fill("a long and happy password")
        page.get_by_label("Repeat the password").fill("a long and happy password")
        shot(page, "invite")
        page.get_by_role("button", name="Set password and sign in").click()
        expect(page.get_by_role("heading", name="My events")).to_be_visible(timeout=LIVE_MS)
        page.get_by_role("link", name="Me").click()
        expect(page.get_by_label("Name", exact=True)).to_have_value("Nina Newbie", timeout=LIVE_MS)
        shot(page, "me")
    finally:
        ctx.close()


def event_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def test_signing_in_again_after_the_session_ended_is_live_for_news_and_back_where_it_was(
    server: Server, browser: Any
) -> None:
    """Blocked and unblocked while her page is open: she signs in again in the same tab,
    comes back to the room she was in, and the organiser's next change reaches her live."""
    from playwright.sync_api import expect

    event_id, people = server.run(
        seed_people(
            server.db_url,
            "Second Sign-in",
            {"pia": "participant", "olga": "organiser", "uma": "none"},
            admins=("uma",),
        )
    )
    room = f"/events/{event_id}"
    pia = open_as(browser, server, people["pia"], room)
    uma = open_as(browser, server, people["uma"], "/admin/users")
    olga = open_as(browser, server, people["olga"], room)

    def admin(path: str) -> int:
        return uma.page.evaluate(  # type: ignore[no-any-return]
            """(path) => fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json',
                'X-CSRF-Token': window.classhub.me.csrf_token},
                body: JSON.stringify({reason: 'test'})}).then(r => r.status)""",
            path,
        )

    try:
        expect(pia.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        assert admin(f"/api/users/{people['pia'].id}/block") == 200
        expect(pia.page).to_have_url(re.compile(r"/signin"), timeout=LIVE_MS)
        assert admin(f"/api/users/{people['pia'].id}/unblock") == 200
        pia.page.get_by_label("Email").fill(people["pia"].email)
        pia.page.get_by_label("Password").fill(people["pia"].password)
        pia.page.get_by_role("button", name="Sign in").click()
        expect(pia.page.get_by_role("heading", name="Second Sign-in")).to_be_visible(
            timeout=LIVE_MS
        )
        expect(pia.page).to_have_url(f"{server.url}{room}")
        expect(pia.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        status = olga.page.evaluate(
            f"""() => fetch('/api/events/{event_id}/changes', {{method: 'POST',
                headers: {{'Content-Type': 'application/json',
                           'X-CSRF-Token': window.classhub.me.csrf_token}},
                body: JSON.stringify({{location: 'Room Z', note: 'Moved'}})}})
                .then(r => r.status)"""
        )
        assert status == 201
        expect(pia.page.locator("#banner")).to_contain_text("place: Room Z", timeout=LIVE_MS)
        assert pia.errors == [] and uma.errors == [] and olga.errors == []
    finally:
        for tab in (pia, uma, olga):
            tab.close()


def test_an_event_that_is_not_there_says_where_to_go(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    _, people = server.run(seed_people(server.db_url, "Lost Link", {"pia": "participant"}))
    pia = open_as(browser, server, people["pia"], "/events")
    try:
        pia.page.goto(f"{server.url}/events/987654")
        expect(pia.page.get_by_role("main")).to_contain_text("event not found", timeout=LIVE_MS)
        pia.page.get_by_role("link", name="Go to my events").click()
        expect(pia.page.get_by_role("link", name="Lost Link")).to_be_visible(timeout=LIVE_MS)
    finally:
        pia.close()
