"""In Chromium: a participant agrees and later takes consent back; the trainer sees the
due list and blurs a photo (the stored image changes); the overdue one is withdrawn by
maintenance (a fixed clock) and shows as withdrawn."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
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
from tests.media_helpers import png

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _fingerprint(page: Any, url: str) -> str:
    data = page.evaluate(
        "(u) => fetch(u).then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b)))", url
    )
    return hashlib.sha256(bytes(data)).hexdigest()


def _stored(server: Server, media_id: int) -> list[Path]:
    return sorted((server.var_dir / "media").glob(f"{media_id}-file-*"))


def _answer(page: Any, button: str) -> None:
    from playwright.sync_api import expect

    card = page.get_by_role("region", name="Photos and videos")
    expect(card).to_be_visible(timeout=LIVE_MS)
    card.get_by_role("button", name=button).click()
    expect(card).to_have_count(0, timeout=LIVE_MS)


def _publish(page: Any, title: str, colour: tuple[int, int, int]) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Title (learning section)").fill(title)
    page.get_by_label("File (PNG, JPEG, WebP, MP4, WebM)").set_input_files(
        {"name": f"{title}.png", "mimeType": "image/png", "buffer": png((240, 160), colour)}
    )
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator("figure.media-tile", has_text=title)).to_have_count(1, timeout=LIVE_MS)


def _tag(page: Any, title: str, names: list[str]) -> None:
    from playwright.sync_api import expect

    page.locator("figure.media-tile", has_text=title).get_by_role(
        "button", name="Who is shown").click()
    dialog = page.get_by_role("dialog", name="Who is shown")
    for name in names:
        dialog.get_by_label(name, exact=True).check()
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("figure.media-tile", has_text=title)).to_contain_text(
        f"Shows: {', '.join(sorted(names))}", timeout=LIVE_MS)


def test_revoked_consent_due_list_blur_and_overdue_withdrawal(
    server: Server, browser: Any
) -> None:
    from playwright.sync_api import expect
    from sqlalchemy import select

    from storage.maintenance import withdraw_overdue_media
    from storage.models import MediaDue, MediaItem
    from storage.settings import Settings

    event_id, people = server.run(seed_people(
        server.db_url, "Media Workshop",
        {"pia": "participant", "paul": "participant", "tina": "trainer"},
    ))
    media_path = f"/events/{event_id}/media"
    # Asked on first entry into the event; both participants agree.
    for who in ("pia", "paul"):
        tab = open_as(browser, server, people[who], f"/events/{event_id}")
        _answer(tab.page, "Yes, I agree")
        tab.close()
    tina = open_as(browser, server, people["tina"], media_path)
    page = tina.page
    try:
        _answer(page, "No, I do not agree")  # the trainer is asked too, and declines
        expect(page.locator(".consent-list")).to_contain_text("Tina: declined")
        _publish(page, "Group work", (20, 120, 200))
        _publish(page, "Break", (200, 120, 20))
        _tag(page, "Group work", ["Paul", "Pia"])
        _tag(page, "Break", ["Pia"])
    finally:
        tina.close()

    # Pia takes her consent back on the Media tab.
    pia = open_as(browser, server, people["pia"], media_path)
    try:
        pia.page.get_by_role("button", name="Take back my consent").click()
        expect(pia.page.locator(".consent-state")).to_contain_text("took back", timeout=LIVE_MS)
    finally:
        pia.close()

    tina = open_as(browser, server, people["tina"], media_path)
    page = tina.page
    try:
        due = page.locator(".due-list li")
        expect(due).to_have_count(2, timeout=LIVE_MS)
        expect(page.locator(".consent-list")).to_contain_text("Pia: took consent back")
        item = page.locator("figure.media-tile", has_text="Group work")
        url = item.locator("img").get_attribute("src")
        media_id = int(item.get_attribute("data-media-id"))
        before, files_before = _fingerprint(page, url), _stored(server, media_id)
        # The blur tool: drag a rectangle over the photo, then apply.
        page.locator(".due-list li", has_text="Group work").get_by_role(
            "button", name="Blur").click()
        dialog = page.get_by_role("dialog", name="Blur a photo")
        stage = dialog.locator(".blur-stage")
        expect(stage.locator("img")).to_be_visible()
        page.wait_for_function(
            "() => document.querySelector('.blur-stage img').naturalWidth > 0")
        box = stage.bounding_box()
        page.mouse.move(box["x"] + 10, box["y"] + 10)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.up()
        expect(dialog.locator(".blur-rect")).to_have_count(1)
        shot(page, "media-blur-tool")
        dialog.get_by_role("button", name="Blur and replace the photo").click()
        expect(due).to_have_count(1, timeout=LIVE_MS)
        new_url = page.locator("figure.media-tile", has_text="Group work").locator(
            "img").get_attribute("src")
        assert new_url != url
        assert _fingerprint(page, new_url) != before  # the stored image changed
        assert _stored(server, media_id) != files_before  # a new file; the old one deleted
        assert len(_stored(server, media_id)) == 1
        shot(page, "media-due-list")
    finally:
        tina.close()

    # The remaining item is overdue a month later: maintenance withdraws it.
    async def overdue() -> list[int]:
        db = server.db()
        try:
            async with db.session() as s:
                due_at = (await s.execute(
                    select(MediaDue.due_at).where(MediaDue.resolved_at.is_(None))
                    .join(MediaItem, MediaItem.id == MediaDue.media_id)
                    .where(MediaItem.event_id == event_id)
                )).scalar_one()
            settings = Settings.from_env(server.env)
            early = await withdraw_overdue_media(
                db, settings, now=due_at - dt.timedelta(minutes=1))
            assert early == []
            return await withdraw_overdue_media(db, settings, now=due_at)
        finally:
            await db.close()

    (withdrawn,) = server.run(overdue())
    assert _stored(server, withdrawn) == []
    tina = open_as(browser, server, people["tina"], media_path)
    try:
        expect(tina.page.locator(".due-list li")).to_have_count(0, timeout=LIVE_MS)
        expect(tina.page.locator("figure.media-tile", has_text="Break")).to_contain_text(
            "Withdrawn")
        assert tina.errors == []
    finally:
        tina.close()
    paul = open_as(browser, server, people["paul"], media_path)
    try:
        expect(paul.page.locator("figure.media-tile")).to_have_count(1, timeout=LIVE_MS)
        assert paul.errors == []
    finally:
        paul.close()


def test_a_participant_restricts_processing_on_the_me_screen(
    server: Server, browser: Any
) -> None:
    from playwright.sync_api import expect

    _event_id, people = server.run(seed_people(
        server.db_url, "Restriction Workshop", {"rita": "participant"}))
    rita = open_as(browser, server, people["rita"], "/me")
    try:
        card = rita.page.locator("section.restriction")
        card.get_by_role("button", name="Restrict processing").click()
        dialog = rita.page.get_by_role("dialog", name="Restrict processing of my data")
        dialog.get_by_label("Why (for the admins)").fill("I contest my organisation's entry")
        dialog.get_by_role("button", name="Restrict").click()
        expect(rita.page.locator("section.restriction")).to_contain_text(
            "restricted since", timeout=LIVE_MS)
        rita.page.reload()
        expect(rita.page.locator("section.restriction")).to_contain_text(
            "I contest my organisation's entry", timeout=LIVE_MS)
        assert rita.errors == []
    finally:
        rita.close()
