"""Mail settings: where mail goes (MAIL_URL) and how fast.

``MAIL_URL`` forms (the embedded default is a Maildir under ``$CLASSHUB_VAR_DIR/mail``):

- ``maildir:///absolute/path``
- ``smtp://[user:pass@]host[:25]`` - plain SMTP, no TLS (a relay on localhost)
- ``smtp+starttls://[user:pass@]host[:587]`` - STARTTLS is required, never skipped
- ``smtps://[user:pass@]host[:465]`` - implicit TLS

User name and password are percent-decoded (``%40`` for ``@``). Each problem is
reported as one :class:`ConfigError` line naming the variable. The ``MAIL_*``
limits below are read with the other settings, in ``storage/settings.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from storage.errors import ConfigError

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class MailTarget:
    scheme: str  # maildir | smtp | smtp+starttls | smtps
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None
    maildir: Path | None = None

    @property
    def use_tls(self) -> bool:
        return self.scheme == "smtps"

    @property
    def start_tls(self) -> bool:
        return self.scheme == "smtp+starttls"

    def describe(self) -> str:
        """For logs: never the password."""
        if self.scheme == "maildir":
            return f"maildir://{self.maildir}"
        who = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{who}{self.host}:{self.port}"


def parse_mail_url(url: str) -> MailTarget:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("MAIL_URL", f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "maildir":
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ConfigError("MAIL_URL", "maildir:// needs an absolute path, e.g. maildir:///var/mail")
        return MailTarget("maildir", maildir=Path(path))
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(
            "MAIL_URL", "must be maildir:///path, smtp://, smtps:// or smtp+starttls://"
        )
    if not parts.hostname:
        raise ConfigError("MAIL_URL", f"{scheme}:// needs a host, e.g. {scheme}://mail.example.org")
    if parts.password is not None and parts.username is None:
        raise ConfigError("MAIL_URL", "a password needs a user name (user:pass@host)")
    return MailTarget(
        scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


@dataclass(frozen=True)
class MailSettings:
    target: MailTarget
    sender: str = "classhub <noreply@localhost>"
    # Messages started per second by one worker (sliding window of one second).
    rate_per_sec: float = 10.0
    # Messages sent per rolling hour by all workers together; 0 means no limit.
    rate_per_hour: int = 10_000
    # SMTP connections one worker keeps busy at once.
    concurrency: int = 4
    # Temporary failures are retried with full-jitter backoff:
    # random(0, min(cap, base * 2**attempts)) seconds, until max_age after queueing.
    retry_base_secs: float = 60.0
    retry_cap_secs: float = 3600.0
    max_age_secs: float = 4 * 24 * 3600.0
    # A claimed delivery belongs to its worker this long; then another may take it.
    lease_secs: float = 120.0
    # How often an idle worker looks for due deliveries.
    poll_secs: float = 1.0
    smtp_timeout_secs: float = 30.0
    # Run `classhub maintenance` inside each mailer every N seconds (0: off, the
    # Procfile's own maintenance line does it).
    maintenance_every_secs: float = 0.0
