"""The web client in Debian's Chromium against a real classhub server: signing in, reconnecting,
every screen's labels and keyboard use, tables and forms that stay readable, a note's photo."""

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


def test_sign_in_and_my_events(
    server: Server, browser: Any, room: tuple[int, dict[str, Any]]
) -> None:
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


def test_backoff_is_exponential_with_full_jitter(server: Server, browser: Any) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{server.url}/signin")
        bounds = page.evaluate(
            """async () => {
                const m = await import('/static/js/realtime.js');
                const out = [];
                for (let attempt = 0; attempt < 12; attempt += 1) {
                    out.push([
                        m.backoffDelay(attempt, () => 0),
                        m.backoffDelay(attempt, () => 0.999999),
                    ]);
                }
                return {out, base: m.BACKOFF_BASE_MS, cap: m.BACKOFF_CAP_MS};
            }"""
        )
    finally:
        page.close()
    base, cap = bounds["base"], bounds["cap"]
    for attempt, (low, high) in enumerate(bounds["out"]):
        ceiling = min(cap, base * 2**attempt)
        assert low == 0  # full jitter: anywhere from zero...
        assert ceiling - 1 <= high < ceiling  # ...up to the exponential ceiling, capped
    assert bounds["out"][-1][1] < cap


@pytest.fixture(scope="module")
def small_replay_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.browser_harness import require_chromium, start_server, stop_server

    require_chromium()
    srv = start_server(
        tmp_path_factory.mktemp("replay"),
        REPLAY_LIMIT="10",
        PUBLISH_BURST="100",
        PUBLISH_RATE="100",
    )
    try:
        yield srv
    finally:
        stop_server(srv)


def test_too_far_behind_reloads_recent_history(small_replay_server: Server, browser: Any) -> None:
    """Back from offline more than REPLAY_LIMIT events behind: the server answers "reload";
    the client starts the channel afresh with its recent history, no gap inside it."""
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    srv = small_replay_server
    event_id, people = srv.run(
        seed_people(srv.db_url, "Replay", {"ada": "participant", "grace": "participant"})
    )
    room = f"/events/{event_id}"
    ada = open_as(browser, srv, people["ada"], room)
    grace = open_as(browser, srv, people["grace"], room)
    try:
        for tab in (ada, grace):
            expect(tab.page.locator("#conn")).to_have_text("live", timeout=10_000)
        ada.page.context.set_offline(True)
        expect(ada.page.locator("#conn")).to_have_text("offline", timeout=10_000)
        grace.page.evaluate(
            f"""async () => {{
                for (let i = 1; i <= 25; i += 1) {{
                    const {{ done }} = await window.classhub.rt.publish(
                        'event:{event_id}:chat', {{ text: `burst ${{i}}` }});
                    await done;
                }}
            }}"""
        )
        expect(grace.page.locator("li.msg", has_text="burst 25")).to_have_count(1, timeout=10_000)
        ada.page.context.set_offline(False)
        msgs = ada.page.locator("ol.messages")
        expect(msgs.locator("li.msg", has_text="burst 25")).to_have_count(1, timeout=10_000)
        expect(msgs).to_contain_text("Earlier messages are not shown.")
        texts = msgs.locator("li.msg .text").all_inner_texts()
        numbers = [int(t.split()[1]) for t in texts if t.startswith("burst ")]
        # A contiguous tail ending at the newest message: no gap, no duplicate.
        assert numbers == list(range(numbers[0], 26))
        assert numbers[0] > 1
        assert ada.errors == [] and grace.errors == []
    finally:
        ada.close()
        grace.close()


UNLABELLED_FIELDS = """() => [
        ...document.querySelectorAll('main input, main select, main textarea')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length)
        && !el.getAttribute('aria-label'))
    .map((el) => el.outerHTML)"""


def test_tour_of_every_screen_labelled_and_keyboard_usable(
    server: Server, browser: Any, room: tuple[int, dict[str, Any]]
) -> None:
    """Each screen renders without script errors, every form field has a label."""
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    event_id, people = room
    # Keyboard only: the sign-in form is reachable and submits with Enter.
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{server.url}/signin")
    expect(page.get_by_label("Email")).to_be_focused()  # focus lands on the first field
    page.keyboard.type(people["grace"].email)
    page.keyboard.press("Tab")
    page.keyboard.type(people["grace"].password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="My events")).to_be_visible()
    ctx.close()

    tours = [
        (
            "ada",
            [
                (f"/events/{event_id}/people", "Enrolled"),
                (f"/events/{event_id}/groups", "Learning groups"),
                (f"/events/{event_id}/news", "News from the organisers"),
                (f"/dm/{people['grace'].id}?name=Grace", "Direct messages with Grace"),
                ("/me", "My data"),
            ],
        ),
        (
            "olga_organiser",
            [
                (f"/events/{event_id}/organiser/edit", "Change the event"),
                (f"/trainer/{event_id}", "Taken offline (0)"),
                ("/manage", "Events I run"),
                (f"/manage/{event_id}", "Learning groups"),
            ],
        ),
        (
            "root_admin",
            [
                ("/admin/messages", "Message log"),
                ("/admin/audit", "Audit log"),
                ("/admin/activity", "Activity log"),
                ("/admin/users", "Users"),
                ("/manage", "All events"),
                ("/manage/new", "New event"),
                (f"/manage/{event_id}", "Learning groups"),
            ],
        ),
    ]
    for who, stops in tours:
        tab = open_as(browser, server, people[who], stops[0][0])
        try:
            for path, heading in stops:
                tab.page.goto(f"{server.url}{path}")
                expect(tab.page.get_by_role("heading", name=heading).first).to_be_visible()
                assert tab.page.evaluate(UNLABELLED_FIELDS) == [], path
                shot(
                    tab.page,
                    path.strip("/").split("?")[0].replace("/", "-").replace(str(event_id), "N"),
                )
            assert tab.errors == []
        finally:
            tab.close()


