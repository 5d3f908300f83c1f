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
            {
                "ada": "participant",
                "grace": "participant",
                "tina_trainer": "trainer",
                "olga_organiser": "organiser",
                "root_admin": "none",
            },
            admins=("root_admin",),
        )
    )
    server.people.update(people)
    return event_id, people


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
            ],
        ),
        (
            "root_admin",
            [
                ("/admin/messages", "Message log"),
                ("/admin/audit", "Audit log"),
                ("/admin/activity", "Activity log"),
                ("/admin/users", "Users"),
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
