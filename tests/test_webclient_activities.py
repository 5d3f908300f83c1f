"""A trainer runs a quiz with two participants; the presenter view shows the live result.

A real ``classhub serve`` and Debian's Chromium (tests/browser_harness.py). Waits are
generous bounds on events showing, never timing asserts.
"""

from __future__ import annotations

import re
from typing import Any

from tests.browser_harness import (  # noqa: F401 - fixtures
    LIVE_MS,
    Server,
    browser,
    open_as,
    seed_people,
    server,
    shot,
)


def test_a_quiz_with_two_participants_on_the_presenter_view(server: Server, browser: Any) -> None:
    event_id, people = server.run(seed_people(
        server.db_url, "Quiz Workshop",
        {"ada": "participant", "grace": "participant", "tina": "trainer"},
    ))
    room = f"/events/{event_id}/activities"
    tabs = []
    tina = open_as(browser, server, people["tina"], room)
    ada = open_as(browser, server, people["ada"], room)
    grace = open_as(browser, server, people["grace"], room)
    try:
        t = tina.page
        t.get_by_label("Question").fill("Which is the capital of France?")
        t.get_by_label(re.compile("^Options")).fill("*Paris\nLondon\nRome")
        t.get_by_role("button", name="Create draft").click()
        card = t.locator("li.activity", has_text="capital of France")
        card.wait_for(timeout=LIVE_MS)
        # A draft is the trainer's: the participants' panel stays empty.
        ada.page.get_by_text("No polls or word clouds yet.").wait_for(timeout=LIVE_MS)
        card.get_by_role("button", name="Open").click()
        t.locator("li.activity[data-state=open]", has_text="capital").wait_for(timeout=LIVE_MS)

        presenter = open_as(browser, server, people["tina"], f"/present/{event_id}",
                            viewport={"width": 1280, "height": 720})
        tabs.append(presenter)
        p = presenter.page
        p.locator(".present-title", has_text="capital of France").wait_for(timeout=LIVE_MS)
        p.get_by_text("0 answers so far").wait_for(timeout=LIVE_MS)
        assert p.locator("img.qr").get_attribute("src") == f"/api/events/{event_id}/join-qr.svg"
        assert p.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
        assert p.locator("img.qr").is_visible()  # a stylesheet rule once hid its footer

        # The participants see the poll open, live, and answer it.
        for tab, choice in ((ada, "Paris"), (grace, "Rome")):
            form = tab.page.get_by_role("form", name=re.compile("capital of France"))
            form.get_by_label(choice).check(timeout=LIVE_MS)
            form.get_by_role("button", name="Vote").click()
            tab.page.locator(".my-answer", has_text=choice).wait_for(timeout=LIVE_MS)
        # Results hidden: the projector shows how many answered, not what.
        p.get_by_text("2 answers so far").wait_for(timeout=LIVE_MS)
        assert p.locator(".bars").count() == 0
        # The trainer sees the counts in the room while the room does not.
        card.locator(".bar-count[data-count='1']").first.wait_for(timeout=LIVE_MS)
        assert ada.page.locator(".bars").count() == 0

        card.get_by_role("button", name="Close").click()
        card.get_by_role("button", name="Show results").click()
        bars = p.locator(".bars.big .bar")
        bars.first.wait_for(timeout=LIVE_MS)
        p.locator(".bar.correct", has_text="Paris").locator(".bar-count[data-count='1']") \
            .wait_for(timeout=LIVE_MS)
        p.locator(".bar", has_text="Rome").locator(".bar-count[data-count='1']") \
            .wait_for(timeout=LIVE_MS)
        p.locator(".present-state", has_text="Closed").wait_for(timeout=LIVE_MS)
        # Quiz scores: each participant their own, the trainer everyone's.
        ada.page.locator(".quiz-score", has_text="1 of 1").wait_for(timeout=LIVE_MS)
        ada.page.locator(".my-answer", has_text="correct").wait_for(timeout=LIVE_MS)
        grace.page.locator(".quiz-score", has_text="0 of 1").wait_for(timeout=LIVE_MS)
        t.locator(".quiz-scores tr", has_text="Ada").wait_for(timeout=LIVE_MS)

        shot(p, "presenter")  # test-artifacts/screenshots/; docs/screenshots/ has a copy
        for tab in (tina, ada, grace, presenter):
            assert not tab.errors, tab.errors
    finally:
        for tab in (tina, ada, grace, *tabs):
            tab.close()


def test_a_word_cloud_counts_live_and_the_trainer_hides_a_word(
    server: Server, browser: Any
) -> None:
    event_id, people = server.run(seed_people(
        server.db_url, "Cloud Workshop",
        {"ada": "participant", "grace": "participant", "tina": "trainer"},
    ))
    room = f"/events/{event_id}/activities"
    tina = open_as(browser, server, people["tina"], room)
    ada = open_as(browser, server, people["ada"], room)
    grace = open_as(browser, server, people["grace"], room)
    try:
        t = tina.page
        t.get_by_label("Kind").select_option("wordcloud")
        t.get_by_label("Question").fill("One word for today?")
        t.get_by_role("button", name="Create draft").click()
        card = t.locator("li.activity", has_text="One word for today")
        card.get_by_role("button", name="Open").click()
        card.get_by_role("button", name="Show results").click()
        for tab, word in ((ada, "Fun!"), (grace, "  FUN "), (grace, "tiring")):
            form = tab.page.get_by_role("form", name=re.compile("One word for today"))
            form.get_by_label("Your word").fill(word, timeout=LIVE_MS)
            form.get_by_role("button", name=re.compile("Send|Change answer")).click()
            tab.page.locator(".my-answer", has_text=word.strip()).wait_for(timeout=LIVE_MS)
        # Grace changed her answer: "fun" once from Ada, "tiring" once from Grace.
        for page in (t, ada.page):
            page.locator(".word[data-count='1']", has_text="fun").wait_for(timeout=LIVE_MS)
            page.locator(".word", has_text="tiring").wait_for(timeout=LIVE_MS)
        card.get_by_role("button", name="Hide tiring").click()
        ada.page.locator(".word", has_text="tiring").wait_for(state="detached", timeout=LIVE_MS)
        assert ada.page.locator(".word", has_text="fun").count() == 1
        card.get_by_role("button", name="tiring (1)").wait_for(timeout=LIVE_MS)  # to show again
        for tab in (tina, ada, grace):
            assert not tab.errors, tab.errors
    finally:
        for tab in (tina, ada, grace):
            tab.close()
