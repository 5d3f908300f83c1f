"""Live scenarios in Chromium: chat, notes, moderation, offline writes, admin review of a DM."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser_harness import Server, browser, open_as, seed_people, server, shot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_MS = 10_000  # generous bound for a live update to show; never a timing assert


@pytest.fixture(scope="module")
def event(server: Server) -> tuple[int, dict[str, Any]]:
    return server.run(  # type: ignore[no-any-return]
        seed_people(
            server.db_url,
            "Live Workshop",
            {"ada": "participant", "grace": "participant", "tina": "trainer", "root": "none"},
            admins=("root",),
        )
    )


def note(page: Any, text: str) -> Any:
    return page.locator("li.note", has_text=text)


def test_two_participants_and_a_trainer_chat_and_note_live(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    event_id, people = event
    room = f"/events/{event_id}"
    ada = open_as(browser, server, people["ada"], room)
    grace = open_as(browser, server, people["grace"], room, viewport={"width": 390, "height": 844})
    tina = open_as(browser, server, people["tina"], room)
    try:
        for tab in (ada, grace, tina):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        # Attendance: everyone sees the other two here now.
        expect(ada.page.locator(".attendance li")).to_have_count(3, timeout=LIVE_MS)
        expect(ada.page.locator(".attendance")).to_contain_text("Grace")
        expect(ada.page.locator(".attendance")).to_contain_text("Tina")

        ada.page.get_by_label("Message to everyone").fill("Hello from Ada <b>not bold</b>")
        ada.page.get_by_role("button", name="Send").click()
        for tab in (grace, tina):
            expect(tab.page.locator("li.msg", has_text="Hello from Ada")).to_have_count(
                1, timeout=LIVE_MS
            )
        # User content is text, never markup.
        expect(grace.page.locator("li.msg b")).to_have_count(0)
        expect(grace.page.locator("li.msg", has_text="<b>not bold</b>")).to_have_count(1)
        grace.page.get_by_label("Message to everyone").fill("Hi Ada, Grace here")
        grace.page.get_by_label("Message to everyone").press("Enter")
        tina.page.get_by_label("Message to everyone").fill("Welcome both, let us start")
        tina.page.get_by_role("button", name="Send").click()
        for tab in (ada, grace, tina):
            expect(tab.page.locator("li.msg", has_text="Welcome both")).to_have_count(
                1, timeout=LIVE_MS
            )
            expect(tab.page.locator("li.msg", has_text="Grace here")).to_have_count(
                1, timeout=LIVE_MS
            )
            expect(tab.page.locator("li.msg.pending")).to_have_count(0, timeout=LIVE_MS)
        shot(ada.page, "room-chat")
        shot(grace.page, "room-chat-phone")

        # Notes: Ada posts, everyone sees it live; Tina and Grace vote; Ada sees the count.
        for tab in (ada, grace, tina):
            tab.page.get_by_role("link", name="Pinboard").click()
            expect(tab.page.get_by_role("heading", name="Pinboard")).to_be_visible()
        ada.page.get_by_label("New note").fill("Ada's idea: more coffee breaks")
        ada.page.get_by_role("button", name="Post note").click()
        for tab in (grace, tina):
            expect(note(tab.page, "more coffee breaks")).to_have_count(1, timeout=LIVE_MS)
        # A draft stays private until released.
        grace.page.get_by_label("New note").fill("Grace's draft about slides")
        grace.page.get_by_role("button", name="Save as draft").click()
        expect(note(grace.page, "draft about slides")).to_contain_text("draft (only you see it)")
        grace.page.get_by_role("button", name=re.compile(r"^Vote \(0\)")).first.click()
        tina.page.get_by_role("button", name=re.compile(r"^Vote")).first.click()
        expect(note(ada.page, "more coffee breaks")).to_contain_text("2 votes", timeout=LIVE_MS)
        expect(note(tina.page, "draft about slides")).to_have_count(0)
        grace.page.get_by_role("button", name=re.compile(r"^Release")).click()
        expect(note(tina.page, "draft about slides")).to_have_count(1, timeout=LIVE_MS)
        # A reply under Ada's note.
        note(tina.page, "more coffee breaks").get_by_role(
            "button", name=re.compile("^Reply")
        ).click()
        tina.page.get_by_label("Your reply").fill("Agreed, every hour")
        tina.page.get_by_role("button", name="Reply", exact=True).click()
        expect(note(ada.page, "more coffee breaks").locator(".replies")).to_contain_text(
            "Agreed, every hour", timeout=LIVE_MS
        )
        # A trainer adds a section; Ada drags her note into it.
        tina.page.get_by_label("New section").fill("Ideas")
        tina.page.get_by_role("button", name="Add section").click()
        section = ada.page.locator(
            "section.section", has=ada.page.get_by_role("heading", name=re.compile("^Ideas"))
        )
        expect(section).to_have_count(1, timeout=LIVE_MS)
        note(ada.page, "more coffee breaks").drag_to(section)
        grace_section = grace.page.locator(
            "section.section", has=grace.page.get_by_role("heading", name=re.compile("^Ideas"))
        )
        expect(note(grace_section, "more coffee breaks")).to_have_count(1, timeout=LIVE_MS)
        shot(tina.page, "room-board")
        for tab in (ada, grace, tina):
            assert tab.errors == []
    finally:
        for tab in (ada, grace, tina):
            tab.close()


def test_note_taken_offline_and_reinstated(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    event_id, people = event
    board = f"/events/{event_id}/board"
    ada = open_as(browser, server, people["ada"], board)
    grace = open_as(browser, server, people["grace"], board)
    tina = open_as(browser, server, people["tina"], f"/trainer/{event_id}")
    try:
        for tab in (ada, grace, tina):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        ada.page.get_by_label("New note").fill("An off-topic remark")
        ada.page.get_by_role("button", name="Post note").click()
        expect(note(grace.page, "off-topic remark")).to_have_count(1, timeout=LIVE_MS)
        row = tina.page.locator("tr", has_text="off-topic remark")
        expect(row).to_have_count(1, timeout=LIVE_MS)
        row.get_by_role("button", name=re.compile("^Take offline")).click()
        tina.page.get_by_label("Reason (sent to the author)").fill("Please keep to the topic")
        tina.page.get_by_role("button", name="Take offline", exact=True).click()
        expect(note(grace.page, "off-topic remark")).to_have_count(0, timeout=LIVE_MS)
        # The author still sees it, marked offline with the reason, and is told at once.
        expect(note(ada.page, "off-topic remark")).to_contain_text(
            "taken offline: Please keep to the topic", timeout=LIVE_MS
        )
        expect(ada.page.locator("#toast")).to_contain_text(
            "Please keep to the topic", timeout=LIVE_MS
        )
        offline_row = tina.page.locator(
            "section", has=tina.page.get_by_role("heading", name=re.compile("^Taken offline"))
        ).locator("tr", has_text="off-topic remark")
        expect(offline_row).to_have_count(1, timeout=LIVE_MS)
        shot(tina.page, "trainer-moderation")
        # Contact the author: the conversation opens with the reason, and the trainer can write.
        offline_row.get_by_role("link", name=re.compile("^Contact the author")).click()
        expect(tina.page.get_by_role("heading", name="Direct messages with Ada")).to_be_visible(
            timeout=LIVE_MS
        )
        expect(tina.page.locator("li.msg", has_text="Please keep to the topic")).to_have_count(
            1, timeout=LIVE_MS
        )
        tina.page.get_by_label("Message to Ada").fill("Happy to talk it through")
        tina.page.get_by_role("button", name="Send").click()
        expect(tina.page.locator("li.msg.pending")).to_have_count(0, timeout=LIVE_MS)
        tina.page.go_back()
        offline_row = tina.page.locator(
            "section", has=tina.page.get_by_role("heading", name=re.compile("^Taken offline"))
        ).locator("tr", has_text="off-topic remark")
        offline_row.get_by_role("button", name=re.compile("^Reinstate")).click()
        expect(note(grace.page, "off-topic remark")).to_have_count(1, timeout=LIVE_MS)
        expect(note(ada.page, "off-topic remark")).not_to_contain_text(
            "taken offline", timeout=LIVE_MS
        )
        # The conversation with the trainer opened with the reason.
        ada.page.goto(f"{server.url}/dm/{people['tina'].id}")
        expect(ada.page.locator("li.msg", has_text="Please keep to the topic")).to_have_count(
            1, timeout=LIVE_MS
        )
        expect(ada.page.locator("li.msg", has_text="Happy to talk it through")).to_have_count(
            1, timeout=LIVE_MS
        )
        for tab in (ada, grace, tina):
            assert tab.errors == []
    finally:
        for tab in (ada, grace, tina):
            tab.close()


def test_offline_note_and_message_are_sent_once_on_reconnect(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    event_id, people = event
    board = f"/events/{event_id}/board"
    ada = open_as(browser, server, people["ada"], board)
    grace = open_as(browser, server, people["grace"], board)
    page = ada.page
    try:
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.context.set_offline(True)
        expect(page.locator("#conn")).to_have_text("offline", timeout=LIVE_MS)
        page.get_by_label("New note").fill("Written in the train tunnel")
        page.get_by_role("button", name="Post note").click()
        expect(page.locator(".unsent")).to_contain_text("Written in the train tunnel")
        # The last seen content stays readable offline, after a reload too.
        page.reload()
        expect(page.get_by_role("heading", name="Pinboard")).to_be_visible(timeout=LIVE_MS)
        expect(page.locator(".unsent")).to_contain_text("Written in the train tunnel")
        page.get_by_role("link", name="Chat").click()
        page.get_by_label("Message to everyone").fill("Typed while offline")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("li.msg.pending", has_text="Typed while offline")).to_have_count(1)
        shot(page, "offline-pending")
        page.context.set_offline(False)
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        expect(page.locator("li.msg.pending")).to_have_count(0, timeout=LIVE_MS)
        expect(page.locator("li.msg", has_text="Typed while offline")).to_have_count(1)
        expect(note(grace.page, "train tunnel")).to_have_count(1, timeout=LIVE_MS)
        grace.page.get_by_role("link", name="Chat").click()
        expect(grace.page.locator("li.msg", has_text="Typed while offline")).to_have_count(
            1, timeout=LIVE_MS
        )
        # Exactly once, also as stored on the server.
        page.get_by_role("link", name="Pinboard").click()
        expect(note(page, "train tunnel")).to_have_count(1, timeout=LIVE_MS)
        expect(page.locator(".unsent li")).to_have_count(0)
        snapshot = page.evaluate(
            f"fetch('/api/pinboard/events/{event_id}/board').then(r => r.json())"
        )
        assert [n["text"] for n in snapshot["notes"]].count("Written in the train tunnel") == 1
        assert ada.errors == []
    finally:
        ada.close()
        grace.close()


def test_a_note_whose_answer_was_lost_is_replayed_with_its_client_id_and_stored_once(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """The server stores the note but the answer never reaches the page: the outbox
    keeps it and replays it with the same client id; the server answers 200 with the
    same note instead of storing a second one."""
    from playwright.sync_api import expect

    event_id, people = event
    board = f"/events/{event_id}/board"
    ada = open_as(browser, server, people["ada"], board)
    grace = open_as(browser, server, people["grace"], board)
    page = ada.page
    sent: list[tuple[str, int]] = []  # (client_id, status) as the server answered

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch()
        sent.append((route.request.post_data_json["client_id"], answer.status))
        if len(sent) == 1:
            route.abort("connectionreset")  # stored on the server, lost on the way back
        else:
            route.fulfill(response=answer)

    try:
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        expect(grace.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        page.route("**/api/pinboard/boards/*/notes", lose_the_first_answer)
        page.get_by_label("New note").fill("Answer lost on the way back")
        page.get_by_role("button", name="Post note").click()
        expect(page.locator(".unsent")).to_contain_text(
            "Answer lost on the way back", timeout=LIVE_MS
        )
        expect(note(grace.page, "Answer lost on the way back")).to_have_count(1, timeout=LIVE_MS)
        # Back "online": the outbox replays the note with the same client id.
        page.context.set_offline(True)
        expect(page.locator("#conn")).to_have_text("offline", timeout=LIVE_MS)
        page.context.set_offline(False)
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        expect(page.locator(".unsent li")).to_have_count(0, timeout=LIVE_MS)
        assert len(sent) == 2 and sent[0][0] == sent[1][0], sent
        assert [status for _, status in sent] == [201, 200]
        expect(note(page, "Answer lost on the way back")).to_have_count(1, timeout=LIVE_MS)
        page.wait_for_timeout(500)  # a second note.published would arrive live by now
        expect(note(grace.page, "Answer lost on the way back")).to_have_count(1)
        snapshot = page.evaluate(
            f"fetch('/api/pinboard/events/{event_id}/board').then(r => r.json())"
        )
        assert [n["text"] for n in snapshot["notes"]].count("Answer lost on the way back") == 1
        assert ada.errors == []
    finally:
        ada.close()
        grace.close()


async def _chat_texts(db_url: str, channel: str) -> list[str]:
    from storage.db import Database
    from storage.repo.channel_log import read_since

    db = Database(db_url)
    try:
        async with db.session() as session:
            return [
                str(e.body.get("text", "")) for e in await read_since(session, channel, 0, 10_000)
            ]
    finally:
        await db.close()


def test_the_next_person_on_a_shared_device_gets_nothing_of_the_previous_ones(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """Ada writes offline on a classroom computer and her session ends without her signing
    out (idle, expired, blocked: here its cookie is gone). Grace signs in on the same
    browser: Ada's unsent note and message are not sent in Grace's name, and nothing of
    Ada's cached content is shown to her."""
    from playwright.sync_api import expect

    event_id, people = event
    board = f"/events/{event_id}/board"
    marker = f"Ada unsent {uuid.uuid4().hex[:8]}"
    ada = open_as(browser, server, people["ada"], board)
    page = ada.page
    try:
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        expect(page.get_by_label("New note")).to_be_visible(timeout=LIVE_MS)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.context.set_offline(True)
        expect(page.locator("#conn")).to_have_text("offline", timeout=LIVE_MS)
        page.get_by_label("New note").fill(f"{marker} note")
        page.get_by_role("button", name="Post note").click()
        expect(page.locator(".unsent")).to_contain_text(f"{marker} note")
        page.get_by_role("link", name="Chat").click()
        page.get_by_label("Message to everyone").fill(f"{marker} chat")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("li.msg.pending", has_text=marker)).to_have_count(1)
        page.context.clear_cookies()
        page.context.set_offline(False)

        grace = people["grace"]
        page.goto(f"{server.url}/signin?next={board}")
        page.get_by_label("Email").fill(grace.email)
        page.get_by_label("Password").fill(grace.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}{board}")
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        page.evaluate("import('/static/js/outbox.js').then((m) => m.flushHttpOutbox())")
        expect(page.locator(".unsent li")).to_have_count(0)
        snapshot = page.evaluate(
            f"fetch('/api/pinboard/events/{event_id}/board').then(r => r.json())"
        )
        assert not [n for n in snapshot["notes"] if marker in (n["text"] or "")], snapshot["notes"]
        # Grace's own message, acked over the same socket after anything queued before it.
        page.get_by_role("link", name="Chat").click()
        expect(page.locator("li.msg.pending", has_text=marker)).to_have_count(0)
        page.get_by_label("Message to everyone").fill("Grace is here")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("li.msg:not(.pending)", has_text="Grace is here")).to_have_count(
            1, timeout=LIVE_MS
        )
        texts = server.run(_chat_texts(server.db_url, f"event:{event_id}:chat"))
        assert "Grace is here" in texts and not [t for t in texts if marker in t], texts
        assert ada.errors == []
    finally:
        ada.close()


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


