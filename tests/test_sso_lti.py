"""LTI 1.3 launches from a platform simulated on 127.0.0.1 (tests/lti_platform.py), on
SQLite and PostgreSQL: the launch signs the person in, enrols them in the course's event
in the role the course gives them and opens its room; a launch that does not check out
is refused with a page that says why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from storage.models import ActivityEntry, Enrolment, Role, User
from storage.repo import lti as lti_repo
from storage.repo.events import create_event, enrol
from tests.cli_helpers import classhub
from tests.conftest import make_user
from tests.lti_platform import (
    CLIENT_ID,
    DEPLOYMENT,
    INSTRUCTOR,
    LEARNER,
    Platform,
    form_post,
    lti_platform,
    person,
)
from tests.sso_support import browser, sso_app


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with lti_platform() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_launch(platform: Platform) -> None:
    platform.launch.clear()
    platform.forge = False


async def _setup(app: Any, platform: Platform, *, linked: bool = True) -> tuple[int, int]:
    """Register the platform (again, in this test's database) and an event for course-101."""
    async with app.state.services.db.session() as db:
        existing = await lti_repo.find_platform(db, platform.issuer, CLIENT_ID)
        if existing is None:
            registered = await lti_repo.add_platform(
                db, name="Test Moodle", issuer=platform.issuer, client_id=CLIENT_ID,
                auth_login_url=platform.auth_url, jwks_url=platform.jwks_url,
                deployments=[DEPLOYMENT],
            )
            platform_id = registered.id
        else:
            platform_id = existing.id
        now = dt.datetime.now(dt.UTC)
        event = await create_event(
            db, title="Course 101 live", starts_at=now, ends_at=now + dt.timedelta(hours=2)
        )
        if linked:
            await lti_repo.link_context(db, platform_id, "course-101", event.id)
        return platform_id, event.id


async def _launch(client: httpx.AsyncClient, platform: Platform, hint: str) -> httpx.Response:
    """Login initiation from the platform, its authentication answer, the form post."""
    client.follow_redirects = False
    r = await client.post("/lti/login", data={
        "iss": platform.issuer, "login_hint": hint, "client_id": CLIENT_ID,
        "target_link_uri": "http://testserver/lti/launch", "lti_message_hint": "resource-1",
    })
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(platform.auth_url)
    page = await client.get(r.headers["location"])
    assert page.status_code == 200, page.text
    assert platform.requests[-1]["lti_message_hint"] == "resource-1"
    assert platform.requests[-1]["login_hint"] == hint
    action, fields = form_post(page.text)
    return await client.post(action, data=fields)


def _refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["x-classhub-error"] == code, r.text


async def _role(app: Any, user_id: int, event_id: int) -> str | None:
    async with app.state.services.db.session() as db:
        row = await db.get(Enrolment, (user_id, event_id))
        return row.role if row else None


async def test_a_learner_launch_opens_the_room_as_participant(
    platform: Platform, db_url: str, tmp_path: Path
) -> None:
    async with sso_app(db_url, tmp_path / "var") as app, browser(app) as client:
        _, event_id = await _setup(app, platform)
        hint = person()
        r = await _launch(client, platform, hint)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/events/{event_id}"
        me = (await client.get("/api/me")).json()
        assert me["email"] == f"{hint}@school.example" and me["display_name"] == "Launched Person"
        assert await _role(app, me["id"], event_id) == "participant"
        event = await client.get(f"/api/events/{event_id}")
        assert event.status_code == 200 and event.json()["my_role"] == "participant"
        async with app.state.services.db.session() as db:
            logins = await db.scalars(select(ActivityEntry.target).where(
                ActivityEntry.user_id == me["id"], ActivityEntry.action == "login"))
            assert list(logins) == ["via lti"]


async def test_an_instructor_launch_matches_the_account_and_makes_a_trainer(
    platform: Platform, db_url: str, tmp_path: Path
) -> None:
    async with sso_app(db_url, tmp_path / "var") as app, browser(app) as client:
        _, event_id = await _setup(app, platform)
        services = app.state.services
        teacher, organiser = await make_user(services), await make_user(services)
        async with app.state.services.db.session() as db:
            await enrol(db, teacher.id, event_id, Role.PARTICIPANT)
            await enrol(db, organiser.id, event_id, Role.ORGANISER)
        platform.launch.update({"email": teacher.email, "https://purl.imsglobal.org/spec/lti/"
                                "claim/roles": [INSTRUCTOR, LEARNER]})
        assert (await _launch(client, platform, person())).status_code == 303
        assert (await client.get("/api/me")).json()["id"] == teacher.id
        assert await _role(app, teacher.id, event_id) == "trainer"
        # A higher role held already is kept.
        platform.launch["email"] = organiser.email
        assert (await _launch(client, platform, person())).status_code == 303
        assert await _role(app, organiser.id, event_id) == "organiser"


async def test_a_replayed_launch_is_refused_by_its_nonce(
    platform: Platform, db_url: str, tmp_path: Path
) -> None:
    async with sso_app(db_url, tmp_path / "var") as app, browser(app) as client:
        await _setup(app, platform)
        client.follow_redirects = False
        r = await client.post("/lti/login", data={
            "iss": platform.issuer, "login_hint": person(),
            "target_link_uri": "http://testserver/lti/launch",  # no client_id: one registration
        })
        flow_cookie = client.cookies["classhub_lti"]
        action, fields = form_post((await client.get(r.headers["location"])).text)
        assert (await client.post(action, data=fields)).status_code == 303
        # The same browser (its flow cookie put back) posts the same id_token again.
        client.cookies.set("classhub_lti", flow_cookie, domain="testserver.local", path="/lti")
        _refused(await client.post(action, data=fields), 403, "nonce_used")
        # Without the cookie (anyone else who saw the token): refused before that.
        client.cookies.clear()
        _refused(await client.post(action, data=fields), 400, "flow_missing")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"forge": True}, 400, "bad_token"),
        ({"aud": "another-tool"}, 400, "bad_token"),
        ({"iss": "https://impostor.example"}, 400, "bad_token"),
        ({"exp": 1_000_000_000}, 400, "bad_token"),
        ({"nonce": "not-the-one-we-sent"}, 400, "bad_token"),
        ({"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "deployment-9"}, 403,
         "unknown_deployment"),
        ({"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiDeepLinkingRequest"},
         400, "bad_launch"),
        ({"https://purl.imsglobal.org/spec/lti/claim/roles": [
            "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]}, 403, "no_lti_role"),
        ({"https://purl.imsglobal.org/spec/lti/claim/context": {"id": "course-999"}}, 404,
         "course_not_linked"),
        ({"email": None}, 403, "no_email"),
    ],
    ids=["signature", "audience", "issuer", "expired", "nonce", "deployment", "message-type",
         "role", "course", "email"],
)
async def test_launches_that_do_not_check_out_are_refused(
    platform: Platform, db_url: str, tmp_path: Path, change: dict[str, Any], status: int,
    code: str,
) -> None:
    async with sso_app(db_url, tmp_path / "var") as app, browser(app) as client:
        _, event_id = await _setup(app, platform)
        change = dict(change)  # the parameter is shared by both backends' runs
        platform.forge = bool(change.pop("forge", False))
        platform.launch.update(change)
        hint = person()
        _refused(await _launch(client, platform, hint), status, code)
        assert (await client.get("/api/me")).status_code == 401
        async with app.state.services.db.session() as db:
            made = await db.scalar(select(User).where(User.email == f"{hint}@school.example"))
            assert made is None
            failed = await db.scalars(select(ActivityEntry.target).where(
                ActivityEntry.action == "login_failed", ActivityEntry.target == f"via lti: {code}"))
            assert list(failed)


async def test_unknown_platforms_and_blocked_accounts_are_refused(
    platform: Platform, db_url: str, tmp_path: Path
) -> None:
    async with sso_app(db_url, tmp_path / "var") as app, browser(app) as client:
        await _setup(app, platform)
        r = await client.post("/lti/login", data={
            "iss": "https://unknown.example", "login_hint": "x", "target_link_uri": "y"})
        _refused(r, 403, "unknown_platform")
        _refused(await client.get("/lti/login?iss=x"), 400, "bad_launch")  # no login_hint
        blocked = await make_user(app.state.services)
        async with app.state.services.db.session() as db:
            row = await db.get(User, blocked.id)
            assert row is not None
            row.status = "blocked"
        platform.launch["email"] = blocked.email
        _refused(await _launch(client, platform, person()), 403, "account_blocked")


def test_platforms_are_registered_and_courses_linked_with_the_cli(tmp_path: Path) -> None:
    var = tmp_path / "var"
    r = classhub("lti", "add-platform", "--name", "School Moodle", "--issuer",
                 "https://moodle.example.org", "--client-id", "abc", "--auth-url",
                 "https://moodle.example.org/mod/lti/auth.php", "--jwks-url",
                 "https://moodle.example.org/mod/lti/certs.php", "--deployment", "1", var_dir=var)
    assert r.returncode == 0 and "registered platform 1" in r.stdout, r.stderr
    assert classhub("lti", "add-deployment", "--platform", "1", "--deployment", "2",
                    var_dir=var).returncode == 0
    listed = classhub("lti", "list", var_dir=var)
    assert "School Moodle" in listed.stdout and "deployments=1,2" in listed.stdout
    r = classhub("lti", "link", "--platform", "1", "--context", "c1", "--event", "99",
                 var_dir=var)
    assert r.returncode == 1 and "event 99 not found" in r.stderr
    again = classhub("lti", "add-platform", "--name", "x", "--issuer",
                     "https://moodle.example.org", "--client-id", "abc", "--auth-url",
                     "https://a.example", "--jwks-url", "https://b.example", var_dir=var)
    assert again.returncode == 1 and "registered already" in again.stderr
