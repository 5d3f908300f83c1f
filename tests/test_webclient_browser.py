"""The web client in Debian's Chromium against a real classhub server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser_harness import Server, browser, seed_people, server, shot, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def room(server: Server) -> tuple[int, dict[str, Any]]:
    event_id, people = server.run(
        seed_people(
            server.db_url,
            "Browser Workshop",
            {"ada": "participant", "grace": "participant", "tina_trainer": "trainer", "olga_organiser": "organiser", "root_admin": "none"},
            admins=("root_admin",),
        )
    )
    server.people.update(people)
    return event_id, people


def test_sign_in_and_my_events(server: Server, browser: Any, room: tuple[int, dict[str, Any]]) -> None:
    from playwright.sync_api import expect

    event_id, people = room
    ctx = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = ctx.new_page()
    page.goto(f"{server.url}/events")
    expect(page).to_have_url(f"{server.url}/signin?next=%2Fevents")
    page.get_by_label("Email").fill(people["ada"].email)
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="wrong email or password")).to_be_visible()
    shot(page, "signin")
    page.get_by_label("Password").fill(people["ada"].password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My events")).to_be_visible()
    expect(page.get_by_role("link", name="Browser Workshop")).to_be_visible()
    shot(page, "my-events")
    page.get_by_role("link", name="Browser Workshop").click()
    expect(page.get_by_role("heading", name="Browser Workshop")).to_be_visible()
    expect(page).to_have_url(f"{server.url}/events/{event_id}")
    ctx.close()
