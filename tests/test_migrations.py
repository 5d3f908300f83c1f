"""Alembic: one head, `classhub migrate` on both backends, `serve` behind the schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from storage.migrate import alembic_config, current_heads, expected_heads, is_current
from tests.cli_helpers import ROOT, classhub, cli_env
from tests.services import create_pg_database, drop_pg_database, free_port, pg_url, require_postgres


def test_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db"))
    assert len(script.get_heads()) == 1, script.get_heads()
    # A linear chain: every revision has at most one parent.
    for revision in script.walk_revisions():
        assert not isinstance(revision.down_revision, tuple | list), revision.revision


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    require_postgres()
    name = asyncio.run(create_pg_database())
    try:
        yield pg_url(name)
    finally:
        asyncio.run(drop_pg_database(name))


def _migrate_and_check(url: str, var: Path) -> None:
    assert not asyncio.run(is_current(url))
    result = classhub("migrate", var_dir=var, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert "newest schema" in result.stdout
    assert asyncio.run(current_heads(url)) == expected_heads(url)
    # Running it again is harmless.
    assert classhub("migrate", var_dir=var, DATABASE_URL=url).returncode == 0


def test_migrate_on_sqlite(tmp_path: Path) -> None:
    _migrate_and_check(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", tmp_path)


def test_migrate_on_postgres(fresh_pg: str, tmp_path: Path) -> None:
    _migrate_and_check(fresh_pg, tmp_path)


def test_serve_refuses_an_unmigrated_postgres(fresh_pg: str, tmp_path: Path) -> None:
    port = free_port()
    result = classhub("serve", "--port", str(port), var_dir=tmp_path, DATABASE_URL=fresh_pg)
    assert result.returncode == 2
    assert "classhub migrate" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_serve_migrates_sqlite_itself(tmp_path: Path) -> None:
    """The documented choice: on the embedded default `serve` migrates by itself."""
    port = free_port()
    url = f"sqlite+aiosqlite:///{tmp_path / 'auto.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=cli_env(tmp_path, DATABASE_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready is not None and ready.status_code == 200, (
            proc.stderr.read() if proc.stderr else ""
        )
        assert asyncio.run(is_current(url))
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
