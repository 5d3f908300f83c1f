"""The pinboard in Chromium (issue 18): the board comes first with a "+ note" per section,
a reinstated note keeps its replies and the viewer's vote on other open boards, and no
main screen is wider than a phone."""

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
    server,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _first_note_box(page: Any) -> dict[str, float]:
    first = page.locator("li.note").first
    first.wait_for(timeout=LIVE_MS)
    box = first.bounding_box()
    assert box is not None
    return box  # type: ignore[no-any-return]


def test_the_board_comes_first_and_a_note_is_written_in_place(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """On a laptop and on a phone the first note is above the fold on opening the board;
    "+ note" opens the composer in its section, by keyboard too, and the note is posted."""
    from playwright.sync_api import expect

    event_id, people = event
    board = f"/events/{event_id}/board"
    ada = open_as(browser, server, people["ada"], board, viewport=LAPTOP)
    grace = open_as(browser, server, people["grace"], board, viewport=PHONE)
    tina = open_as(browser, server, people["tina"], board, viewport=LAPTOP)
    try:
        page = ada.page
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        # No composer until asked for: the board is what the page opens with.
        expect(page.get_by_label("New note")).to_have_count(0)
        # Keyboard only: Tab reaches "+ note", Enter opens the composer with the focus in it,
        # Escape closes it and gives the focus back, Ctrl+Enter posts.
        add = page.get_by_role("button", name="+ note in Unsorted", exact=True)
        add.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_label("New note")).to_be_focused()
        page.keyboard.type("Typed, then thought better of")
        page.keyboard.press("Escape")
        expect(page.get_by_label("New note")).to_have_count(0)
        expect(add).to_be_focused()
        page.keyboard.press("Enter")
        page.keyboard.type("Written with the keyboard alone")
        page.keyboard.press("Control+Enter")
        expect(note(page, "Written with the keyboard alone")).to_have_count(1, timeout=LIVE_MS)
        expect(page.get_by_label("New note")).to_have_count(0)
        expect(add).to_be_focused()
        # With the mouse, in a section the trainer adds with "+ section".
        expect(tina.page.get_by_label("New section")).to_have_count(0)
        tina.page.get_by_role("button", name="+ section").click()
        tina.page.get_by_label("New section").fill("Questions")
        tina.page.get_by_role("button", name="Add section").click()
        expect(tina.page.get_by_label("New section")).to_have_count(0)
        write_note(grace.page, "A question from the phone", section="Questions")
        for tab in (ada, grace, tina):
            section = tab.page.get_by_role("region", name="Section Questions")
            expect(note(section, "A question from the phone")).to_have_count(1, timeout=LIVE_MS)
        # Participants have no "+ section".
        expect(page.get_by_role("button", name="+ section")).to_have_count(0)

        for tab in (ada, grace, tina):
            tab.page.reload()
            expect(tab.page.get_by_role("heading", name="Pinboard")).to_be_visible(
                timeout=LIVE_MS
            )
            box = _first_note_box(tab.page)
            height = tab.page.evaluate("innerHeight")
            assert box["y"] + box["height"] <= height, (box, height)
        shot(tina.page, "board-laptop")
        shot(grace.page, "board-phone")
        for tab in (ada, grace, tina):
            assert tab.errors == []
    finally:
        for tab in (ada, grace, tina):
            tab.close()


