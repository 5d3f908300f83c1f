"""Live scenarios in Chromium: chat, notes, votes, replies, moderation, learning groups,
pre-moderation, counts and tags, news of a direct message."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.board_ui import write_note
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
        write_note(ada.page, "Ada's idea: more coffee breaks")
        for tab in (grace, tina):
            expect(note(tab.page, "more coffee breaks")).to_have_count(1, timeout=LIVE_MS)
        # A draft stays private until released.
        write_note(grace.page, "Grace's draft about slides", draft=True)
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
        tina.page.get_by_role("button", name="+ section").click()
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
        write_note(ada.page, "An off-topic remark")
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
            write_note(ada.page, "Team A notes here")
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
        write_note(ada.page, "Please approve me")
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
        write_note(pia.page, "The only note")
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
        write_note(pia.page, "Off topic, to be deleted")
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
