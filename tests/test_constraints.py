"""constraints.txt pins every distribution the test command installs, so a fresh machine
resolves to what CI last passed with (a new release of a typed library once broke
strict mypy on a fresh install while the linters themselves were pinned)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt: {line!r} is not an exact pin (name==version)"
        pins[_norm(name)] = version.strip()
    return pins


def test_every_installed_distribution_is_pinned_at_its_installed_version() -> None:
    pins = _pins()
    unpinned, drifted = [], []
    for dist in metadata.distributions():
        name = _norm(dist.metadata["Name"])
        if name in {"classhub", "setuptools", "wheel"}:
            continue
        if name not in pins:
            unpinned.append(f"{name}=={dist.version}")
        elif pins[name] != dist.version:
            drifted.append(f"{name}: installed {dist.version}, pinned {pins[name]}")
    assert not unpinned, f"installed but not in constraints.txt (run scripts/lock.sh): {unpinned}"
    assert not drifted, f"installed versions differ from constraints.txt: {drifted}"


def test_both_readme_commands_install_with_the_constraints() -> None:
    for script in ("scripts/test.sh", "scripts/demo.sh"):
        text = (ROOT / script).read_text()
        installs = [ln for ln in text.splitlines() if "pip install" in ln]
        assert installs, script
        for ln in installs:
            assert "-c constraints.txt" in ln, f"{script}: {ln.strip()}"
