"""Reading one environment variable as a typed, checked value.

Every reader takes the variable's name, its embedded default and its range; an
unset or empty variable gives the default. A bad value raises
:class:`ConfigError`, one line naming the variable: a number that does not parse,
is not finite (``nan``, ``inf``) or is out of range never reaches the code that
would use it. The raw text is quoted with ``repr`` so a stray newline cannot
make the message two lines.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from storage.errors import ConfigError


class Env:
    """The environment as :class:`storage.settings.Settings` reads it.

    ``read`` keeps every name asked for and how it was read ("text", "integer",
    "number" ...), so a test can compare what the parser knows with what the code
    and the README name, and try bad values on every number.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.read: dict[str, str] = {}

    def raw(self, name: str, kind: str = "text") -> str | None:
        """The variable's text, ``None`` when unset or empty."""
        self.read.setdefault(name, kind)
        value = self._environ.get(name)
        return value if value else None

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name, "flag")
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in {"1", "true", "yes", "on"}:
            return True
        if value in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(name, f"expected true/false, got {raw!r}")

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.raw(name, "integer")
        if raw is None or not raw.strip():
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"expected an integer, got {raw!r}") from None
        return _in_range(name, value, minimum, maximum)

    def number(
        self, name: str, default: float, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        raw = self.raw(name, "number")
        if raw is None or not raw.strip():
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"expected a number, got {raw!r}") from None
        if not math.isfinite(value):
            # float() takes "nan" and "inf"; nan compares false with every bound.
            raise ConfigError(name, f"expected a finite number, got {raw!r}")
        return _in_range(name, value, minimum, maximum)

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated list, blanks dropped."""
        return tuple(
            item.strip() for item in (self.raw(name, "list") or "").split(",") if item.strip()
        )


N = TypeVar("N", int, float)


def _in_range(name: str, value: N, minimum: N, maximum: N | None) -> N:
    if value < minimum:
        raise ConfigError(name, f"must be at least {_show(minimum)}, got {_show(value)}")
    if maximum is not None and value > maximum:
        raise ConfigError(name, f"must be at most {_show(maximum)}, got {_show(value)}")
    return value


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def private_dir(name: str, path: Path) -> Path:
    """Create the directory ``path`` (and its parents) readable by the service user only
    (0700, whatever the umask); an existing one is left as it is. One that cannot be
    created is a :class:`ConfigError` naming ``name``."""
    if path.is_dir():
        return path
    try:
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)  # mkdir's mode is masked by the umask
    except FileExistsError as exc:
        raise ConfigError(name, f"{path} exists and is not a directory") from exc
    except OSError as exc:
        raise ConfigError(name, f"cannot create {path}: {exc.strerror or exc}") from exc
    return path


def read_or_create_secret(path: Path, nbytes: int) -> str:
    """Return the secret kept in ``path``, generating it on first use.

    The file is created with mode 0600 so only the service user can read it.
    """
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
