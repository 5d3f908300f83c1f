"""Running a session from the browser only (issue 18 item 1): the demo admin creates an event,
enrols a trainer and ten participants from a CSV file, forms a group, and the group runs;
trainers and organisers manage only their own events, as far as the API lets them.

With CLASSHUB_DOC_SCREENSHOTS=1 the screenshots also go to docs/screenshots/
(scripts/manage_screenshots.sh).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.browser_harness import (  # noqa: F401 - fixtures
    LIVE_MS,
    ROOT,
    Person,
    Server,
    browser,
    open_as,
    server,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
NEW_PASSWORD = "violet kettle harbour 2041"
# The start of a page.evaluate() body that sends a JSON write with the session's CSRF token.
JS_HEADERS = """async () => {
    const headers = () => ({'Content-Type': 'application/json',
                            'X-CSRF-Token': window.classhub.me.csrf_token});
    return """


def doc_shot(page: Any, name: str) -> None:
    path = shot(page, name)
    if os.environ.get("CLASSHUB_DOC_SCREENSHOTS"):
        shutil.copy(path, ROOT / "docs" / "screenshots" / path.name)


@pytest.fixture(scope="module")
def demo(server: Server) -> dict[str, Person]:
    """``classhub demo`` as a newcomer runs it: its accounts, passwords read from its output."""
    out = server.cli("demo").stdout
    people: dict[str, Person] = {}
    for role, email, password in re.findall(r"^\s+(\w+)\s+(\S+@\S+)\s+(.+)$", out, re.M):
        people[role if role != "participant" else email.split("@")[0]] = Person(
            0, email, role, password.strip()
        )
    assert {"admin", "organiser", "trainer"} <= set(people), out
    return people


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"


def set_password(browser: Any, server: Server, link: str) -> Any:
    """A person who got their link: set a password in a fresh browser context, signed in."""
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    page.goto(link.replace("http://testserver", server.url))
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat the password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url(f"{server.url}/events")
    return page


def test_the_demo_admin_runs_a_session_in_the_browser_only(
    server: Server, browser: Any, demo: dict[str, Person], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    admin = open_as(browser, server, demo["admin"], "/events", viewport=LAPTOP)
    page = admin.page
    others: list[Any] = []
    try:
        # Not enrolled anywhere: the events screen shows the way to every event.
        page.get_by_role("link", name="Find any event or create one").click()
        expect(page.get_by_role("heading", name="All events")).to_be_visible()
        expect(page.get_by_role("link", name="Demo: Facilitating live workshops")).to_be_visible()
        page.get_by_role("link", name="New event").click()
        page.get_by_label("Title").fill("Customer care, day 1")
        page.get_by_label("Description").fill("Listening, questions, hard conversations.")
        page.get_by_label("Place").fill("Room 2.14")
        page.get_by_label(re.compile("^Keep chat, notes and photos")).fill("30")
        doc_shot(page, "manage-new-event")
        page.get_by_role("button", name="Create the event").click()
        expect(page.get_by_role("heading", name="Customer care, day 1")).to_be_visible()
        event_id = int(page.url.rsplit("/", 1)[1])
        stored = page.evaluate(f"async () => (await fetch('/api/events/{event_id}')).json()")
        assert (stored["location"], stored["retention_days"]) == ("Room 2.14", 30)

        # A trainer, one by one.
        form = page.get_by_role("form", name="Enrol one person")
        form.get_by_label("Email").fill("tara@training.example")
        form.get_by_label("Name").fill("Tara Trainer")
        form.get_by_label("Role").select_option("trainer")
        form.get_by_role("button", name="Enrol").click()
        expect(form.get_by_role("status")).to_have_text(re.compile("Tara Trainer .* is enrolled"))

        # Ten participants from a CSV file; a bad line is reported by its number.
        rows = [f"p{i:02d}@training.example,Person {i:02d},participant" for i in range(1, 11)]
        rows.insert(4, "not-an-address,Nobody,participant")
        csv_file = tmp_path / "people.csv"
        csv_file.write_text("email,display_name,role\n" + "\n".join(rows) + "\n")
        upload = page.get_by_role("form", name="Enrol from a CSV file")
        upload.get_by_label("CSV file").set_input_files(str(csv_file))
        upload.get_by_role("button", name="Upload and enrol").click()
        expect(upload.locator(".csv-summary")).to_have_text("10 enrolled, 1 line not used.")
        expect(upload.get_by_role("list", name="Lines not used")).to_have_text(
            re.compile(r"Line 6: .*")
        )
        people = page.get_by_role("list", name="Enrolled people")
        expect(page.get_by_role("heading", name="Enrolled (11)")).to_be_visible()
        expect(people.get_by_role("listitem")).to_have_count(11)

        # Roles are assigned on the enrolment; an enrolment ends with Remove.
        page.get_by_label("Role of Person 09").select_option("organiser")
        expect(page.get_by_label("Role of Person 09")).to_have_value("organiser")
        page.get_by_role("button", name="Remove Person 10").click()
        page.get_by_role("dialog").get_by_role("button", name="Remove").click()
        expect(page.get_by_role("heading", name="Enrolled (10)")).to_be_visible()

        # The admin takes part as the organiser: the screen follows the new role.
        form.get_by_label("Email").fill(demo["admin"].email)
        form.get_by_label("Role").select_option("organiser")
        form.get_by_role("button", name="Enrol").click()
        expect(page.get_by_text("Your role: organiser.")).to_be_visible()
        expect(page.get_by_role("link", name=re.compile("Change time, place"))).to_be_visible()
        expect(page.get_by_role("heading", name="Enrolled (11)")).to_be_visible()

        # A learning group with the trainer and three participants.
        group_form = page.get_by_role("form", name="New learning group")
        group_form.get_by_label("Group name").fill("Table 1")
        for name in ("Tara Trainer", "Person 01", "Person 02", "Person 03"):
            group_form.get_by_label(name).check()
        group_form.get_by_role("button", name="Create the group").click()
        group = page.locator("li.group", has_text="Table 1")
        expect(
            group.get_by_role("list", name="Members of Table 1").get_by_role("listitem")
        ).to_have_count(4)
        group.get_by_label("Person to add to Table 1").select_option(
            label="Person 04 (participant)"
        )
        group.get_by_role("button", name="Add").click()
        expect(
            group.get_by_role("list", name="Members of Table 1").get_by_role("listitem")
        ).to_have_count(5)
        doc_shot(page, "manage-event")
        group_href = group.get_by_role("link", name="Open the group chat").get_attribute("href")
        assert group_href is not None

        # The admin hands on the set-password links; the trainer and a participant sign in.
        links = page.get_by_role("list", name="Set-password links")
        tara_link = links.get_by_label("Link for Tara Trainer").input_value()
        p01_link = links.get_by_label("Link for Person 01").input_value()
        tara = set_password(browser, server, tara_link)
        p01 = set_password(browser, server, p01_link)
        others += [tara.context, p01.context]

        # The session runs: the trainer posts to the group, the participant sees it live.
        p01.goto(f"{server.url}{group_href}")
        expect(p01.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        tara.goto(f"{server.url}{group_href}")
        expect(tara.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        tara.get_by_label("Message to Table 1").fill("Welcome to table 1: first, introductions")
        tara.get_by_role("button", name="Send").click()
        expect(p01.locator("li.msg", has_text="Welcome to table 1")).to_have_count(
            1, timeout=LIVE_MS
        )
        # The admin opens the group from the manage screen and reads along.
        page.get_by_role("link", name="Open the group chat").click()
        expect(page.locator("li.msg", has_text="Welcome to table 1")).to_have_count(
            1, timeout=LIVE_MS
        )
        # The admin, now its organiser, speaks to the whole event; the participant, who
        # finds the event in their own list, reads it live.
        p01.goto(f"{server.url}/events")
        p01.get_by_role("link", name="Customer care, day 1").click()
        expect(p01.locator("#conn")).to_have_text("live", timeout=LIVE_MS)
        page.goto(f"{server.url}/events/{event_id}")
        page.get_by_label("Message to everyone").fill("Good morning: we start at ten past")
        page.get_by_role("button", name="Send").click()
        expect(p01.locator("li.msg", has_text="we start at ten past")).to_have_count(
            1, timeout=LIVE_MS
        )
        assert not admin.errors
    finally:
        for ctx in others:
            ctx.close()
        admin.close()


def test_the_manage_screens_fit_a_phone(
    server: Server, browser: Any, demo: dict[str, Person], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    admin = open_as(browser, server, demo["admin"], "/manage", viewport=PHONE)
    page = admin.page
    try:
        expect(page.get_by_role("heading", name="All events")).to_be_visible()
        page.get_by_label("When").select_option("current")
        page.get_by_role("button", name="Find").click()
        expect(page).to_have_url(re.compile(r"/manage\?when=current$"))
        expect(page.get_by_role("status").filter(has_text="found")).to_be_visible()
        no_sideways_scroll(page)
        doc_shot(page, "manage-events-phone")
        page.get_by_role("link", name="People and groups").first.click()
        expect(page.get_by_role("heading", name=re.compile("Enrolled"))).to_be_visible()
        expect(page.get_by_role("heading", name="Learning groups")).to_be_visible()
        no_sideways_scroll(page)
        shot(page, "manage-event-phone")
        page.goto(f"{server.url}/manage/new")
        expect(page.get_by_label("Title")).to_be_visible()
        no_sideways_scroll(page)
        # Made on the phone: a CSV's per-line errors and the long links still fit.
        page.get_by_label("Title").fill("Made on a phone")
        page.get_by_role("button", name="Create the event").click()
        expect(page.get_by_role("heading", name="Made on a phone")).to_be_visible()
        csv_file = tmp_path / "two.csv"
        csv_file.write_text(
            "email,display_name,role\n"
            "solo@training.example,Solo Person-With-A-Rather-Long-Double-Barrelled-Name,\n"
            "still-not-an-address-but-a-very-long-single-token-of-text,Nobody,\n"
        )
        upload = page.get_by_role("form", name="Enrol from a CSV file")
        upload.get_by_label("CSV file").set_input_files(str(csv_file))
        upload.get_by_role("button", name="Upload and enrol").click()
        expect(upload.locator(".csv-summary")).to_have_text("1 enrolled, 1 line not used.")
        expect(upload.get_by_role("list", name="Lines not used")).to_have_text(
            re.compile(r"Line 3: ")
        )
        expect(page.get_by_role("list", name="Set-password links")).to_be_visible()
        no_sideways_scroll(page)
        doc_shot(page, "manage-csv-phone")
        assert not admin.errors
    finally:
        admin.close()


async def other_event(server: Server) -> int:
    """An event the demo's organiser and trainer take no part in."""
    from storage.repo.events import create_event

    db = server.db()
    try:
        async with db.session() as s:
            now = dt.datetime.now(dt.UTC)
            event = await create_event(
                s, title="Someone else's course", starts_at=now, ends_at=now + dt.timedelta(hours=2)
            )
            return event.id
    finally:
        await db.close()


def test_trainers_and_organisers_manage_only_their_events_within_the_api(
    server: Server, browser: Any, demo: dict[str, Person]
) -> None:
    from playwright.sync_api import expect

    elsewhere = server.run(other_event(server))
    organiser = open_as(browser, server, demo["organiser"], "/manage", viewport=LAPTOP)
    page = organiser.page
    try:
        expect(page.get_by_role("heading", name="Events I run")).to_be_visible()
        cards = page.get_by_role("list", name="Events").get_by_role("listitem")
        expect(cards).to_have_count(1)  # the demo event only, not the admin's new one
        expect(cards).to_have_text(re.compile("Demo: Facilitating live workshops"))
        # No "New event": creating events is for admins, and the API refuses it.
        expect(page.get_by_role("link", name="New event")).to_have_count(0)
        status = page.evaluate(
            JS_HEADERS
            + """(await fetch('/api/events', {method: 'POST', headers: headers(),
                 body: JSON.stringify({title: 'Mine', starts_at: '2030-01-01T09:00:00Z',
                                       ends_at: '2030-01-01T17:00:00Z'})})).status; }"""
        )
        assert status == 403
        # Nor the admin's event list.
        assert page.evaluate("async () => (await fetch('/api/admin/events')).status") == 403
        page.goto(f"{server.url}/manage/new")
        expect(page.get_by_text("Only admins create events.")).to_be_visible()
        # The organiser enrols and changes roles in their own event.
        page.goto(f"{server.url}/manage")
        cards.get_by_role("link", name="People and groups").click()
        expect(page.get_by_role("form", name="Enrol one person")).to_be_visible()
        expect(page.get_by_role("link", name=re.compile("Change time, place"))).to_be_visible()
        # Roles: a participant made trainer, and back (the list is read again each time).
        page.get_by_label("Role of Lena").select_option("trainer")
        expect(page.get_by_text("11 participants, 2 trainers, 1 organiser")).to_be_visible()
        page.get_by_label("Role of Lena").select_option("participant")
        expect(page.get_by_text("12 participants, 1 trainer, 1 organiser")).to_be_visible()
        # Someone outside their events is offered the place by mail, not enrolled, no link.
        form = page.get_by_role("form", name="Enrol one person")
        form.get_by_label("Email").fill("stranger@training.example")
        form.get_by_label("Name").fill("Stranger")
        form.get_by_role("button", name="Enrol").click()
        expect(form.get_by_role("status")).to_have_text(re.compile("offer to join was mailed"))
        expect(page.get_by_role("heading", name="Enrolled (14)")).to_be_visible()
        expect(page.get_by_role("list", name="Set-password links")).to_be_hidden()
        # Someone else's event is closed to them: the screen says what the API answers.
        page.goto(f"{server.url}/manage/{elsewhere}")
        expect(page.get_by_text("You take no part in this event")).to_be_visible()
        expect(page.get_by_role("form", name="Enrol one person")).to_have_count(0)
    finally:
        organiser.close()

    trainer = open_as(browser, server, demo["trainer"], "/events", viewport=LAPTOP)
    page = trainer.page
    try:
        page.get_by_role("link", name="People and groups").click()
        expect(page.get_by_role("heading", name="Learning groups")).to_be_visible()
        # A trainer invites participants and manages groups, but neither enrols in other
        # roles nor changes roles or ends enrolments: the screen does not offer it...
        expect(page.get_by_role("form", name="Invite a participant")).to_be_visible()
        expect(page.get_by_role("form", name="Enrol one person")).to_have_count(0)
        expect(page.get_by_role("form", name="Enrol from a CSV file")).to_have_count(0)
        enrolled = page.get_by_role("list", name="Enrolled people")
        # The demo event: its organiser, its trainer and 12 participants.
        expect(enrolled.get_by_role("listitem")).to_have_count(14)
        expect(enrolled.get_by_role("button")).to_have_count(0)
        expect(page.get_by_label(re.compile("^Role of "))).to_have_count(0)
        # ...and the API refuses it.
        event_id = int(page.url.rsplit("/", 1)[1])
        refused = page.evaluate(
            """async (id) => {
                const headers = {'Content-Type': 'application/json',
                                 'X-CSRF-Token': window.classhub.me.csrf_token};
                const members = (await (await fetch(`/api/events/${id}/members`)).json()).members;
                const someone = members.find((m) => m.role === 'participant');
                const enrol = await fetch(`/api/events/${id}/enrolments`, {method: 'POST', headers,
                    body: JSON.stringify({email: someone.email, display_name: 'X',
                                          role: 'organiser'})});
                const remove = await fetch(`/api/events/${id}/enrolments/${someone.user_id}`,
                    {method: 'DELETE', headers});
                return [enrol.status, remove.status];
            }""",
            event_id,
        )
        assert refused == [403, 403]
        # The trainer's invitation of a new address: the person is mailed; no link is shown.
        invite = page.get_by_role("form", name="Invite a participant")
        invite.get_by_label("Email").fill("newcomer@training.example")
        invite.get_by_label("Name").fill("New Comer")
        invite.get_by_role("button", name="Invite").click()
        expect(invite.get_by_role("status")).to_have_text(re.compile("offer to join was mailed"))
        expect(page.get_by_role("list", name="Set-password links")).to_be_hidden()
        page.goto(f"{server.url}/manage/{elsewhere}")
        expect(page.get_by_text("You take no part in this event")).to_be_visible()
        expect(page.get_by_role("form", name="Invite a participant")).to_have_count(0)
        assert not trainer.errors
    finally:
        trainer.close()
