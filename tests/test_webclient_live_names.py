"""Live scenarios in Chromium: a direct conversation opened by its bare link names the
other person; an admin reviewing an event they are not enrolled in reads its chat with
a read-only notice and is not in its "Here now" (issue 18, items 6 and 7)."""

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
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_bare_dm_link_is_titled_with_the_persons_name(server: Server, browser: Any) -> None:
    """/dm/<id> without ?name= (the new-message notice's link, a shared link), before
    any message names the other person: the heading and the composer name them."""
    from playwright.sync_api import expect

    _event_id, people = server.run(
        seed_people(server.db_url, "Names", {"nora_north": "participant", "sam_south": "trainer"})
    )
    nora = open_as(browser, server, people["nora_north"], f"/dm/{people['sam_south'].id}")
    try:
        expect(nora.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        expect(nora.page.locator("h1")).to_have_text(
            "Direct messages with Sam South", timeout=LIVE_MS
        )
        expect(nora.page.get_by_label("Message to Sam South")).to_be_visible()
    finally:
        nora.close()


def test_a_reviewing_admin_reads_the_chat_read_only_and_is_not_here_now(
    server: Server, browser: Any
) -> None:
    from playwright.sync_api import expect

    event_id, people = server.run(
        seed_people(
            server.db_url,
            "Reviewed",
            {"pam_plum": "participant", "gus_green": "participant", "rita_root": "none"},
            admins=("rita_root",),
        )
    )
    room = f"/events/{event_id}"
    pam = open_as(browser, server, people["pam_plum"], room)
    rita = open_as(browser, server, people["rita_root"], room)
    tabs = [pam, rita]
    try:
        for tab in (pam, rita):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        pam.page.get_by_label("Message to everyone").fill("Hello class")
        pam.page.get_by_role("button", name="Send").click()
        expect(rita.page.locator("li.msg", has_text="Hello class")).to_have_count(
            1, timeout=LIVE_MS
        )
        # No composer that would refuse what is typed: a read-only notice instead.
        expect(rita.page.get_by_label("Message to everyone")).to_have_count(0)
        expect(rita.page.locator(".chat .read-only")).to_contain_text("reviewing this event")
        # Gus arrives after the admin: once Pam sees him, she would have seen her too.
        tabs.append(open_as(browser, server, people["gus_green"], room))
        expect(pam.page.locator(".attendance")).to_contain_text("Gus Green", timeout=LIVE_MS)
        expect(pam.page.locator(".attendance")).not_to_contain_text("Rita Root")
        expect(pam.page.locator(".attendance li")).to_have_count(2)
    finally:
        for tab in tabs:
            tab.close()
