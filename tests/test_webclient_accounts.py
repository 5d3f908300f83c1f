"""The web client in Debian's Chromium against a real classhub server: a person's account
(ending it, coming back, deleting it at once), profile and Me page, an organiser's event change."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_harness import (  # noqa: F401 - fixtures
    Server,
    browser,
    room,
    seed_people,
    server,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_terminate_then_reactivate_within_the_grace_month(server: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    _, people = server.run(seed_people(server.db_url, "Leaving", {"leo": "participant"}))
    leo = people["leo"]
    tab = open_as(browser, server, leo, "/me")
    page = tab.page
    try:
        page.get_by_role("button", name="Terminate my account").click()
        page.get_by_label("Your password (to confirm it is you)").fill(leo.password)
        page.get_by_role("dialog").get_by_role("button", name="Terminate").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=10_000)
        # Signing in during the grace month leads to the reactivation page only.
        page.get_by_label("Email").fill(leo.email)
        page.get_by_label("Password").fill(leo.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Your account is terminating")).to_be_visible(
            timeout=10_000
        )
        # No live connection is opened for it, and none is claimed ("offline" read as a fault).
        expect(page.locator("#conn")).to_be_hidden()
        shot(page, "me-terminating")
        page.get_by_role("button", name="Reactivate my account").click()
        expect(page.get_by_role("heading", name="Profile", exact=True)).to_be_visible(
            timeout=10_000
        )
        page.get_by_role("link", name="My events").click()
        expect(page.get_by_role("link", name="Leaving")).to_be_visible(timeout=10_000)
        assert tab.errors == []
    finally:
        tab.close()


def test_organiser_changing_only_the_place_changes_only_the_place(
    server: Server, browser: Any
) -> None:
    """The time fields show whole minutes; an event that starts at 10:25:58 must not be
    told (live and by mail) that it now starts at 10:25 when only its place changed."""
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    event_id, people = server.run(
        seed_people(server.db_url, "Room Swap", {"olga": "organiser", "pia": "participant"})
    )
    before = server.run(_event_times(server, event_id))
    assert before[0].second or before[0].microsecond  # seeded at "now": not on a whole minute
    pia = open_as(browser, server, people["pia"], "/events")
    olga = open_as(browser, server, people["olga"], f"/events/{event_id}/organiser/edit")
    page = olga.page
    try:
        expect(pia.page.locator("#conn")).to_have_text("live", timeout=10_000)
        page.get_by_label("Place").fill("Room B")
        page.get_by_label("Note for everyone (banner and mail)").fill("Next door")
        page.get_by_role("button", name="Save and tell everyone").click()
        expect(page.get_by_role("heading", name="Who has it")).to_be_visible(timeout=10_000)
        changes = page.evaluate(f"fetch('/api/events/{event_id}/changes').then(r => r.json())")[
            "changes"
        ]
        assert [sorted(c["changes"]) for c in changes] == [["location"]]
        banner = pia.page.locator("#banner")
        expect(banner).to_contain_text("place: Room B", timeout=10_000)
        expect(banner).not_to_contain_text("starts")
        assert server.run(_event_times(server, event_id)) == before
        assert pia.errors == [] and olga.errors == []
    finally:
        pia.close()
        olga.close()


async def _event_times(server: Server, event_id: int) -> tuple[Any, Any]:
    from storage.models import Event

    db = server.db()
    try:
        async with db.session() as s:
            ev = await s.get(Event, event_id)
            assert ev is not None
            return ev.starts_at, ev.ends_at
    finally:
        await db.close()


def test_a_profile_made_visible_is_seen_by_co_participants(
    server: Server, browser: Any, room: tuple[int, dict[str, Any]]
) -> None:
    """"Show my brief profile to co-participants" on Me shows under People; a profile
    left private shows the name only."""
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    event_id, people = room
    grace = open_as(browser, server, people["grace"], "/me")
    ada = open_as(browser, server, people["ada"], f"/events/{event_id}/people")
    try:
        page = grace.page
        page.get_by_label("About me (brief profile)").fill(
            "Facilitator from Lyon, ask me about energisers"
        )
        page.get_by_label(
            "Show my brief profile (name, photo, about me) to co-participants"
        ).check()
        page.get_by_role("button", name="Save profile").click()
        expect(page.locator("#toast")).to_contain_text("Profile saved", timeout=10_000)
        ada.page.get_by_role("button", name="Profile of Grace").click()
        dialog = ada.page.get_by_role("dialog", name="Grace")
        expect(dialog).to_contain_text(
            "Facilitator from Lyon, ask me about energisers", timeout=10_000
        )
        shot(ada.page, "room-people-profile")
        dialog.get_by_role("button", name="Close").click()
        ada.page.get_by_role("button", name="Profile of Tina Trainer").click()
        expect(ada.page.get_by_role("dialog", name="Tina Trainer")).to_contain_text(
            "has not made a profile visible", timeout=10_000
        )
        assert grace.errors == [] and ada.errors == []
    finally:
        grace.close()
        ada.close()


def test_me_checkboxes_sit_beside_their_labels(
    server: Server, browser: Any, room: tuple[int, dict[str, Any]]
) -> None:
    """In the narrow profile card a long label wraps beside its checkbox, not below it."""
    from tests.browser_harness import open_as

    _, people = room
    tab = open_as(browser, server, people["ada"], "/me")
    try:
        page = tab.page
        for label in ("Show my brief profile (name, photo, about me) to co-participants",
                      "Receive information mail (service mail always arrives)"):
            box = page.get_by_role("checkbox", name=label).bounding_box()
            text = page.locator("label", has_text=label).bounding_box()
            assert box is not None and text is not None
            assert text["x"] > box["x"] + box["width"] - 1, (label, box, text)  # to its right
            assert text["y"] < box["y"] + box["height"], (label, box, text)  # on its line
        assert tab.errors == []
    finally:
        tab.close()


def test_delete_at_once_during_the_grace_month(server: Server, browser: Any) -> None:
    """A terminating account may still choose deletion now (docs/privacy.md): the grace
    page offers it, and afterwards the account no longer signs in."""
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    _, people = server.run(seed_people(server.db_url, "Leaving Now", {"lena": "participant"}))
    lena = people["lena"]
    tab = open_as(browser, server, lena, "/me")
    page = tab.page
    try:
        page.get_by_role("button", name="Terminate my account").click()
        page.get_by_label("Your password (to confirm it is you)").fill(lena.password)
        page.get_by_role("dialog").get_by_role("button", name="Terminate").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=10_000)
        page.get_by_label("Email").fill(lena.email)
        page.get_by_label("Password").fill(lena.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Your account is terminating")).to_be_visible(
            timeout=10_000
        )
        keep = page.get_by_role("button", name="Reactivate my account").bounding_box()
        delete = page.get_by_role("button", name="Delete my account now").bounding_box()
        assert keep is not None and delete is not None
        assert (
            delete["x"] >= keep["x"] + keep["width"] + 4
            or delete["y"] >= keep["y"] + keep["height"]
        )  # apart
        page.get_by_role("button", name="Delete my account now").click()
        page.get_by_label("Your password (to confirm it is you)").fill(lena.password)
        page.get_by_role("dialog").get_by_role("button", name="Delete now, no way back").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=10_000)
        page.get_by_label("Email").fill(lena.email)
        page.get_by_label("Password").fill(lena.password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert").filter(has_text="wrong email or password")).to_be_visible(
            timeout=10_000
        )
        assert tab.errors == []
    finally:
        tab.close()
