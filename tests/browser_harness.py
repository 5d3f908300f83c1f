"""A real classhub server and Debian's Chromium for the browser tests.

The server is a ``classhub serve`` subprocess on a free port with its own var
directory (SQLite, in-process broker, Maildir); tests seed people and events by
writing to the same database through the storage layer, then drive Chromium
with Playwright. Chromium comes from Debian's packages, never a download: a
plain machine without it skips, CI fails.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services import free_port, require

CHROMIUM = os.environ.get("CLASSHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
SERVER_START_SECS = 30


def require_chromium() -> None:
    require(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")


@dataclass
class Person:
    id: int
    email: str
    name: str
    password: str = PASSWORD


@dataclass
class Server:
    url: str
    db_url: str
    var_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    def run(self, coro: Any) -> Any:
        # Playwright's sync API keeps an event loop running in this thread.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    def db(self) -> Any:
        from storage.db import Database

        return Database(self.db_url)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    @property
    def maildir(self) -> Path:
        return self.var_dir / "mail"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a ``classhub`` subcommand against this server's database and mail."""
        return subprocess.run(
            [sys.executable, "-m", "web.cli", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, check=True,
        )


def start_server(tmp: Path, **env: str) -> Server:
    from storage.migrate import upgrade

    port = free_port()
    var_dir = tmp / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite+aiosqlite:///{var_dir / 'classhub.db'}"
    # Alembic runs its own event loop; Playwright's sync API may hold this thread's.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(upgrade, db_url).result()
    url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "CLASSHUB_VAR_DIR": str(var_dir),
        "DATABASE_URL": db_url,
        "PUBLIC_URL": url,
        "SECRET_KEY": "browser-test-secret-" + "x" * 32,
        "DATA_KEY": "browser-test-data-key-" + "y" * 32,
        "REDIS_PREFIX": f"classhub-browser-{uuid.uuid4().hex[:8]}",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    full_env.pop("REDIS_URL", None)
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(
        url=url, db_url=db_url, var_dir=var_dir, proc=proc, log_path=log_path, env=full_env
    )
    deadline = time.monotonic() + SERVER_START_SECS
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"classhub serve exited early:\n{server.log_tail()}")
        try:
            # url is the http://127.0.0.1 address of the server we just started
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"classhub serve did not come up:\n{server.log_tail()}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=5)


async def seed_people(
    db_url: str, event_title: str, roles: dict[str, str], *, admins: tuple[str, ...] = ()
) -> tuple[int, dict[str, Person]]:
    """One event and a person per entry of ``roles`` (key -> participant/trainer/organiser/none)."""
    from storage.db import Database
    from storage.models import Role
    from storage.repo.accounts import create_user
    from storage.repo.events import create_event, enrol

    db = Database(db_url)
    people: dict[str, Person] = {}
    try:
        async with db.session() as s:
            now = dt.datetime.now(dt.UTC)
            event = await create_event(
                s,
                title=event_title,
                starts_at=now - dt.timedelta(minutes=30),
                ends_at=now + dt.timedelta(hours=3),
                location="Room A",
                description="A live session of the browser tests.",
            )
            for key, role in roles.items():
                name = key.replace("_", " ").title()
                email = f"{key}-{uuid.uuid4().hex[:8]}@example.org"
                user = await create_user(
                    s, email=email, display_name=name, password=PASSWORD, is_admin=key in admins
                )
                if role != "none":
                    await enrol(s, user.id, event.id, Role(role))
                people[key] = Person(user.id, email, name)
            return event.id, people
    finally:
        await db.close()


def launch_browser(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def sign_in(page: Any, server: Server, person: Person, next_path: str = "/events") -> None:
    page.goto(f"{server.url}/signin?next={next_path}")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}{next_path.split('?')[0]}*")


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    srv = start_server(tmp_path_factory.mktemp("browser"))
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_browser(p)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Tab:
    """A signed-in page and the JavaScript errors it produced."""

    page: Any
    errors: list[str]

    def close(self) -> None:
        self.page.context.close()


def open_as(
    browser: Any, server: Server, person: Person, path: str = "/events", **context_args: Any
) -> Tab:
    ctx = browser.new_context(**context_args)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server, person, path)
    return Tab(page, errors)


# --- the screens (tests/test_webclient_browser.py, tests/test_webclient_accounts.py) -----


@pytest.fixture(scope="module")
def room(server: Server) -> tuple[int, dict[str, Any]]:
    """The event of tests/test_webclient_browser.py and _accounts.py, with its people."""
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


# --- the live scenarios (tests/test_webclient_live*.py) ----------------------------------

LIVE_MS = 10_000  # generous bound for a live update to show; never a timing assert


@pytest.fixture(scope="module")
def event(server: Server) -> tuple[int, dict[str, Any]]:
    """The live scenarios' event and its people, seeded once per module's server."""
    return server.run(  # type: ignore[no-any-return]
        seed_people(
            server.db_url,
            "Live Workshop",
            {"ada": "participant", "grace": "participant", "tina": "trainer", "root": "none"},
            admins=("root",),
        )
    )


def note(page: Any, text: str) -> Any:
    """The note on the board that shows ``text``."""
    return page.locator("li.note", has_text=text)
