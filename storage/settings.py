"""Configuration from environment variables, each with its embedded default.

Every variable is read and checked once, at start-up. A bad value raises
:class:`ConfigError` whose message is one line naming the variable; the CLI
prints that line and exits, never a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from storage.errors import ConfigError
from storage.mail_config import MailSettings

DEFAULT_PORT = 8000


def _read_or_create_secret(path: Path, nbytes: int) -> str:
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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, f"expected true/false, got {raw!r}")


def _int(name: str, raw: str | None, default: int, minimum: int = 0) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def _float(name: str, raw: str | None, default: float, minimum: float = 0.0) -> float:
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


# ASVS 2.2.1: at most 100 failed attempts per hour on one account.
MAX_ACCOUNT_FAILURES_PER_HOUR = 100


def _login_limits(env: Mapping[str, str]) -> tuple[int, int, int]:
    window = _int("LOGIN_WINDOW_SECS", env.get("LOGIN_WINDOW_SECS"), 900, 1)
    per_account = _int(
        "LOGIN_MAX_FAILURES_ACCOUNT", env.get("LOGIN_MAX_FAILURES_ACCOUNT"), 10, 1
    )
    per_ip = _int("LOGIN_MAX_FAILURES_IP", env.get("LOGIN_MAX_FAILURES_IP"), 100, 1)
    # A sliding window lets per_account failures through every window_secs.
    per_hour = per_account * -(-3600 // window)
    if per_hour > MAX_ACCOUNT_FAILURES_PER_HOUR:
        raise ConfigError(
            "LOGIN_MAX_FAILURES_ACCOUNT",
            f"allows {per_hour} failed sign-ins per hour with LOGIN_WINDOW_SECS={window}; "
            f"at most {MAX_ACCOUNT_FAILURES_PER_HOUR} are allowed",
        )
    return window, per_account, per_ip


def _metrics_token(token: str) -> str:
    if token and (len(token) < 16 or not token.isprintable() or " " in token):
        raise ConfigError("METRICS_TOKEN", "must be at least 16 printable characters, no spaces")
    return token


@dataclass(frozen=True)
class Settings:
    """Everything classhub reads from its environment."""

    var_dir: Path
    database_url: str
    redis_url: str | None
    mail_url: str
    secret_key: str
    data_key: str
    public_url: str
    allowed_origins: tuple[str, ...]
    production: bool
    # Hub tuning.
    replay_limit: int = 1000
    publish_rate: float = 5.0  # publishes per second per user, sustained
    publish_burst: int = 20
    # Subscribe frames per user (each may name 100 channels, each checked in the store).
    subscribe_rate: float = 5.0
    subscribe_burst: int = 20
    # HTTP writes (POST/PUT/PATCH/DELETE) per signed-in user: a human's pace, however quick,
    # stays far under it; a script's flood does not.
    write_rate: float = 3.0
    write_burst: int = 30
    max_connections_per_user: int = 20
    max_frame_bytes: int = 64 * 1024
    outbox_limit: int = 4096  # events queued for one connection before it is shed
    # Redis topic prefix: lets several deployments (or test runs) share a server.
    redis_prefix: str = "classhub"
    # Accounts.
    session_idle_secs: int = 8 * 3600  # signed out after this long without a request
    session_max_secs: int = 7 * 24 * 3600  # signed out this long after signing in, whatever
    invitation_ttl_secs: int = 7 * 24 * 3600
    # Failed sign-ins counted over a sliding window, per account and per IP.
    login_window_secs: int = 900
    login_max_failures_account: int = 10
    login_max_failures_ip: int = 100
    # Pinboard photos: earlier data keys still accepted for decryption (rotation).
    data_key_previous: tuple[str, ...] = ()
    photo_max_bytes: int = 10 * 1024 * 1024
    # 4096 x 4096, the most the board stores; decoding takes up to ~16 bytes a pixel
    # (storage/photos.py), and at most photo_decode_workers decodes run at once.
    photo_max_pixels: int = 16_777_216
    photo_decode_workers: int = 2
    photo_decodes_per_user: int = 2
    # Data protection (issue 7): grace month before a terminated account is deleted,
    # how long the activity log is kept, how long direct messages are kept (0 = for good).
    termination_grace_days: int = 30
    activity_retention_days: int = 180
    dm_retention_days: int = 0
    # Slow or idle HTTP connections (web/http_guard.py).
    http_header_timeout_secs: float = 10.0
    http_body_timeout_secs: float = 20.0
    http_max_header_bytes: int = 64 * 1024
    http_max_pending_connections: int = 1024
    http_max_pending_per_ip: int = 128
    # Bearer token /metrics asks for; empty: /metrics is open (keep it off the internet).
    metrics_token: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    # Mail target and sending limits (storage/mail_config.py); None only if built by hand.
    mail: MailSettings | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        var_dir = Path(env.get("CLASSHUB_VAR_DIR") or "./var").resolve()
        production = _bool("CLASSHUB_PRODUCTION", env.get("CLASSHUB_PRODUCTION"), False)

        database_url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'classhub.db'}"
        if database_url.startswith(("postgres://", "postgresql://")):
            # Accept the usual libpq spelling; we always talk through asyncpg.
            database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
        if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ConfigError(
                "DATABASE_URL",
                "must start with sqlite+aiosqlite:// or postgresql:// "
                f"(got {database_url.split('://', 1)[0]}://...)",
            )

        redis_url = env.get("REDIS_URL") or None
        if redis_url is not None and urlsplit(redis_url).scheme not in {
            "redis",
            "rediss",
            "unix",
            "memory",
        }:
            raise ConfigError("REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
        if redis_url is not None and redis_url.startswith("memory"):
            redis_url = None

        mail_url = env.get("MAIL_URL") or f"maildir://{var_dir / 'mail'}"
        if urlsplit(mail_url).scheme not in {"maildir", "smtp", "smtps", "smtp+starttls"}:
            raise ConfigError(
                "MAIL_URL", "must be maildir:///path, smtp://, smtps:// or smtp+starttls://"
            )

        secret_key = env.get("SECRET_KEY") or ""
        if not secret_key:
            if production:
                raise ConfigError("SECRET_KEY", "must be set when CLASSHUB_PRODUCTION is on")
            secret_key = _read_or_create_secret(var_dir / "secret_key", 48)
        elif len(secret_key) < 32:
            raise ConfigError("SECRET_KEY", "must be at least 32 characters long")

        data_key = env.get("DATA_KEY") or ""
        if not data_key:
            if production:
                raise ConfigError("DATA_KEY", "must be set when CLASSHUB_PRODUCTION is on")
            data_key = _read_or_create_secret(var_dir / "data_key", 32)

        public_url = (env.get("PUBLIC_URL") or f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/")
        if urlsplit(public_url).scheme not in {"http", "https"} or not urlsplit(public_url).netloc:
            raise ConfigError("PUBLIC_URL", f"must be an http(s) URL, got {public_url!r}")

        raw_origins = env.get("ALLOWED_ORIGINS") or ""
        origins = tuple(o.strip().rstrip("/") for o in raw_origins.split(",") if o.strip())
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
                raise ConfigError(
                    "ALLOWED_ORIGINS", f"{origin!r} is not an origin like https://host[:port]"
                )
        if not origins:
            origins = (_origin(public_url),)

        metrics_token = _metrics_token(env.get("METRICS_TOKEN") or "")
        if production and not metrics_token:
            # /metrics names channels, counts and timings: open only where no one else reaches.
            raise ConfigError("METRICS_TOKEN", "must be set when CLASSHUB_PRODUCTION is on")

        login_window, login_per_account, login_per_ip = _login_limits(env)
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            redis_url=redis_url,
            mail_url=mail_url,
            secret_key=secret_key,
            data_key=data_key,
            public_url=public_url,
            allowed_origins=origins,
            production=production,
            replay_limit=_int("REPLAY_LIMIT", env.get("REPLAY_LIMIT"), 1000, 1),
            publish_rate=_float("PUBLISH_RATE", env.get("PUBLISH_RATE"), 5.0, 0.01),
            publish_burst=_int("PUBLISH_BURST", env.get("PUBLISH_BURST"), 20, 1),
            subscribe_rate=_float("SUBSCRIBE_RATE", env.get("SUBSCRIBE_RATE"), 5.0, 0.01),
            subscribe_burst=_int("SUBSCRIBE_BURST", env.get("SUBSCRIBE_BURST"), 20, 1),
            write_rate=_float("WRITE_RATE", env.get("WRITE_RATE"), 3.0, 0.01),
            write_burst=_int("WRITE_BURST", env.get("WRITE_BURST"), 30, 1),
            max_connections_per_user=_int(
                "MAX_CONNECTIONS_PER_USER", env.get("MAX_CONNECTIONS_PER_USER"), 20, 1
            ),
            max_frame_bytes=_int("MAX_FRAME_BYTES", env.get("MAX_FRAME_BYTES"), 64 * 1024, 1024),
            outbox_limit=_int("OUTBOX_LIMIT", env.get("OUTBOX_LIMIT"), 4096, 16),
            redis_prefix=env.get("REDIS_PREFIX") or "classhub",
            session_idle_secs=_int(
                "SESSION_IDLE_SECS", env.get("SESSION_IDLE_SECS"), 8 * 3600, 60
            ),
            session_max_secs=_int(
                "SESSION_MAX_SECS", env.get("SESSION_MAX_SECS"), 7 * 24 * 3600, 60
            ),
            invitation_ttl_secs=_int(
                "INVITATION_TTL_SECS", env.get("INVITATION_TTL_SECS"), 7 * 24 * 3600, 60
            ),
            login_window_secs=login_window,
            login_max_failures_account=login_per_account,
            login_max_failures_ip=login_per_ip,
            data_key_previous=tuple(
                k.strip() for k in (env.get("DATA_KEY_PREVIOUS") or "").split(",") if k.strip()
            ),
            photo_max_bytes=_int(
                "PHOTO_MAX_BYTES", env.get("PHOTO_MAX_BYTES"), 10 * 1024 * 1024, 1024
            ),
            photo_max_pixels=_int(
                "PHOTO_MAX_PIXELS", env.get("PHOTO_MAX_PIXELS"), 16_777_216, 1
            ),
            photo_decode_workers=_int(
                "PHOTO_DECODE_WORKERS", env.get("PHOTO_DECODE_WORKERS"), 2, 1
            ),
            photo_decodes_per_user=_int(
                "PHOTO_DECODES_PER_USER", env.get("PHOTO_DECODES_PER_USER"), 2, 1
            ),
            termination_grace_days=_int(
                "TERMINATION_GRACE_DAYS", env.get("TERMINATION_GRACE_DAYS"), 30, 0
            ),
            activity_retention_days=_int(
                "ACTIVITY_RETENTION_DAYS", env.get("ACTIVITY_RETENTION_DAYS"), 180, 1
            ),
            dm_retention_days=_int("DM_RETENTION_DAYS", env.get("DM_RETENTION_DAYS"), 0, 0),
            http_header_timeout_secs=_float(
                "HTTP_HEADER_TIMEOUT_SECS", env.get("HTTP_HEADER_TIMEOUT_SECS"), 10.0, 0.1
            ),
            http_body_timeout_secs=_float(
                "HTTP_BODY_TIMEOUT_SECS", env.get("HTTP_BODY_TIMEOUT_SECS"), 20.0, 0.1
            ),
            http_max_header_bytes=_int(
                "HTTP_MAX_HEADER_BYTES", env.get("HTTP_MAX_HEADER_BYTES"), 64 * 1024, 1024
            ),
            http_max_pending_connections=_int(
                "HTTP_MAX_PENDING_CONNECTIONS", env.get("HTTP_MAX_PENDING_CONNECTIONS"), 1024, 1
            ),
            http_max_pending_per_ip=_int(
                "HTTP_MAX_PENDING_PER_IP", env.get("HTTP_MAX_PENDING_PER_IP"), 128, 1
            ),
            metrics_token=metrics_token,
            extra={k: v for k, v in env.items() if k.startswith("CLASSHUB_")},
            mail=MailSettings.from_env(env, mail_url),
        )
