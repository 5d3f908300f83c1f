"""The load generator against a real `classhub serve` on a free port: a tiny classroom, end to end.

Setup through `classhub loadtest-setup`, sign-in over HTTP, the real WebSocket
protocol, accounting by channel sequence, the report files, the cleanup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

REPO = Path(__file__).resolve().parent.parent


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    # Generous: on a machine busy with other test suites the server can take long to start.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"classhub serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("classhub serve did not come up")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, dict[str, str]]]:
    tmp_path = tmp_path_factory.mktemp("loadtest-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CLASSHUB_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'var' / 'classhub.db'}",
        "PUBLIC_URL": url,
        "SECRET_KEY": "loadtest-secret-" + "k" * 32,
        "DATA_KEY": "loadtest-data-" + "d" * 32,
        "REDIS_PREFIX": f"classhub-lt-{uuid.uuid4().hex[:8]}",
        "PYTHONPATH": str(REPO),
    }
    env.pop("REDIS_URL", None)
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(url, proc)
        yield url, proc.pid, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["json", "msgpack"])
def test_tiny_classroom_loses_nothing_and_writes_its_report(
    server: tuple[str, int, dict[str, str]], tmp_path: Path, protocol: str
) -> None:
    url, pid, env = server
    results = tmp_path / "results"
    run = subprocess.run(  # noqa: PLW1510 - the test reads the exit code
        [sys.executable, "-m", "loadtest", "classroom", "--url", url,
         "--participants", "5", "--posters", "2", "--rate", "2", "--duration", "2",
         "--protocol", protocol, "--server-pid", str(pid), "--results-dir", str(results),
         "--tag", "pytest", "--no-progress", "--drain-timeout", "10"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    [json_file] = results.glob("*_classroom_pytest.json")
    [png_file] = results.glob("*_classroom_pytest.png")
    assert png_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads(json_file.read_text())
    f = result["figures"]
    assert f["connections"]["connected"] == 5
    assert f["connections"]["connect_failures"] == 0
    assert f["publishes"]["sent"] == f["publishes"]["acked"] > 0
    d = f["deliveries"]
    # every post reaches all five connections, the poster's own included
    assert d["delivered"] == d["expected"] == 5 * f["publishes"]["acked"]
    assert (d["lost"], d["duplicates"], d["out_of_order"]) == (0, 0, 0)
    assert f["latency_ms"]["count"] == d["delivered"]
    assert f["server"]["cpu_s_run"] > 0 and f["server"]["rss_end_mb"] > 0

    # the setup step cleaned up after itself: no bot account is left
    check = subprocess.run(  # noqa: PLW1510 - the test reads the exit code
        [sys.executable, "-c",
         ("import asyncio\n"
         "from sqlalchemy import func, select\n"
         "from storage.db import Database\n"
         "from storage.models import User\n"
         "from storage.settings import Settings\n"
         "async def main():\n"
         "    db = Database(Settings.from_env().database_url)\n"
         "    async with db.session() as s:\n"
         "        n = (await s.execute(select(func.count()).select_from(User)"
         ".where(User.email.like('%@loadtest.invalid')))).scalar_one()\n"
         "    await db.close()\n"
         "    print(n)\n"
         "asyncio.run(main())\n")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30,
    )
    assert check.stdout.strip() == "0", check.stdout + check.stderr


@pytest.mark.slow
def test_tiny_board_burst_delivers_every_release(
    server: tuple[str, int, dict[str, str]], tmp_path: Path
) -> None:
    """`board-burst`: signed-in bots from `loadtest-setup --sessions`, drafts over HTTP,
    releases within the window, every one at every subscriber; cleaned up afterwards."""
    url, pid, env = server
    results = tmp_path / "results"
    run = subprocess.run(  # noqa: PLW1510 - the test reads the exit code
        [sys.executable, "-m", "loadtest", "board-burst", "--url", url, "--releases", "12",
         "--subscribers", "3", "--window", "0.3", "--server-pid", str(pid),
         "--results-dir", str(results), "--tag", "pytest", "--drain-timeout", "10"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [json_file] = results.glob("*_board-burst_pytest.json")
    result = json.loads(json_file.read_text())
    f = result["figures"]
    assert f["statuses"] == {"200": 12}
    assert f["deliveries"] == {"expected": 36, "lost": 0, "duplicates": 0, "out_of_order": 0,
                               "subscribers_with_wrong_notes": 0}
    assert f["last_delivery_after_s"] is not None and f["server_cpu_s"] > 0
    assert "removed 1 events and 15 bot accounts" in run.stderr


@pytest.mark.slow
def test_tiny_poll_burst_counts_every_answer_once(
    server: tuple[str, int, dict[str, str]], tmp_path: Path
) -> None:
    """`poll-burst`: a trainer bot opens a poll, bots answer within the window, every
    subscriber's final tally equals the stored answers; doubles refused; cleaned up."""
    url, pid, env = server
    results = tmp_path / "results"
    run = subprocess.run(  # noqa: PLW1510 - the test reads the exit code
        [sys.executable, "-m", "loadtest", "poll-burst", "--url", url, "--answers", "15",
         "--subscribers", "3", "--window", "0.3", "--server-pid", str(pid),
         "--results-dir", str(results), "--tag", "pytest", "--drain-timeout", "10"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [json_file] = results.glob("*_poll-burst_pytest.json")
    result = json.loads(json_file.read_text())
    assert all(result["checks"].values()), result["checks"]
    f = result["figures"]
    assert f["statuses"] == {"200": 15} and f["stored"]["total"] == 15
    assert sum(f["sent_per_option"]) == 15 and f["double_answers"] == {"409": 10}
    assert f["tallies_per_subscriber"]["min"] >= 1 and f["server_cpu_s"] > 0
    assert "removed 1 events and 19 bot accounts" in run.stderr
