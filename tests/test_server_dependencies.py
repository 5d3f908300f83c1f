"""The server runs without the load tool's libraries (the optional extra ``classhub[loadtest]``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# httpx is the server's too since webhooks and OpenID Connect (realtime/webhook_worker.py).
LOAD_TOOL_ONLY = ("matplotlib", "psutil", "rich")


def test_serving_imports_none_of_the_load_tools_libraries() -> None:
    # httpx (a server dependency since webhooks and OpenID Connect) imports rich for its
    # command line when rich happens to be installed: what httpx itself pulls in is not ours.
    probe = (
        "import sys\n"
        "import httpx\n"
        "theirs = set(sys.modules)\n"
        "import web.app, web.cli, web.commands, realtime.hub, realtime.mailer.worker\n"
        "import storage.maintenance\n"
        "web.app.create_app\n"
        f"print(','.join(m for m in {LOAD_TOOL_ONLY!r} if m in sys.modules and m not in theirs))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"the server imports {out.stdout.strip()}"


def test_the_load_tools_libraries_are_an_optional_extra() -> None:
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert not runtime & set(LOAD_TOOL_ONLY), runtime & set(LOAD_TOOL_ONLY)
    extra = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower()
             for d in project["optional-dependencies"]["loadtest"]}
    assert set(LOAD_TOOL_ONLY) <= extra
