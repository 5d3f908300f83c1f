"""Live scenarios in Chromium: writes made offline or whose answer was lost are sent once, a shared
device keeps nothing of the previous person, live updates keep focus and half-written notes."""

from __future__ import annotations

import re
import uuid
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
        write_note(page, "Written in the train tunnel")
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
        write_note(page, "Answer lost on the way back")
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
        expect(page.get_by_role("button", name="+ note in Unsorted")).to_be_visible(
            timeout=LIVE_MS
        )
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.context.set_offline(True)
        expect(page.locator("#conn")).to_have_text("offline", timeout=LIVE_MS)
        write_note(page, f"{marker} note")
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
        write_note(page, "Sent again after a busy moment")
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
    """Grace is mid-way through a note (text typed and a colour chosen, in a section's composer)
    with the keyboard on the Vote button of Ada's note when Ada's vote on that very note and a
    new note of hers arrive live: the board changes in place (keyed by note id), so the same
    button element keeps the focus under its new label, the note is the same element, and the
    composer keeps its text, colour and section (renamed meanwhile). Enter then votes from
    where she was."""
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
        tina.page.get_by_role("button", name="+ section").click()
        tina.page.get_by_label("New section").fill(f"Later {tag}")
        tina.page.get_by_role("button", name="Add section").click()
        write_note(ada.page, f"Keep the focus {tag}")
        theirs = note(grace.page, f"Keep the focus {tag}")
        expect(theirs).to_have_count(1, timeout=LIVE_MS)
        page = grace.page
        page.get_by_role("button", name=f"+ note in Later {tag}", exact=True).click()
        page.get_by_label("New note").fill(f"Half-written {tag}")
        colour = page.get_by_label("Colour", exact=True)
        colour.select_option("blue")
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
        write_note(ada.page, f"Arrives meanwhile {tag}")
        tina.page.get_by_role("button", name=f"Rename section Later {tag}").click()
        tina.page.get_by_role("dialog").get_by_label("Title").fill(f"Soon {tag}")
        tina.page.get_by_role("dialog").get_by_role("button", name="Rename").click()
        expect(theirs).to_contain_text("1 vote", timeout=LIVE_MS)
        expect(note(page, f"Arrives meanwhile {tag}")).to_have_count(1, timeout=LIVE_MS)
        soon = page.get_by_role("region", name=f"Section Soon {tag}")
        expect(soon.get_by_label("New note")).to_have_count(1, timeout=LIVE_MS)

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
        assert colour.input_value() == "blue"
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
