"""Room controls in Chromium: a trainer removes a participant's chat message with a reason and
mutes them; the participant's client shows the placeholder, the notice and the mute, and
their next message is refused; the pinned announcement, the held-for-review queue, and a mute
from the People tab."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_harness import (  # noqa: F401 - fixtures
    LIVE_MS,
    Server,
    browser,
    open_as,
    seed_people,
    server,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def controls_event(server: Server) -> tuple[int, dict[str, Any]]:
    return server.run(  # type: ignore[no-any-return]
        seed_people(
            server.db_url, "Moderated Workshop", {"pia": "participant", "tom": "trainer"}
        )
    )


def test_a_trainer_removes_a_message_and_mutes_its_author(
    server: Server, browser: Any, controls_event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    event_id, people = controls_event
    pia = open_as(browser, server, people["pia"], f"/events/{event_id}")
    tom = open_as(browser, server, people["tom"], f"/events/{event_id}")
    try:
        for tab in (pia, tom):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        pia.page.get_by_label("Message to everyone").fill("Buy cheap watches here")
        pia.page.get_by_role("button", name="Send").click()
        line = tom.page.locator("li.msg", has_text="Buy cheap watches")
        expect(line).to_have_count(1, timeout=LIVE_MS)

        # The trainer's menu on the message: remove with a reason.
        line.locator("summary").click()
        line.get_by_role("button", name="Remove / restore…").click()
        dialog = tom.page.get_by_role("dialog")
        dialog.get_by_label("Reason (the author and the room see it)").fill("advertising")
        dialog.get_by_role("button", name="Remove").click()
        mine = pia.page.locator("li.msg.removed")
        expect(mine).to_contain_text("removed by a trainer: advertising", timeout=LIVE_MS)
        expect(pia.page.locator("li.msg", has_text="Buy cheap watches")).to_have_count(0)
        expect(pia.page.locator("#toast")).to_contain_text(
            "A trainer removed your message: advertising", timeout=LIVE_MS
        )

        # Mute the author for 15 minutes from the same menu (on the removed line).
        line = tom.page.locator("li.msg.removed")
        line.locator("summary").click()
        line.get_by_role("button", name="Mute 15 min").click()
        status = pia.page.locator(".room-status")
        expect(status).to_contain_text("A trainer muted you until", timeout=LIVE_MS)
        shot(pia.page, "room-controls-participant")
        pia.page.get_by_label("Message to everyone").fill("Why was that removed?")
        pia.page.get_by_role("button", name="Send").click()
        expect(pia.page.locator("#toast")).to_contain_text("muted you", timeout=LIVE_MS)
        expect(tom.page.locator("li.msg", has_text="Why was that removed")).to_have_count(0)

        # A reload replays the log: still the placeholder, still muted.
        pia.page.reload()
        expect(pia.page.locator("li.msg.removed")).to_contain_text(
            "removed by a trainer: advertising", timeout=LIVE_MS
        )
        expect(pia.page.locator(".room-status")).to_contain_text("muted you", timeout=LIVE_MS)
        assert pia.errors == [] and tom.errors == []
    finally:
        pia.close()
        tom.close()


def test_the_pinned_announcement_and_the_review_queue(
    server: Server, browser: Any, controls_event: tuple[int, dict[str, Any]]
) -> None:
    from playwright.sync_api import expect

    event_id, people = server.run(
        seed_people(server.db_url, "Queue Workshop", {"ana": "participant", "ted": "trainer"})
    )
    ana = open_as(browser, server, people["ana"], f"/events/{event_id}")
    ted = open_as(browser, server, people["ted"], f"/events/{event_id}")
    try:
        for tab in (ana, ted):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        page = ted.page
        page.get_by_text("Room controls").click()
        page.get_by_label("Hold posts with these words for review").fill("spoiler")
        page.get_by_label("Pinned announcement").fill("Lunch at 12:30 in the atrium")
        page.get_by_role("button", name="Save room settings").click()
        expect(ana.page.locator(".announcement")).to_contain_text(
            "Lunch at 12:30 in the atrium", timeout=LIVE_MS
        )
        ana.page.get_by_label("Message to everyone").fill("Big spoiler: the butler did it")
        ana.page.get_by_role("button", name="Send").click()
        expect(ana.page.locator("li.msg.held")).to_contain_text("held for review", timeout=LIVE_MS)
        queued = page.locator(".held-queue li", has_text="the butler did it")
        expect(queued).to_have_count(1, timeout=LIVE_MS)
        expect(page.locator("ol.messages li", has_text="the butler did it")).to_have_count(0)
        shot(page, "room-controls-trainer")
        queued.get_by_role("button", name="Approve").click()
        expect(page.locator("ol.messages li.msg", has_text="the butler did it")).to_have_count(
            1, timeout=LIVE_MS
        )
        # From the People tab: a member's mute buttons.
        page.get_by_role("link", name="People").click()
        page.get_by_role("button", name="Mute Ana for 5 min").click()
        expect(ana.page.locator(".room-status")).to_contain_text(
            "A trainer muted you until", timeout=LIVE_MS
        )
        assert ana.errors == [] and ted.errors == []
    finally:
        ana.close()
        ted.close()