def test_a_reinstated_note_keeps_its_replies_and_the_viewers_vote(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """Grace votes for and replies to Tina's note; Tina takes it offline and reinstates it.
    Grace's open board shows the reply and her vote again, and Unvote works without reload."""
    from playwright.sync_api import expect

    event_id, people = event
    board = f"/events/{event_id}/board"
    tina = open_as(browser, server, people["tina"], board)
    grace = open_as(browser, server, people["grace"], board)
    try:
        for tab in (tina, grace):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        write_note(tina.page, "Back again after moderation")
        theirs = note(grace.page, "Back again after moderation")
        expect(theirs).to_have_count(1, timeout=LIVE_MS)
        theirs.get_by_role("button", name=re.compile(r"^Vote \(0\)")).click()
        expect(theirs.get_by_role("button", name=re.compile(r"^Unvote \(1\)"))).to_be_visible(
            timeout=LIVE_MS
        )
        theirs.get_by_role("button", name=re.compile(r"^Reply")).click()
        grace.page.get_by_role("dialog").get_by_label("Your reply").fill("Grace agrees")
        grace.page.get_by_role("dialog").get_by_role("button", name="Reply").click()
        expect(theirs.locator(".replies")).to_contain_text("Grace agrees", timeout=LIVE_MS)

        mine = note(tina.page, "Back again after moderation")
        expect(mine.locator(".replies")).to_contain_text("Grace agrees", timeout=LIVE_MS)
        mine.get_by_role("button", name=re.compile(r"^Take offline")).click()
        tina.page.get_by_role("dialog").get_by_label("Reason").fill("Checking a detail")
        tina.page.get_by_role("dialog").get_by_role("button", name="Take offline").click()
        expect(theirs).to_have_count(0, timeout=LIVE_MS)
        mine.get_by_role("button", name=re.compile(r"^Reinstate")).click()

        expect(theirs).to_have_count(1, timeout=LIVE_MS)
        expect(theirs.locator(".replies")).to_contain_text("Grace agrees", timeout=LIVE_MS)
        unvote = theirs.get_by_role("button", name=re.compile(r"^Unvote \(1\)"))
        expect(unvote).to_be_visible(timeout=LIVE_MS)
        unvote.click()
        expect(theirs.get_by_role("button", name=re.compile(r"^Vote \(0\)"))).to_be_visible(
            timeout=LIVE_MS
        )
        expect(mine).to_contain_text("0 votes", timeout=LIVE_MS)
        expect(grace.page.locator("#toast.error")).to_have_count(0)
        assert tina.errors == [] and grace.errors == []
    finally:
        tina.close()
        grace.close()


# The outermost elements that reach past the viewport's right edge, for the failure message.
WIDE = """() => [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > innerWidth + 0.5
        && !(el.parentElement && el.parentElement.getBoundingClientRect().right > innerWidth + 0.5))
    .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className}`
        + ` right=${Math.round(el.getBoundingClientRect().right)}`)"""


def _assert_fits(page: Any, what: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], (
        f"{what} is {widths[0]} px wide in a {widths[1]} px viewport: {page.evaluate(WIDE)}"
    )


def test_no_main_screen_is_wider_than_a_phone(
    server: Server, browser: Any, event: tuple[int, dict[str, Any]]
) -> None:
    """At 390 px the board (with notes and an open composer), the room's tabs and the other
    main screens fit the viewport: nothing scrolls sideways but the board's own columns."""
    from playwright.sync_api import expect

    event_id, people = event
    room = f"/events/{event_id}"
    tina = open_as(browser, server, people["tina"], f"{room}/board", viewport=PHONE)
    root = open_as(browser, server, people["root"], "/events", viewport=PHONE)
    page = tina.page
    try:
        expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        write_note(page, "A note with a long address http://127.0.0.1:8000/events/1/board")
        expect(note(page, "long address")).to_have_count(1, timeout=LIVE_MS)
        _assert_fits(page, "the board")
        page.get_by_role("button", name="+ section").click()
        _assert_fits(page, "the board with the section form open")
        # A second column, off to the right: the board scrolls it, not the page.
        page.get_by_label("New section").fill("Off to the right")
        page.get_by_role("button", name="Add section").click()
        write_note(page, "In the second column", section="Off to the right")
        expect(note(page, "In the second column")).to_have_count(1, timeout=LIVE_MS)
        _assert_fits(page, "the board with two columns")
        page.get_by_role("button", name="+ note in Unsorted", exact=True).click()
        _assert_fits(page, "the board with its composer open")
        for path in ("", "/people", "/groups", "/news", "/groups?view=board"):
            page.goto(f"{server.url}{room}{path}")
            expect(page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
            expect(page.locator("main h1")).to_be_visible(timeout=LIVE_MS)
            _assert_fits(page, f"the room {path or '/'}")
        for path in ("/events", "/me", f"/trainer/{event_id}", f"{room}/organiser/mail"):
            page.goto(f"{server.url}{path}")
            expect(page.locator("main h1")).to_be_visible(timeout=LIVE_MS)
            _assert_fits(page, path)
        admin_screens = ("/admin", "/admin/audit", "/admin/activity", "/admin/users")
        for path in (*admin_screens, "/manage", "/manage/new", f"/manage/{event_id}"):
            root.page.goto(f"{server.url}{path}")
            expect(root.page.locator("main h1")).to_be_visible(timeout=LIVE_MS)
            _assert_fits(root.page, path)
        signed_out = browser.new_context(viewport=PHONE)
        try:
            out = signed_out.new_page()
            for path in ("/signin", "/forgot-password"):
                out.goto(f"{server.url}{path}")
                expect(out.get_by_label("Email")).to_be_visible()
                _assert_fits(out, path)
        finally:
            signed_out.close()
        assert tina.errors == [] and root.errors == []
    finally:
        tina.close()
        root.close()