def test_note_with_a_photo(
    server: Server, browser: Any, room: tuple[int, dict[str, Any]], tmp_path: Any
) -> None:
    from PIL import Image
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    event_id, people = room
    photo = tmp_path / "whiteboard.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo)
    tab = open_as(browser, server, people["ada"], f"/events/{event_id}/board")
    grace = open_as(browser, server, people["grace"], f"/events/{event_id}/board")
    try:
        expect(grace.page.locator("#conn")).to_have_text("live", timeout=10_000)
        expect(grace.page.locator(".board")).to_have_count(1, timeout=10_000)
        # Every state of the note the other participant's board ever drew.
        grace.page.evaluate(
            """() => { window.seenNotes = [];
                new MutationObserver(() => { for (const li of document.querySelectorAll('li.note'))
                    window.seenNotes.push([li.textContent, Boolean(li.querySelector('img'))]); })
                .observe(document.querySelector('.board'), { childList: true, subtree: true }); }"""
        )
        tab.page.get_by_role("button", name="+ note in Unsorted", exact=True).click()
        tab.page.get_by_label("New note").fill("Photo of the whiteboard")
        tab.page.get_by_label("Photo (optional)").set_input_files(str(photo))
        tab.page.get_by_role("button", name="Post note").click()
        mine = tab.page.locator("li.note", has_text="Photo of the whiteboard")
        img = mine.locator("img")
        expect(img).to_have_count(1, timeout=10_000)
        # The thumbnail is served decrypted to a member and decodes as an image.
        tab.page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=10_000
        )
        # Posted with its photo, not posted and then edited to carry it.
        expect(mine.locator(".meta")).not_to_contain_text("edited")
        theirs = grace.page.locator("li.note", has_text="Photo of the whiteboard")
        expect(theirs.locator("img")).to_have_count(1, timeout=10_000)
        expect(theirs.locator(".meta")).not_to_contain_text("edited")
        seen = grace.page.evaluate(
            "window.seenNotes.filter(([t]) => t.includes('Photo of the whiteboard'))"
        )
        assert seen and all(has_img for _, has_img in seen), seen
        history = tab.page.evaluate(
            f"""async () => {{
                const b = await (await fetch('/api/pinboard/events/{event_id}/board')).json();
                const n = b.notes.find((x) => x.text === 'Photo of the whiteboard');
                return [n.state, n.version, n.edited]; }}"""
        )
        assert history == ["published", 1, False]
        assert tab.errors == [] and grace.errors == []
    finally:
        tab.close()
        grace.close()


# Headers, buttons and identifiers (channel, type) of a table that wrap onto more than one line.
WRAPPED_LABELS = """() => [
        ...document.querySelectorAll('main th, main td button, main td.token')].map((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    return [el.textContent, tops.size];
}).filter(([, lines]) => lines > 1)"""


def test_message_log_with_long_text_keeps_its_headers_and_buttons_readable(
    server: Server, browser: Any, room: tuple[int, dict[str, Any]]
) -> None:
    """A message with a long unbroken string (a link, a JSON body) takes the width it
    can get; the other columns keep their headers and "Open" buttons on one line."""
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    event_id, people = room
    ada = open_as(browser, server, people["ada"], f"/events/{event_id}")
    root = open_as(browser, server, people["root_admin"], "/admin/messages")
    try:
        expect(ada.page.locator("#conn")).to_have_text("live", timeout=10_000)
        ada.page.get_by_label("Message to everyone").fill("see https://example.org/" + "a" * 300)
        ada.page.get_by_role("button", name="Send").click()
        expect(
            ada.page.locator("li.msg:not(.pending)", has_text="https://example.org/")
        ).to_have_count(1, timeout=10_000)
        page = root.page
        page.get_by_label("Channel (e.g. event:3:chat, dm:4:9)").fill(f"event:{event_id}:chat")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("tr", has_text="https://example.org/")).to_have_count(1, timeout=10_000)
        shot(page, "admin-messages-long")
        assert page.evaluate(WRAPPED_LABELS) == []
        assert ada.errors == [] and root.errors == []
    finally:
        ada.close()
        root.close()


def test_mail_audience_shows_only_the_fields_it_uses(
    server: Server, browser: Any, room: tuple[int, dict[str, Any]]
) -> None:
    """"Everyone in this event" ignores the group and past/current/future: they are not offered."""
    from playwright.sync_api import expect

    from tests.browser_harness import open_as

    event_id, people = room
    tab = open_as(browser, server, people["olga_organiser"], f"/events/{event_id}/organiser/mail")
    page = tab.page
    try:
        events = page.get_by_label("Events (for “the events I run”)")
        group = page.get_by_label("Group", exact=True)
        expect(page.get_by_label("Who")).to_have_value("event")
        expect(events).to_be_hidden()
        expect(group).to_be_hidden()
        page.get_by_label("Who").select_option("my_events")
        expect(events).to_be_visible()
        expect(group).to_be_hidden()
        page.get_by_label("Who").select_option("group")
        expect(group).to_be_visible()
        expect(events).to_be_hidden()
        assert tab.errors == []
    finally:
        tab.close()
