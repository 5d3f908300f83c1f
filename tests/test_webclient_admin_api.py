"""Admin > Server API in Chromium: make a key (its token shown once), add a webhook (its
secret shown once), see its deliveries, revoke the key; the revoked key is refused."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.browser_harness import (  # noqa: F401 - fixtures
    Server,
    browser,
    open_as,
    seed_people,
    server,
    shot,
)


def _history(server: Server, token: str) -> int:
    answer = httpx.get(
        f"{server.url}/api/server/history", params={"channel": "event:1:chat"},
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
    )
    return answer.status_code


def test_admin_makes_a_key_adds_a_webhook_and_revokes_the_key(
    server: Server, browser: Any
) -> None:
    from playwright.sync_api import expect

    _, people = server.run(
        seed_people(server.db_url, "API Workshop", {"ines_admin": "none"}, admins=("ines_admin",))
    )
    tab = open_as(browser, server, people["ines_admin"], "/admin/api")
    page = tab.page
    try:
        expect(page.get_by_role("heading", name="Server API")).to_be_visible()
        page.get_by_label("Name").fill("lms-sync")
        page.get_by_role("button", name="Make key").click()
        secret = page.get_by_test_id("shown-secret")
        expect(secret).to_contain_text("chk_")
        token = secret.inner_text().strip()
        key = page.locator("li.api-key", has_text="lms-sync")
        expect(key).to_contain_text("provision, read")
        expect(key.locator(".key-state")).to_have_text("active")
        assert _history(server, token) == 200
        page.get_by_role("button", name="I have copied it").click()
        expect(secret).to_have_count(0)
        shot(page, "admin-server-api")

        form = key.get_by_role("form", name="New webhook for lms-sync")
        form.get_by_label("Webhook URL").fill("http://127.0.0.1:9/hook")
        form.get_by_label("note.released").check()
        form.get_by_role("button", name="Add webhook").click()
        expect(page.get_by_test_id("shown-secret")).to_contain_text("whsec_")
        expect(key.locator(".webhooks li")).to_contain_text("note.released")
        key.get_by_role("button", name="Deliveries").click()
        expect(page.get_by_role("region", name="Deliveries")).to_contain_text(
            "Nothing delivered yet."
        )

        page.once("dialog", lambda d: d.accept())
        key.get_by_role("button", name="Revoke").click()
        expect(key.locator(".key-state")).to_contain_text("revoked")
        assert _history(server, token) == 401
        body = page.evaluate("async () => (await fetch('/api/admin/api-keys')).text()")
        assert token not in body and json.loads(body)["keys"][0]["name"]
        assert tab.errors == []
    finally:
        tab.close()
