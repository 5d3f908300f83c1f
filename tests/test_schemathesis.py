"""schemathesis against a real server: generated requests for every operation, no 5xx.

Bounded: a few examples per operation, one seed, no shrinking. The README's
development section has the command for a longer run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import ROOT, classhub, cli_env
from tests.services import free_port

ADMIN, PASSWORD = "fuzz-admin@example.org", "sturdy violin marmalade 123"
# Operations that would end the fuzzer's own session: the rest would then only
# be fuzzed as anonymous (all 401s), which tests little.
EXCLUDED = ["/api/logout", "/api/me/terminate"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    # The fuzzer writes far faster than any person: with the default WRITE_BURST most of its
    # writes would only meet 429 and never reach a handler (the limit: test_write_limits.py).
    env = {"DATABASE_URL": url, "WRITE_RATE": "1000", "WRITE_BURST": "1000000"}
    assert classhub("demo", var_dir=tmp_path, env=env).returncode == 0
    added = classhub(
        "user", "add", ADMIN, "--name", "Fuzz", "--admin", "--password-stdin",
        var_dir=tmp_path, stdin=PASSWORD + "\n", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--log-level", "critical"],
        cwd=ROOT,
        env=cli_env(tmp_path, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1]
        yield base
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        # A 5xx is logged with its traceback; show it if the run failed.
        print(err[-5000:])


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_schemathesis_finds_no_server_error(server: str, tmp_path: Path) -> None:
    r = httpx.post(f"{server}/api/login", json={"email": ADMIN, "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie, csrf = r.cookies["classhub_session"], r.json()["csrf_token"]
    excluded = [arg for path in EXCLUDED for arg in ("--exclude-path", path)]
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{server}/api/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "3",
            "--seed",
            "1",
            "--no-shrink",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "-H",
            f"Cookie: classhub_session={cookie}",
            "-H",
            f"X-CSRF-Token: {csrf}",
            *excluded,
        ],
        cwd=tmp_path,  # its cache directory goes there, not into the checkout
        capture_output=True,
        text=True,
        check=False,
        timeout=150,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # It really ran: many generated cases, every one passed.
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts is not None, run.stdout[-3000:]
    assert int(counts[1]) == int(counts[2]) >= 500, counts[0]
