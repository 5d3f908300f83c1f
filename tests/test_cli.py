"""The ``classhub`` command in a subprocess: demo, user, --help, configuration errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from storage.errors import ConfigError
from storage.settings import Settings
from tests.cli_helpers import ROOT, classhub, cli_env
from tests.conftest import make_settings
from tests.services import PG_PORT


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'classhub.db'}"


async def _sign_in(url: str, tmp_path: Path, email: str, password: str) -> httpx.Response:
    from web.app import create_app

    app = create_app(make_settings(url, tmp_path / "var"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        r = await client.post("/api/login", json={"email": email, "password": password})
        if r.status_code != 200:
            return r
        events = (await client.get("/api/events")).json()["events"]
        assert len(events) == 1 and events[0]["my_role"] == "participant"
        groups = (await client.get(f"/api/events/{events[0]['id']}/groups")).json()["groups"]
        assert len(groups[0]["members"]) == 4
        members = (await client.get(f"/api/events/{events[0]['id']}/members")).json()["members"]
        assert len(members) == 14
        return r


@pytest.mark.slow
async def test_demo_is_idempotent_and_its_participant_can_sign_in(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = classhub("demo", var_dir=var)
    assert first.returncode == 0, first.stderr
    accounts = re.findall(r"^\s+(\w+)\s+(\S+@\S+)\s+(\S+)$", first.stdout, re.MULTILINE)
    roles = [role for role, _, _ in accounts]
    assert roles.count("participant") == 12
    assert {"admin", "organiser", "trainer"} <= set(roles)
    second = classhub("demo", var_dir=var)
    assert second.returncode == 0, second.stderr
    assert "exist already" in second.stdout
    assert not any(password in second.stdout for _, _, password in accounts)
    _, email, password = next(a for a in accounts if a[0] == "participant")
    r = await _sign_in(sqlite_url(tmp_path), tmp_path, email, password)
    assert r.status_code == 200


def test_user_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`user add` as a real subprocess; the rest in-process (same `main`), for speed."""
    import asyncio
    import io

    from web.cli import main

    var, email = tmp_path / "var", "Someone@Example.org"
    added = classhub("user", "add", email, "--name", "Some One", var_dir=var)
    assert added.returncode == 0, added.stderr
    password = added.stdout.rsplit("password: ", 1)[1].strip()
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CLASSHUB_PRODUCTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLASSHUB_VAR_DIR", str(var))

    def cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    code, _, err = cli("user", "add", email, "--name", "X")
    assert code == 1 and "exists already" in err
    assert cli("user", "block", email, "--reason", "test")[0] == 0
    url = sqlite_url(tmp_path)
    body = {"email": email, "password": password}

    async def attempt(client: httpx.AsyncClient) -> int:
        return (await client.post("/api/login", json=body)).status_code

    async def scenario() -> None:
        from web.app import create_app

        app = create_app(make_settings(url, var))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client,
        ):
            assert await attempt(client) == 403  # blocked
            await asyncio.to_thread(cli, "user", "unblock", email)
            await asyncio.to_thread(cli, "user", "make-admin", email)
            r = await client.post("/api/login", json=body)
            assert r.status_code == 200 and r.json()["is_admin"] is True
            code, _, err = await asyncio.to_thread(
                cli, "user", "reset-password", email, "--password-stdin",
                stdin="another long password\n",
            )  # fmt: skip
            assert code == 0, err
            # The reset ended the session, and the old password no longer works.
            assert (await client.get("/api/me")).status_code == 401
            assert await attempt(client) == 401
            body["password"] = "another long password"
            assert await attempt(client) == 200

    asyncio.run(scenario())
    code, _, err = cli("user", "block", "nobody@example.org")
    assert code == 1 and "no account" in err


def test_help_tells_what_each_command_does(tmp_path: Path) -> None:
    top = classhub("--help", var_dir=tmp_path)
    assert top.returncode == 0
    for name in ("serve", "migrate", "demo", "user"):
        assert name in top.stdout
    user = classhub("user", "block", "--help", var_dir=tmp_path)
    assert user.returncode == 0 and "sessions end" in user.stdout
    # Issue 18: it said sessions end "at once"; without Redis the servers learn of it
    # within the session cache's time (docs/privacy.md, "Sessions").
    for action in ("block", "reset-password", "make-admin"):
        text = " ".join(classhub("user", action, "--help", var_dir=tmp_path).stdout.split())
        assert "without Redis its sessions stop working within CLASSHUB_SESSION_CACHE_SECS " \
            "(default 10 s)" in text, text
        assert "CLASSHUB_REVALIDATE_SECS (default 60 s)" in text
        assert text.count("at once") == 1 and "with REDIS_URL set" in text