def test_learning_group_chat_and_board(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    event_id, people = event
    tina = open_as(browser, server, people["tina"], f"/events/{event_id}/groups")
    try:
        tina.page.get_by_label("New group").fill("Team A")
        tina.page.get_by_role("button", name="Create").click()
        expect(tina.page.get_by_role("link", name="Team A (0)")).to_be_visible(timeout=LIVE_MS)
        group_id = int(tina.page.url.split("group=")[1].split("&")[0])
        tina.page.evaluate(
            f"""() => fetch('/api/groups/{group_id}/members', {{method: 'POST',
                headers: {{'Content-Type': 'application/json',
                           'X-CSRF-Token': window.classhub.me.csrf_token}},
                body: JSON.stringify({{user_id: {people['ada'].id}}})}}).then(r => r.status)"""
        )
        ada = open_as(browser, server, people["ada"], f"/events/{event_id}/groups")
        try:
            expect(ada.page.get_by_text("Members: Ada")).to_be_visible(timeout=LIVE_MS)
            ada.page.get_by_label("Message to Team A").fill("Group work starts now")
            ada.page.get_by_role("button", name="Send").click()
            tina.page.reload()
            expect(tina.page.locator("li.msg", has_text="Group work starts now")).to_have_count(
                1, timeout=LIVE_MS
            )
            shot(ada.page, "room-groups")
            ada.page.get_by_role("link", name="Group pinboard").click()
            ada.page.get_by_label("New note").fill("Team A notes here")
            ada.page.get_by_role("button", name="Post note").click()
            tina.page.get_by_role("link", name="Group pinboard").click()
            expect(note(tina.page, "Team A notes here")).to_have_count(1, timeout=LIVE_MS)
            assert ada.errors == [] and tina.errors == []
        finally:
            ada.close()
    finally:
        tina.close()


def test_premoderation_queue(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    event_id, people = event
    tina = open_as(browser, server, people["tina"], f"/trainer/{event_id}")
    ada = open_as(browser, server, people["ada"], f"/events/{event_id}/board")
    grace = open_as(browser, server, people["grace"], f"/events/{event_id}/board")
    try:
        tina.page.get_by_label("Pre-moderation: released notes wait for approval").check()
        expect(tina.page.locator("#toast")).to_contain_text("Pre-moderation on", timeout=LIVE_MS)
        ada.page.reload()
        ada.page.get_by_label("New note").fill("Please approve me")
        ada.page.get_by_role("button", name="Post note").click()
        expect(note(ada.page, "Please approve me")).to_contain_text(
            "waiting for approval", timeout=LIVE_MS
        )
        queued = tina.page.locator(
            "section",
            has=tina.page.get_by_role("heading", name=re.compile("^Waiting for approval")),
        ).locator("tr", has_text="Please approve me")
        expect(queued).to_have_count(1, timeout=LIVE_MS)
        expect(note(grace.page, "Please approve me")).to_have_count(0)
        queued.get_by_role("button", name=re.compile("^Approve")).click()
        expect(note(grace.page, "Please approve me")).to_have_count(1, timeout=LIVE_MS)
        expect(note(ada.page, "Please approve me")).not_to_contain_text(
            "waiting for approval", timeout=LIVE_MS
        )
        tina.page.get_by_label("Pre-moderation: released notes wait for approval").uncheck()
        expect(tina.page.locator("#toast")).to_contain_text("Pre-moderation off", timeout=LIVE_MS)
        for tab in (ada, grace, tina):
            assert tab.errors == []
    finally:
        for tab in (ada, grace, tina):
            tab.close()


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


def test_counts_and_tags_read_right(server: Server, browser: Any) -> None:
    """One note is "1 note"; a cancelled event is tagged cancelled once; tag lists have no
    bullets."""
    from playwright.sync_api import expect

    event_id, people = server.run(
        seed_people(server.db_url, "Small Print", {"pia": "participant", "olga": "organiser"})
    )
    pia = open_as(browser, server, people["pia"], f"/events/{event_id}/board")
    olga = open_as(browser, server, people["olga"], f"/events/{event_id}/organiser/edit")
    try:
        pia.page.get_by_label("New note").fill("The only note")
        pia.page.get_by_role("button", name="Post note").click()
        expect(note(pia.page, "The only note")).to_have_count(1, timeout=LIVE_MS)
        expect(pia.page.locator(".pinboard [role=status]")).to_have_text("1 note")
        olga.page.get_by_role("button", name="Cancel the event").click()
        olga.page.get_by_role("button", name="Yes, cancel it").click()
        expect(olga.page.get_by_role("heading", name="Who has it")).to_be_visible(timeout=LIVE_MS)
        bullets = olga.page.evaluate(
            "[...document.querySelectorAll('main ul.tags')]"
            ".map((ul) => getComputedStyle(ul).listStyleType)"
        )
        assert bullets and set(bullets) == {"none"}, bullets
        pia.page.get_by_role("link", name="My events").click()
        card = pia.page.locator("li.card", has_text="Small Print")
        expect(card).to_have_count(1, timeout=LIVE_MS)
        expect(card.locator(".tag", has_text="cancelled")).to_have_count(1)
        assert pia.errors == [] and olga.errors == []
    finally:
        pia.close()
        olga.close()


def test_author_page_asks_for_no_deleted_note(server: Server, browser: Any) -> None:
    """A trainer deletes a note: its author is told, and the page does not ask for it (a 404)."""
    from playwright.sync_api import expect

    event_id, people = server.run(
        seed_people(server.db_url, "Deleted Note", {"pia": "participant", "tina": "trainer"})
    )
    pia = open_as(browser, server, people["pia"], f"/events/{event_id}/board")
    tina = open_as(browser, server, people["tina"], f"/trainer/{event_id}")
    failed: list[str] = []
    pia.page.on(
        "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    try:
        pia.page.get_by_label("New note").fill("Off topic, to be deleted")
        pia.page.get_by_role("button", name="Post note").click()
        row = tina.page.locator("tr", has_text="Off topic, to be deleted")
        expect(row).to_have_count(1, timeout=LIVE_MS)
        row.get_by_role("button", name=re.compile("^Delete")).click()
        tina.page.get_by_label("Reason (sent to the author)").fill("Not about the course")
        tina.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(pia.page.locator("#toast")).to_contain_text("Not about the course", timeout=LIVE_MS)
        expect(note(pia.page, "Off topic, to be deleted")).to_have_count(0, timeout=LIVE_MS)
        pia.page.wait_for_timeout(500)  # a refetch would have been answered by now
        assert failed == []
        assert pia.errors == [] and tina.errors == []
    finally:
        pia.close()
        tina.close()


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


def test_a_direct_message_is_announced_to_its_recipient_wherever_they_are(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """Grace is on her events page when Ada writes to her: the top bar says so and
    leads to the conversation; opening it clears the alert."""
    from playwright.sync_api import expect

    _event_id, people = event
    grace = open_as(browser, server, people["grace"], "/events")
    ada = open_as(browser, server, people["ada"], f"/dm/{people['grace'].id}?name=Grace")
    try:
        expect(grace.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        expect(ada.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        expect(grace.page.locator("#dm-alert")).to_have_count(0)
        for text in ("Are you coming to the lab?", "It starts at ten"):
            ada.page.get_by_label("Message to Grace").fill(text)
            ada.page.get_by_role("button", name="Send").click()
            expect(ada.page.locator("li.msg:not(.pending)", has_text=text)).to_have_count(
                1, timeout=LIVE_MS
            )
        alert = grace.page.locator("#dm-alert")
        expect(alert).to_have_text("2 new direct messages", timeout=LIVE_MS)
        shot(grace.page, "dm-alert")
        alert.click()
        expect(grace.page).to_have_url(re.compile(rf"/dm/{people['ada'].id}$"))
        expect(grace.page.locator("li.msg", has_text="It starts at ten")).to_have_count(
            1, timeout=LIVE_MS
        )
        expect(grace.page.locator("#dm-alert")).to_have_count(0)
        # Within the open conversation a new message needs no alert.
        ada.page.get_by_label("Message to Grace").fill("See you there")
        ada.page.get_by_role("button", name="Send").click()
        expect(grace.page.locator("li.msg", has_text="See you there")).to_have_count(
            1, timeout=LIVE_MS
        )
        expect(grace.page.locator("#dm-alert")).to_have_count(0)
        assert grace.errors == [] and ada.errors == []
    finally:
        ada.close()
        grace.close()


def test_a_note_the_server_could_not_take_is_sent_again_while_online(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """The server answers 503 to a note (the store busy for a moment) while the connection
    stays up: no reconnect will replay it, so the client sends it again on a timer, once."""
    from playwright.sync_api import expect

    event_id, people = event
    board = f"/events/{event_id}/board"
    ada = open_as(browser, server, people["ada"], board)
    grace = open_as(browser, server, people["grace"], board)
    page = ada.page
    refused: list[str] = []

    def busy_once(route: Any) -> None:
        if route.request.method == "POST" and not refused:
            refused.append(route.request.url)
            route.fulfill(status=503, content_type="application/json",
                          body='{"error": {"code": "store_unavailable", "message": "try again"}}')
        else:
            route.continue_()

    try:
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        page.route("**/api/pinboard/boards/*/notes", busy_once)
        page.get_by_label("New note").fill("Sent again after a busy moment")
        page.get_by_role("button", name="Post note").click()
        expect(page.locator("#toast")).to_contain_text("sent again in a moment")
        assert len(refused) == 1
        # Without a reconnect it reaches the board, on both pages, once.
        for tab in (ada, grace):
            expect(note(tab.page, "Sent again after a busy moment")).to_have_count(
                1, timeout=LIVE_MS
            )
        expect(page.locator(".unsent li")).to_have_count(0, timeout=LIVE_MS)
        assert ada.errors == [] and grace.errors == []
    finally:
        ada.close()
        grace.close()


def test_live_updates_keep_the_focused_button_and_the_half_written_note(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """Grace is mid-way through a note (text typed, a section chosen) with the keyboard on the
    Vote button of Ada's note when Ada's vote on that very note and a new note of hers arrive
    live: the board changes in place (keyed by note id), so the same button element keeps the
    focus under its new label, the note is the same element, and the composer keeps its text
    and section. Enter then votes from where she was."""
    from playwright.sync_api import expect

    event_id, people = event
    tag = uuid.uuid4().hex[:6]
    board = f"/events/{event_id}/board"
    ada = open_as(browser, server, people["ada"], board)
    grace = open_as(browser, server, people["grace"], board)
    tina = open_as(browser, server, people["tina"], board)
    try:
        for tab in (ada, grace, tina):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        tina.page.get_by_label("New section").fill(f"Later {tag}")
        tina.page.get_by_role("button", name="Add section").click()
        ada.page.get_by_label("New note").fill(f"Keep the focus {tag}")
        ada.page.get_by_role("button", name="Post note").click()
        theirs = note(grace.page, f"Keep the focus {tag}")
        expect(theirs).to_have_count(1, timeout=LIVE_MS)
        page = grace.page
        section = page.get_by_label("Section", exact=True)
        expect(section.locator("option", has_text=f"Later {tag}")).to_have_count(1, timeout=LIVE_MS)
        page.get_by_label("New note").fill(f"Half-written {tag}")
        section.select_option(label=f"Later {tag}")
        chosen = section.input_value()
        theirs.get_by_role("button", name=re.compile(r"^Vote \(0\)")).focus()
        # Mark the elements themselves: a rebuilt element would not carry the mark.
        page.evaluate(
            """() => { document.activeElement.keptMark = 'vote';
                document.activeElement.closest('li.note').keptMark = 'note';
                document.querySelector('textarea[name=note]').keptMark = 'composer'; }"""
        )

        # Live updates: Ada votes on her note, posts another, and Tina renames the chosen section.
        note(ada.page, f"Keep the focus {tag}").get_by_role(
            "button", name=re.compile(r"^Vote \(0\)")
        ).click()
        ada.page.get_by_label("New note").fill(f"Arrives meanwhile {tag}")
        ada.page.get_by_role("button", name="Post note").click()
        tina.page.get_by_role("button", name=f"Rename section Later {tag}").click()
        tina.page.get_by_role("dialog").get_by_label("Title").fill(f"Soon {tag}")
        tina.page.get_by_role("dialog").get_by_role("button", name="Rename").click()
        expect(theirs).to_contain_text("1 vote", timeout=LIVE_MS)
        expect(note(page, f"Arrives meanwhile {tag}")).to_have_count(1, timeout=LIVE_MS)
        expect(section.locator("option", has_text=f"Soon {tag}")).to_have_count(1, timeout=LIVE_MS)

        kept = page.evaluate(
            """(text) => { const el = document.activeElement;
                const li = [...document.querySelectorAll('li.note')]
                    .find((x) => x.textContent.includes(text));
                return [el.keptMark ?? null, el.getAttribute('aria-label'), li.keptMark ?? null,
                        document.querySelector('textarea[name=note]').keptMark ?? null]; }""",
            f"Keep the focus {tag}",
        )
        assert kept[0] == "vote" and kept[1].startswith("Vote (1)"), kept
        assert kept[2:] == ["note", "composer"], kept
        expect(page.get_by_label("New note")).to_have_value(f"Half-written {tag}")
        assert section.input_value() == chosen
        # The keyboard carries on from the same button.
        page.keyboard.press("Enter")
        expect(note(ada.page, f"Keep the focus {tag}")).to_contain_text("2 votes", timeout=LIVE_MS)
        expect(theirs.get_by_role("button", name=re.compile(r"^Unvote \(2\)"))).to_be_focused(
            timeout=LIVE_MS
        )
        assert page.evaluate("() => document.activeElement.keptMark") == "vote"
        for tab in (ada, grace, tina):
            assert tab.errors == []
    finally:
        for tab in (ada, grace, tina):
            tab.close()
