"""Settings is the one configuration parser: every variable the code or the docs name
is read by it, listed in the README, and a bad number is refused in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storage.errors import ConfigError
from storage.settings import Settings
from storage.settings_parse import Env

ROOT = Path(__file__).resolve().parent.parent
SEARCHED = ("storage", "realtime", "web", "loadtest", "scripts", "tests", "docs")
# Variables named in the tree that classhub itself does not read, and who does.
READ_ELSEWHERE = {
    "CLASSHUB_CHROMIUM": "tests/browser_harness.py",
    "CLASSHUB_DOC_SCREENSHOTS": "tests/test_webclient_manage.py",
}
NAME = re.compile(r"\bCLASSHUB_[A-Z][A-Z0-9_]*")


def _read_by_settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = Env({"CLASSHUB_VAR_DIR": str(tmp_path), **extra})
    Settings.from_env(env=env)
    return env.read


def _named_in_tree() -> dict[str, set[str]]:
    files = [ROOT / "README.md", ROOT / "Procfile"]
    for top in SEARCHED:
        files += [p for p in (ROOT / top).rglob("*") if p.is_file() and p.suffix in
                  {".py", ".md", ".sh", ".js", ".toml", ".txt", ".html", ""}]
    found: dict[str, set[str]] = {}
    for path in files:
        if not path.exists() or "__pycache__" in path.parts:
            continue
        for name in NAME.findall(path.read_text(errors="replace")):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def _readme_table() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split(" | ", 1)[0]))
    return names


def test_every_classhub_variable_named_anywhere_is_parsed_by_settings(tmp_path: Path) -> None:
    known = _read_by_settings(tmp_path)
    named = _named_in_tree()
    assert "CLASSHUB_HEARTBEAT_SECS" in named  # the search reaches the code
    unknown = {
        name: sorted(where) for name, where in named.items()
        if name not in known and name not in READ_ELSEWHERE
    }
    assert not unknown, f"named but not parsed by Settings.from_env: {unknown}"
    for name, reader in READ_ELSEWHERE.items():
        assert name in (ROOT / reader).read_text()
        assert name not in known


def test_readme_lists_every_variable_settings_reads(tmp_path: Path) -> None:
    known = set(_read_by_settings(tmp_path))
    table = _readme_table()
    assert not known - table, f"missing from README's configuration table: {sorted(known - table)}"
    assert not table - known, f"in README's table but not read: {sorted(table - known)}"


def test_the_hub_timings_are_typed_fields(tmp_path: Path) -> None:
    s = Settings.from_env({
        "CLASSHUB_VAR_DIR": str(tmp_path), "CLASSHUB_HEARTBEAT_SECS": "2",
        "CLASSHUB_HEARTBEAT_TIMEOUT_SECS": "3.5", "CLASSHUB_REVALIDATE_SECS": "7",
        "CLASSHUB_GAP_WAIT_SECS": "0", "CLASSHUB_HEAD_CHECK_SECS": "1",
        "CLASSHUB_SHARED_RECORD_SECS": "0.5", "CLASSHUB_CONN_LEASE_SECS": "1.5",
        "CLASSHUB_SESSION_CACHE_SECS": "0",
    })
    h = s.hub
    assert (
        h.heartbeat_secs,
        h.heartbeat_timeout_secs,
        h.revalidate_secs,
        h.gap_wait_secs,
        h.head_check_secs,
        h.shared_record_secs,
        h.conn_lease_secs,
    ) == (2, 3.5, 7, 0, 1, 0.5, 1.5)
    assert s.session_cache_secs == 0
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {"CLASSHUB_VAR_DIR": str(tmp_path), "CLASSHUB_HEARTBEAT_TIMEOUT_SECS": "20"}
        )
    assert info.value.variable == "CLASSHUB_HEARTBEAT_TIMEOUT_SECS"
    assert "CLASSHUB_HEARTBEAT_SECS (25)" in str(info.value)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "1e400", "-1", "seven", "1e9"])
def test_every_number_refuses_what_is_not_a_finite_value_in_range(tmp_path: Path, bad: str) -> None:
    numbers = [
        n for n, kind in _read_by_settings(tmp_path).items() if kind in {"integer", "number"}
    ]
    assert "PUBLISH_RATE" in numbers and "CLASSHUB_GAP_WAIT_SECS" in numbers
    accepted = []
    for name in numbers:
        try:
            Settings.from_env({"CLASSHUB_VAR_DIR": str(tmp_path), name: bad})
        except ConfigError as exc:
            assert exc.variable == name and "\n" not in str(exc), (name, str(exc))
        else:
            accepted.append(name)
    if bad == "1e9":  # only variables without an upper bound may take it
        assert "CLASSHUB_REVALIDATE_SECS" not in accepted and "PUBLISH_RATE" in accepted
    else:
        assert not accepted, f"{bad!r} accepted by {accepted}"