def test_loadtest_usage_names_the_command_it_was_run_as(tmp_path: Path) -> None:
    """Issue 18: `classhub loadtest --help` printed `usage: python -m loadtest`."""
    for args, usage in [
        (["loadtest", "--help"], "usage: classhub loadtest "),
        (["loadtest", "classroom", "--help"], "usage: classhub loadtest classroom "),
        (["loadtest", "board-burst", "--help"], "usage: classhub loadtest board-burst "),
    ]:
        shown = classhub(*args, var_dir=tmp_path)
        assert shown.returncode == 0 and shown.stdout.startswith(usage), shown.stdout[:200]
    for args, usage in [
        (["--help"], "usage: python -m loadtest "),
        (["board-burst", "--help"], "usage: python -m loadtest board-burst "),
    ]:
        direct = subprocess.run(
            [sys.executable, "-m", "loadtest", *args], cwd=ROOT, env=cli_env(tmp_path),
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert direct.returncode == 0 and direct.stdout.startswith(usage), direct.stdout[:200]


@pytest.mark.parametrize(
    "variable,value",
    [
        ("DATABASE_URL", "mysql://localhost/x"),
        ("REDIS_URL", "ftp://localhost"),
        ("PUBLIC_URL", "not a url"),
        ("SESSION_IDLE_SECS", "soon"),
        ("LOGIN_MAX_FAILURES_ACCOUNT", "500"),
        # Numbers that float() takes but no setting may hold (issue 18: PUBLISH_RATE=nan).
        ("PUBLISH_RATE", "nan"),
        ("MAIL_RATE_PER_HOUR", "inf"),
        # The hub's and the session cache's tunables, read with bare float() before.
        ("CLASSHUB_HEARTBEAT_SECS", "soon"),
        ("CLASSHUB_HEARTBEAT_TIMEOUT_SECS", "10"),
        ("CLASSHUB_REVALIDATE_SECS", "inf"),
        ("CLASSHUB_GAP_WAIT_SECS", "-1"),
        ("CLASSHUB_HEAD_CHECK_SECS", "nan"),
        ("CLASSHUB_SHARED_RECORD_SECS", "0"),
        ("CLASSHUB_CONN_LEASE_SECS", "1e9"),
        ("CLASSHUB_SESSION_CACHE_SECS", "-5"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = classhub("migrate", var_dir=tmp_path, env={variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    result = classhub("serve", "--port", "9", var_dir=tmp_path, CLASSHUB_PRODUCTION="1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "classhub: configuration error: SECRET_KEY: must be set when CLASSHUB_PRODUCTION is on"
    ]
    assert not (tmp_path / "secret_key").exists()
    env = {"CLASSHUB_VAR_DIR": str(tmp_path), "CLASSHUB_PRODUCTION": "true"}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.variable == "SECRET_KEY"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**env, "SECRET_KEY": "s" * 40})
    assert info.value.variable == "DATA_KEY"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**env, "SECRET_KEY": "s" * 40, "DATA_KEY": "d" * 40})
    assert info.value.variable == "METRICS_TOKEN"
    ok = Settings.from_env(
        {**env, "SECRET_KEY": "s" * 40, "DATA_KEY": "d" * 40, "METRICS_TOKEN": "m" * 20}
    )
    assert ok.production and ok.secret_key == "s" * 40
    # Without the switch a key is generated once and kept.
    dev = Settings.from_env({"CLASSHUB_VAR_DIR": str(tmp_path)})
    assert Settings.from_env({"CLASSHUB_VAR_DIR": str(tmp_path)}).secret_key == dev.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


COMMANDS = [["migrate"], ["serve", "--port", "9"], ["demo"], ["user", "block", "a@b.example"],
            ["maintenance"], ["mailer", "--until-idle"]]  # fmt: skip


def _one_config_line(result: subprocess.CompletedProcess[str], variable: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"classhub: configuration error: {variable}: "), lines[0]
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "variable,value,words",
    [
        ("CLASSHUB_VAR_DIR", "{tmp}/a-file/var", "cannot create"),
        ("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/test", "Connect call failed"),
        ("DATABASE_URL", "postgresql://postgres@127.0.0.1:{pg}/no_such_db_18", "does not exist"),
        ("DATABASE_URL", "postgresql://nobody18:pw@127.0.0.1:{pg}/test", "nobody18"),
        ("DATABASE_URL", "sqlite+aiosqlite:///{tmp}/mistyped/classhub.db", "does not exist"),
    ],
)
def test_unusable_configuration_is_one_line_in_every_command(
    tmp_path: Path, variable: str, value: str, words: str
) -> None:
    """Issue 18: a var dir that cannot be made, a PostgreSQL that does not answer or
    refuses, a SQLite path in a directory that is not there: one line, status 2."""
    (tmp_path / "a-file").write_text("not a directory")
    value = value.format(tmp=tmp_path, pg=PG_PORT)
    for command in COMMANDS:
        result = classhub(*command, var_dir=tmp_path / "var", env={variable: value})
        line = _one_config_line(result, variable)
        assert words in line and ":pw@" not in line, line
    # A mistyped SQLite path creates neither its directory nor a database.
    assert not (tmp_path / "mistyped").exists()


def test_unreachable_redis_is_one_line_at_start(tmp_path: Path) -> None:
    for command in (["serve", "--port", "9"], ["mailer", "--until-idle"]):
        result = classhub(*command, var_dir=tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
        assert "127.0.0.1:1" in _one_config_line(result, "REDIS_URL")


def test_var_dir_and_its_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Issue 18: var/classhub.db was created world-readable. The var dir is 0700, the
    database (and so SQLite's -wal and -shm), secret_key and data_key 0600."""
    import sqlite3
    import stat

    var = tmp_path / "deep" / "var"
    result = subprocess.run(
        ["sh", "-c", f"umask 000 && exec {sys.executable} -m web.cli migrate"],
        cwd=ROOT, env=cli_env(var), capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    conn = sqlite3.connect(var / "classhub.db")  # WAL: opening makes -wal and -shm
    try:
        conn.execute("CREATE TABLE t (x)")
        for name in ("classhub.db", "classhub.db-wal", "classhub.db-shm", "secret_key", "data_key"):
            assert stat.S_IMODE((var / name).stat().st_mode) == 0o600, name
    finally:
        conn.close()
