"""Single sign-on in Debian's Chromium against a real classhub server: with password
sign-in off, the sign-in page offers only the provider (a real OpenID Connect provider on
127.0.0.1), which signs the person in and returns them to the room they asked for; an LTI
launch from a simulated platform (its page form-posts the signed launch, as Moodle's does)
lands in the linked event's room as a participant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_harness import (  # noqa: F401 - fixtures
    Server,
    browser,
    require_chromium,
    seed_people,
    shot,
    start_server,
    stop_server,
)
from tests.lti_platform import CLIENT_ID, DEPLOYMENT, Platform, lti_platform, person
from tests.sso_support import Provider, oidc_env, oidc_provider

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UI_MS = 15_000


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        yield running


@pytest.fixture(scope="module")
def sso_server(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[Server]:
    require_chromium()
    srv = start_server(tmp_path_factory.mktemp("sso"), **oidc_env(provider, PASSWORD_SIGNIN="off"))
    try:
        yield srv
    finally:
        stop_server(srv)


def test_sign_in_with_the_provider_into_the_room(
    sso_server: Server, provider: Provider, browser: Any
) -> None:
    from playwright.sync_api import expect

    event_id, people = sso_server.run(seed_people(sso_server.db_url, "SSO session",
                                                 {"olga": "participant"}))
    olga = people["olga"]
    provider.set_user("olga", email=olga.email, email_verified=True, name="Olga")
    ctx = browser.new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{sso_server.url}/events/{event_id}")  # not signed in: to the sign-in page
        button = page.get_by_role("link", name="Sign in with Test School")
        expect(button).to_be_visible(timeout=UI_MS)
        expect(page.get_by_label("Password")).to_be_hidden()  # PASSWORD_SIGNIN=off
        expect(page.locator(".signin-provider")).to_have_text("Sign in with Test School")
        shot(page, "signin-oidc")
        button.click()
        page.get_by_placeholder("sub").fill("olga")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(f"{sso_server.url}/events/{event_id}", timeout=UI_MS)
        expect(page.get_by_role("heading", name="SSO session")).to_be_visible(timeout=UI_MS)
        # Admins' break-glass: the password form is one query parameter away.
        page.goto(f"{sso_server.url}/signin?password")
        expect(page.get_by_label("Password")).to_be_visible(timeout=UI_MS)
        assert errors == []
    finally:
        ctx.close()


def test_an_lti_launch_opens_the_linked_room(tmp_path: Path, browser: Any) -> None:
    from playwright.sync_api import expect

    from storage.db import Database
    from storage.repo import lti as lti_repo

    with lti_platform() as platform:
        server = start_server(tmp_path)
        platform.tool = server.url  # where the platform form-posts its launches
        try:
            _launch_in_browser(server, platform, browser, expect, Database, lti_repo)
        finally:
            stop_server(server)


def _launch_in_browser(server: Server, platform: Platform, browser: Any, expect: Any,
                       database: Any, lti_repo: Any) -> None:
    event_id, _ = server.run(seed_people(server.db_url, "Course 101 live", {}))

    async def register() -> None:
        db = database(server.db_url)
        try:
            async with db.session() as s:
                p = await lti_repo.add_platform(
                    s, name="Test Moodle", issuer=platform.issuer, client_id=CLIENT_ID,
                    auth_login_url=platform.auth_url, jwks_url=platform.jwks_url,
                    deployments=[DEPLOYMENT],
                )
                await lti_repo.link_context(s, p.id, "course-101", event_id)
        finally:
            await db.close()

    server.run(register())
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        hint = person()
        page.goto(
            f"{server.url}/lti/login?iss={platform.issuer}&login_hint={hint}&client_id={CLIENT_ID}"
            f"&target_link_uri={server.url}/lti/launch"
        )
        page.wait_for_url(f"{server.url}/events/{event_id}", timeout=UI_MS)
        expect(page.get_by_role("heading", name="Course 101 live")).to_be_visible(timeout=UI_MS)
        shot(page, "lti-launch-room")
    finally:
        ctx.close()
