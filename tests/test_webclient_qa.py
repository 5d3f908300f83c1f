"""The Q&A in Chromium: a participant asks anonymously, another upvotes, the trainer marks
the question answered; everyone sees it live, and the asker's name is nowhere in the other
participant's Q&A panel, in any Q&A answer of the API they received, or in any WebSocket
frame that carried the question. Then the presenter view shows the open questions.

(The room's roster still names everyone enrolled and present: anonymity is that nobody
can tell who asked, docs/privacy.md.)
"""

from __future__ import annotations

import json
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

QUESTION = "Is it fine to admit I did not follow the last part?"


def question(page: Any, text: str = QUESTION) -> Any:
    return page.locator("section.qa li.question", has_text=text)


def test_anonymous_question_upvoted_and_answered_live(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    event_id, people = server.run(seed_people(
        server.db_url, "Q&A Session",
        {"asha_asker": "participant", "vic_voter": "participant", "tara_trainer": "trainer"},
    ))
    asker_name, asker_id = people["asha_asker"].name, people["asha_asker"].id
    path = f"/events/{event_id}/qa"
    tara = open_as(browser, server, people["tara_trainer"], path)
    vic = open_as(browser, server, people["vic_voter"], path)
    asha = open_as(browser, server, people["asha_asker"], path)
    # Everything the voter's browser received about questions.
    answers: list[str] = []
    frames: list[str] = []

    def on_response(r: Any) -> None:
        if "/qa" in r.url and r.request.resource_type in ("fetch", "xhr"):
            answers.append(r.text())

    vic.page.on("response", on_response)
    vic.page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        f if isinstance(f, str) else f.decode("utf-8", "replace"))))
    try:
        for tab in (tara, vic, asha):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        tara.page.get_by_label("Anonymous questions").check()
        expect(asha.page.locator("section.qa [role=status]")).to_contain_text(
            "questions are anonymous", timeout=LIVE_MS)
        vic.page.reload()  # from here on every answer and frame is recorded
        expect(vic.page.locator("#conn")).to_have_text("live", timeout=LIVE_MS)

        asha.page.get_by_label("Your question").fill(QUESTION)
        asha.page.get_by_role("button", name="Ask").click()
        expect(question(asha.page)).to_contain_text("your question", timeout=LIVE_MS)

        mine = question(vic.page)
        expect(mine).to_contain_text("Anonymous", timeout=LIVE_MS)
        mine.get_by_role("button", name="Upvote").click()
        expect(mine).to_contain_text("1 vote", timeout=LIVE_MS)
        # The others see the count move (a coalesced qa.votes event).
        expect(question(asha.page)).to_contain_text("1 vote", timeout=LIVE_MS)
        theirs = question(tara.page)
        expect(theirs).to_contain_text("1 vote", timeout=LIVE_MS)
        expect(theirs).to_contain_text("Anonymous")  # trainers do not see the author either
        theirs.get_by_role("button", name="Mark answered").click()
        expect(mine).to_contain_text("answered", timeout=LIVE_MS)
        expect(question(asha.page)).to_contain_text("answered", timeout=LIVE_MS)
        shot(vic.page, "qa-participant")

        panel = vic.page.locator("section.qa").inner_text()
        assert QUESTION in panel and asker_name not in panel
        carried = [a for a in answers if QUESTION in a] + [f for f in frames if "question" in f]
        assert any(QUESTION in c for c in carried), (answers, frames)
        for text in carried:
            assert asker_name not in text
            assert f'"author":{{"id":{asker_id}' not in text.replace(" ", "")
            for body in _questions(text):
                assert body.get("author") is None and "author_id" not in body

        present = open_as(browser, server, people["tara_trainer"], f"/present/qa/{event_id}")
        try:
            # Answered questions leave the projector; a new one arrives live.
            expect(present.page.locator(".present")).to_contain_text(
                "No open questions yet", timeout=LIVE_MS)
            vic.page.get_by_label("Your question").fill("Can we get the slides?")
            vic.page.get_by_role("button", name="Ask").click()
            expect(present.page.locator(".present-questions li")).to_contain_text(
                "Can we get the slides?", timeout=LIVE_MS)
            shot(present.page, "qa-presenter")
            assert present.errors == []
        finally:
            present.close()
        # The same questions as a panel of the activities' presenter view, with its QR code.
        panel = open_as(browser, server, people["tara_trainer"], f"/present/{event_id}?panel=qa")
        try:
            expect(panel.page.locator(".present-own .present-questions li")).to_contain_text(
                "Can we get the slides?", timeout=LIVE_MS)
            expect(panel.page.locator("img.qr")).to_be_visible()
            assert panel.errors == []
        finally:
            panel.close()
        assert tara.errors == [] and vic.errors == [] and asha.errors == []
    finally:
        for tab in (tara, vic, asha):
            tab.close()


def _questions(text: str) -> list[dict[str, Any]]:
    """Every question object inside a JSON text (an API answer or a frame)."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    found: list[dict[str, Any]] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if "text" in x and "qa_id" in x:
                found.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(data)
    return found
