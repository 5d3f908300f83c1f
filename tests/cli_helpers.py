"""Running the ``classhub`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli_env(var_dir: Path, **env: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("CLASSHUB_") or k in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"})
    }
    base.update(
        {
            "PYTHONPATH": str(ROOT),
            "CLASSHUB_VAR_DIR": str(var_dir),
            "PYTHONWARNINGS": "error",
        }
    )
    base.update(env)
    return base


def classhub(
    *args: str,
    var_dir: Path,
    stdin: str = "",
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    **more_env: str,
) -> subprocess.CompletedProcess[str]:
    """``env`` (a mapping of any names) and ``more_env`` (as keywords) are added to the
    command's environment."""
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        env=cli_env(var_dir, **{**(env or {}), **more_env}),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
