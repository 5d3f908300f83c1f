"""/metrics behind METRICS_TOKEN (open without one: tests/test_hub_ws_delivery.py scrapes it)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from storage.errors import ConfigError
from storage.settings import Settings
from tests.conftest import make_settings

TOKEN = "scrape-" + "k" * 24


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path / "var", METRICS_TOKEN=TOKEN)


async def test_a_scrape_needs_the_token(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        r = await client.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "classhub_" not in r.text and r.json()["error"]["code"] == "unauthenticated"
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert "classhub_ws_connections" in r.text


def test_a_weak_token_is_refused_at_start(tmp_path: Path) -> None:
    for bad in ("short", "has a space in it really", "tab\tinside-0123456789"):
        with pytest.raises(ConfigError) as info:
            make_settings("sqlite+aiosqlite:///unused.db", tmp_path, METRICS_TOKEN=bad)
        assert "METRICS_TOKEN" in str(info.value)


def test_production_needs_a_metrics_token(tmp_path: Path) -> None:
    """In production /metrics is never open: without METRICS_TOKEN the server refuses to start."""
    env = {"CLASSHUB_VAR_DIR": str(tmp_path), "CLASSHUB_PRODUCTION": "1",
           "SECRET_KEY": "s" * 40, "DATA_KEY": "d" * 40}
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.variable == "METRICS_TOKEN"
    assert Settings.from_env({**env, "METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
