"""Bot accounts: the setup step (``classhub loadtest-setup`` as a subprocess) and signing in.

Sign-in goes through ``POST /api/login`` like a person's. Argon2 costs the
server ~50 ms per login, so each account signs in once and its cookie serves
all of its connections (up to MAX_CONNECTIONS_PER_USER).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

LOGIN_ATTEMPTS = 5


class SetupError(Exception):
    pass


def default_setup_cmd() -> str:
    return f"{shlex.quote(sys.executable)} -m web.cli"


def run_setup(cmd: str, rooms: int, accounts: int, out: Path) -> dict[str, Any]:
    """Create ``rooms`` events with ``accounts`` bots each; returns the credentials."""
    argv = [*shlex.split(cmd), "loadtest-setup", "--events", str(rooms),
            "--accounts", str(accounts), "-o", str(out)]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SetupError(
            f"`{shlex.join(argv)}` failed: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def run_cleanup(cmd: str, creds_file: Path) -> str:
    argv = [*shlex.split(cmd), "loadtest-setup", "--cleanup", str(creds_file)]
    proc = subprocess.run(argv, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SetupError(f"`{shlex.join(argv)}` failed: {proc.stderr.strip()}")
    return proc.stderr.strip()


def check_credentials(data: dict[str, Any], rooms: int, accounts: int) -> None:
    events = data.get("events", [])
    if len(events) < rooms:
        raise SetupError(f"the credentials hold {len(events)} events; the scenario needs {rooms}")
    for e in events[:rooms]:
        if len(e.get("accounts", [])) < accounts:
            raise SetupError(
                f"event {e.get('id')} has {len(e.get('accounts', []))} bot accounts; "
                f"the scenario needs {accounts} per event"
            )


@dataclass(frozen=True, slots=True)
class SignedIn:
    email: str
    cookie: str  # the Cookie header value


def _cookie_header(response: httpx.Response) -> str:
    pairs = []
    for raw in response.headers.get_list("set-cookie"):
        pair = raw.split(";", 1)[0].strip()
        if "=" in pair:
            pairs.append(pair)
    return "; ".join(pairs)


async def sign_in_all(
    base_url: str,
    emails: list[str],
    password: str,
    *,
    concurrency: int,
    on_done: Callable[[], None] = lambda: None,
) -> dict[str, SignedIn | str]:
    """Sign every account in; maps email to SignedIn, or to the reason it failed."""
    out: dict[str, SignedIn | str] = {}
    sem = asyncio.Semaphore(concurrency)
    # No cookie jar: a stored cookie would ride on the next login without a CSRF header.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    refuse_all = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0,
                                 cookies=refuse_all, follow_redirects=False) as client:

        async def one(email: str) -> None:
            async with sem:
                reason = "no answer"
                for attempt in range(LOGIN_ATTEMPTS):
                    try:
                        r = await client.post(
                            "/api/login",
                            json={"email": email, "password": password},
                            headers={"user-agent": "classhub-loadtest"},
                        )
                    except httpx.HTTPError as exc:
                        reason = f"{type(exc).__name__}"
                        await asyncio.sleep(0.5 * 2**attempt)
                        continue
                    if r.status_code == 200:
                        out[email] = SignedIn(email, _cookie_header(r))
                        on_done()
                        return
                    reason = f"http {r.status_code}"
                    if r.status_code in (429, 502, 503, 504):
                        await asyncio.sleep(float(r.headers.get("retry-after") or 0.5 * 2**attempt))
                        continue
                    break
                out[email] = reason
                on_done()

        await asyncio.gather(*(one(e) for e in emails))
    return out
