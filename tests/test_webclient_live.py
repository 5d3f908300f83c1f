"""Live scenarios in Chromium: chat, notes, moderation, offline writes, admin review of a DM."""

from __future__ import annotations

import re
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


def test_two_participants_and_a_trainer_chat_and_note_live(server: Server, browser: Any, event: tuple[int, dict[str, Any]]) -> None:
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
            expect(tab.page.locator("li.msg", has_text="Hello from Ada")).to_have_count(1, timeout=LIVE_MS)
        # User content is text, never markup.
        expect(grace.page.locator("li.msg b")).to_have_count(0)
        expect(grace.page.locator("li.msg", has_text="<b>not bold</b>")).to_have_count(1)
        grace.page.get_by_label("Message to everyone").fill("Hi Ada, Grace here")
        grace.page.get_by_label("Message to everyone").press("Enter")
        tina.page.get_by_label("Message to everyone").fill("Welcome both, let us start")
        tina.page.get_by_role("button", name="Send").click()
        for tab in (ada, grace, tina):
            expect(tab.page.locator("li.msg", has_text="Welcome both")).to_have_count(1, timeout=LIVE_MS)
            expect(tab.page.locator("li.msg", has_text="Grace here")).to_have_count(1, timeout=LIVE_MS)
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
        note(tina.page, "more coffee breaks").get_by_role("button", name=re.compile("^Reply")).click()
        tina.page.get_by_label("Your reply").fill("Agreed, every hour")
        tina.page.get_by_role("button", name="Reply", exact=True).click()
        expect(note(ada.page, "more coffee breaks").locator(".replies")).to_contain_text("Agreed, every hour", timeout=LIVE_MS)
        # A trainer adds a section; Ada drags her note into it.
        tina.page.get_by_label("New section").fill("Ideas")
        tina.page.get_by_role("button", name="Add section").click()
        section = ada.page.locator("section.section", has=ada.page.get_by_role("heading", name=re.compile("^Ideas")))
        expect(section).to_have_count(1, timeout=LIVE_MS)
        note(ada.page, "more coffee breaks").drag_to(section)
        grace_section = grace.page.locator("section.section", has=grace.page.get_by_role("heading", name=re.compile("^Ideas")))
        expect(note(grace_section, "more coffee breaks")).to_have_count(1, timeout=LIVE_MS)
        shot(tina.page, "room-board")
        for tab in (ada, grace, tina):
            assert tab.errors == []
    finally:
        for tab in (ada, grace, tina):
            tab.close()


def test_note_taken_offline_and_reinstated(server: Server, browser: Any, event: tuple[int, dict[str, Any]]) -> None:
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
        expect(note(ada.page, "off-topic remark")).to_contain_text("taken offline: Please keep to the topic", timeout=LIVE_MS)
        expect(ada.page.locator("#toast")).to_contain_text("Please keep to the topic", timeout=LIVE_MS)
        offline_row = tina.page.locator("section", has=tina.page.get_by_role("heading", name=re.compile("^Taken offline"))).locator("tr", has_text="off-topic remark")
        expect(offline_row).to_have_count(1, timeout=LIVE_MS)
        shot(tina.page, "trainer-moderation")
        offline_row.get_by_role("button", name=re.compile("^Reinstate")).click()
        expect(note(grace.page, "off-topic remark")).to_have_count(1, timeout=LIVE_MS)
        expect(note(ada.page, "off-topic remark")).not_to_contain_text("taken offline", timeout=LIVE_MS)
        # The conversation with the trainer opened with the reason.
        ada.page.goto(f"{server.url}/dm/{people['tina'].id}")
        expect(ada.page.locator("li.msg", has_text="Please keep to the topic")).to_have_count(1, timeout=LIVE_MS)
        for tab in (ada, grace, tina):
            assert tab.errors == []
    finally:
        for tab in (ada, grace, tina):
            tab.close()


def test_offline_note_and_message_are_sent_once_on_reconnect(server: Server, browser: Any, event: tuple[int, dict[str, Any]]) -> None:
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
        expect(grace.page.locator("li.msg", has_text="Typed while offline")).to_have_count(1, timeout=LIVE_MS)
        # Exactly once, also as stored on the server.
        page.get_by_role("link", name="Pinboard").click()
        expect(note(page, "train tunnel")).to_have_count(1, timeout=LIVE_MS)
        expect(page.locator(".unsent li")).to_have_count(0)
        snapshot = page.evaluate(f"fetch('/api/pinboard/events/{event_id}/board').then(r => r.json())")
        assert [n["text"] for n in snapshot["notes"]].count("Written in the train tunnel") == 1
        assert ada.errors == []
    finally:
        ada.close()
        grace.close()


def test_admin_reads_a_dm_with_a_reason_and_the_audit_log_shows_it(server: Server, browser: Any, event: tuple[int, dict[str, Any]]) -> None:
    from playwright.sync_api import expect

    event_id, people = event
    ada = open_as(browser, server, people["ada"], f"/dm/{people['grace'].id}?name=Grace")
    try:
        expect(ada.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        ada.page.get_by_label("Message to Grace").fill("A private word about the exam")
        ada.page.get_by_role("button", name="Send").click()
        expect(ada.page.locator("li.msg:not(.pending)", has_text="private word")).to_have_count(1, timeout=LIVE_MS)
    finally:
        ada.close()
    root = open_as(browser, server, people["root"], "/admin/messages")
    page = root.page
    try:
        lo, hi = sorted((people["ada"].id, people["grace"].id))
        page.get_by_label("Channel (e.g. event:3:chat, dm:4:9)").fill(f"dm:{lo}:{hi}")
        page.get_by_role("button", name="Search").click()
        # Reading a DM asks for a reason first.
        page.get_by_label(re.compile("Why do you need to read")).fill("Complaint #42 about exam leaks")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("tr", has_text="private word about the exam")).to_have_count(1, timeout=LIVE_MS)
        shot(page, "admin-messages")
        page.get_by_role("link", name="Audit log").click()
        entry = page.locator("tr", has_text="review.search")
        expect(entry.first).to_contain_text("Complaint #42 about exam leaks", timeout=LIVE_MS)
        expect(entry.first).to_contain_text(f"dm:{lo}:{hi}")
        shot(page, "admin-audit")
        assert root.errors == []
    finally:
        root.close()
