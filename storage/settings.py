"""Configuration from environment variables, each with its embedded default.

This is the one place classhub reads its environment (``Settings.from_env``).
Every variable is read and checked once, at start-up, into a typed field. A bad
value raises :class:`ConfigError` whose message is one line naming the variable;
the CLI prints that line and exits, never a traceback. The readers themselves
(numbers finite and in range, flags, lists) are in ``storage/settings_parse.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from storage.errors import ConfigError
from storage.mail_config import MailSettings, parse_mail_url
from storage.settings_parse import Env, private_dir, read_or_create_secret
from storage.sso_config import OidcSettings, parse_oidc, parse_password_signin

DEFAULT_PORT = 8000


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# ASVS 2.2.1: at most 100 failed attempts per hour on one account.
MAX_ACCOUNT_FAILURES_PER_HOUR = 100


def _login_limits(env: Env) -> tuple[int, int, int]:
    window = env.integer("LOGIN_WINDOW_SECS", 900, 1)
    per_account = env.integer("LOGIN_MAX_FAILURES_ACCOUNT", 10, 1)
    per_ip = env.integer("LOGIN_MAX_FAILURES_IP", 100, 1)
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
class HubTuning:
    """The hub's timings (``CLASSHUB_*``): rarely changed, mostly by tests and benchmarks.

    Each is bounded above too: a huge heartbeat time-out or revalidation period would
    quietly switch off what it guards.
    """

    # A connection silent this long is pinged (the web client answers); proxies close
    # idle WebSockets after 60 s or so.
    heartbeat_secs: float = 25.0
    # ... and closed (4408) when still silent this long: a half-open TCP connection.
    heartbeat_timeout_secs: float = 45.0
    # Every connection's session and rights are checked against the store this often:
    # the bound for changes the control topic did not carry (docs/privacy.md).
    revalidate_secs: float = 60.0
    # How long an out-of-order event waits for the missing ones before the store is asked.
    gap_wait_secs: float = 0.2
    # Compare each live channel with the store's head: catches a broker message lost in transit.
    head_check_secs: float = 5.0
    # Posts granted while the user's local bucket was full are recorded in Redis together,
    # this often: a few round trips a second at most, whatever the traffic.
    shared_record_secs: float = 0.05
    # With Redis: a crashed process's connections stop counting against
    # MAX_CONNECTIONS_PER_USER after at most this long.
    conn_lease_secs: float = 30.0

    @classmethod
    def from_env(cls, env: Env) -> HubTuning:
        heartbeat = env.number("CLASSHUB_HEARTBEAT_SECS", cls.heartbeat_secs, 1.0, 3600.0)
        timeout = env.number(
            "CLASSHUB_HEARTBEAT_TIMEOUT_SECS", cls.heartbeat_timeout_secs, 1.0, 3600.0
        )
        if timeout <= heartbeat:
            # Closed before it was ever pinged: every quiet client would be cut off.
            raise ConfigError(
                "CLASSHUB_HEARTBEAT_TIMEOUT_SECS",
                f"must be more than CLASSHUB_HEARTBEAT_SECS ({heartbeat:g}), got {timeout:g}",
            )
        return cls(
            heartbeat_secs=heartbeat,
            heartbeat_timeout_secs=timeout,
            revalidate_secs=env.number(
                "CLASSHUB_REVALIDATE_SECS", cls.revalidate_secs, 1.0, 3600.0
            ),
            gap_wait_secs=env.number("CLASSHUB_GAP_WAIT_SECS", cls.gap_wait_secs, 0.0, 60.0),
            head_check_secs=env.number(
                "CLASSHUB_HEAD_CHECK_SECS", cls.head_check_secs, 1.0, 3600.0
            ),
            shared_record_secs=env.number(
                "CLASSHUB_SHARED_RECORD_SECS", cls.shared_record_secs, 0.01, 10.0
            ),
            conn_lease_secs=env.number(
                "CLASSHUB_CONN_LEASE_SECS", cls.conn_lease_secs, 1.0, 3600.0
            ),
        )


def _mail(env: Env, mail_url: str) -> MailSettings:
    sender = env.text("MAIL_FROM", MailSettings.sender)
    if "@" not in sender:
        raise ConfigError(
            "MAIL_FROM", f"needs an address, e.g. 'classhub <noreply@example.org>', got {sender!r}"
        )
    d = MailSettings
    return MailSettings(
        target=parse_mail_url(mail_url),
        sender=sender,
        rate_per_sec=env.number("MAIL_RATE_PER_SEC", d.rate_per_sec, 0.01),
        rate_per_hour=env.integer("MAIL_RATE_PER_HOUR", d.rate_per_hour, 0),
        concurrency=env.integer("MAIL_CONCURRENCY", d.concurrency, 1),
        retry_base_secs=env.number("MAIL_RETRY_BASE_SECS", d.retry_base_secs, 0),
        retry_cap_secs=env.number("MAIL_RETRY_CAP_SECS", d.retry_cap_secs, 0),
        max_age_secs=env.number("MAIL_MAX_AGE_SECS", d.max_age_secs, 0),
        lease_secs=env.number("MAIL_LEASE_SECS", d.lease_secs, 1),
        poll_secs=env.number("MAIL_POLL_SECS", d.poll_secs, 0.01),
        smtp_timeout_secs=env.number("MAIL_SMTP_TIMEOUT_SECS", d.smtp_timeout_secs, 0.1),
        maintenance_every_secs=env.number(
            "MAILER_MAINTENANCE_EVERY_SECS", d.maintenance_every_secs, 0
        ),
    )


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
    # Hub limits.
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
    # Server API calls per key (docs/integration.md): a suite's sync job, not a person.
    api_key_rate: float = 20.0
    api_key_burst: int = 200
    # Webhook deliveries (realtime/webhook_worker.py): attempts, backoff, time-out, polling.
    webhook_max_attempts: int = 8
    webhook_retry_secs: float = 10.0
    webhook_retry_max_secs: float = 3600.0
    webhook_timeout_secs: float = 10.0
    webhook_poll_secs: float = 1.0
    max_connections_per_user: int = 20
    max_frame_bytes: int = 64 * 1024
    outbox_limit: int = 4096  # events queued for one connection before it is shed
    hub: HubTuning = HubTuning()
    # Redis topic prefix: lets several deployments (or test runs) share a server.
    redis_prefix: str = "classhub"
    # Accounts.
    session_idle_secs: int = 8 * 3600  # signed out after this long without a request
    session_max_secs: int = 7 * 24 * 3600  # signed out this long after signing in, whatever
    # A process keeps a live session's lookup this long (web/signins.py): the bound for
    # changes that bypass the servers (the CLI) or a lost control message; short next to
    # a browser session, long enough to cover a class that writes its drafts and then
    # releases them at once. 0 turns the cache off.
    session_cache_secs: float = 10.0
    invitation_ttl_secs: int = 7 * 24 * 3600
    # Failed sign-ins counted over a sliding window, per account and per IP.
    login_window_secs: int = 900
    login_max_failures_account: int = 10
    login_max_failures_ip: int = 100
    # "Forgot password?": how long a mailed link works, and how many links may be asked
    # for per address and per client (IP) in an hour (web/routes/own_password.py).
    password_reset_ttl_secs: int = 3600
    password_reset_per_address: int = 3
    password_reset_per_ip: int = 20
    # Pinboard photos: earlier data keys still accepted for decryption (rotation).
    data_key_previous: tuple[str, ...] = ()
    # DATA_KEY came from the environment, not from <var>/data_key (`keys rotate --generate`).
    data_key_from_env: bool = False
    photo_max_bytes: int = 10 * 1024 * 1024
    # 4096 x 4096, the most the board stores; decoding takes up to ~16 bytes a pixel
    # (storage/photos.py), and at most photo_decode_workers decodes run at once.
    photo_max_pixels: int = 16_777_216
    photo_decode_workers: int = 2
    photo_decodes_per_user: int = 2
    # Trainers' videos of learning sections (MP4/WebM; photos use photo_max_bytes).
    media_video_max_bytes: int = 200 * 1024 * 1024
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
    # Mail target and sending limits (storage/mail_config.py); None only if built by hand.
    mail: MailSettings | None = None
    # Single sign-on (storage/sso_config.py): the OpenID Connect provider, if any, and
    # whether /api/login takes passwords from everyone (off: admins only, the break-glass).
    oidc: OidcSettings | None = None
    password_signin: bool = True

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env: Env | None = None
    ) -> Settings:
        """Read and check every variable; ``env`` (tests) records the names read."""
        env = env or Env(dict(os.environ if environ is None else environ))
        # Created at once, 0700: it holds the keys, the embedded database, mail and photos.
        var_dir = private_dir(
            "CLASSHUB_VAR_DIR", Path(env.text("CLASSHUB_VAR_DIR", "./var")).resolve()
        )
        production = env.flag("CLASSHUB_PRODUCTION", False)
        database_url = _database_url(env, var_dir)
        redis_url = _redis_url(env)
        mail_url = env.text("MAIL_URL", f"maildir://{var_dir / 'mail'}")
        if urlsplit(mail_url).scheme not in {"maildir", "smtp", "smtps", "smtp+starttls"}:
            raise ConfigError(
                "MAIL_URL", "must be maildir:///path, smtp://, smtps:// or smtp+starttls://"
            )

        secret_key = env.raw("SECRET_KEY") or ""
        if not secret_key:
            if production:
                raise ConfigError("SECRET_KEY", "must be set when CLASSHUB_PRODUCTION is on")
            secret_key = read_or_create_secret(var_dir / "secret_key", 48)
        elif len(secret_key) < 32:
            raise ConfigError("SECRET_KEY", "must be at least 32 characters long")

        data_key = env.raw("DATA_KEY") or ""
        data_key_from_env = bool(data_key)
        if not data_key:
            if production:
                raise ConfigError("DATA_KEY", "must be set when CLASSHUB_PRODUCTION is on")
            data_key = read_or_create_secret(var_dir / "data_key", 32)

        public_url = env.text("PUBLIC_URL", f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/")
        if urlsplit(public_url).scheme not in {"http", "https"} or not urlsplit(public_url).netloc:
            raise ConfigError("PUBLIC_URL", f"must be an http(s) URL, got {public_url!r}")

        metrics_token = _metrics_token(env.raw("METRICS_TOKEN") or "")
        if production and not metrics_token:
            # /metrics names channels, counts and timings: open only where no one else reaches.
            raise ConfigError("METRICS_TOKEN", "must be set when CLASSHUB_PRODUCTION is on")

        login_window, login_per_account, login_per_ip = _login_limits(env)
        oidc = parse_oidc(env)
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            redis_url=redis_url,
            mail_url=mail_url,
            secret_key=secret_key,
            data_key=data_key,
            public_url=public_url,
            allowed_origins=_allowed_origins(env, public_url),
            production=production,
            replay_limit=env.integer("REPLAY_LIMIT", 1000, 1),
            publish_rate=env.number("PUBLISH_RATE", 5.0, 0.01),
            publish_burst=env.integer("PUBLISH_BURST", 20, 1),
            subscribe_rate=env.number("SUBSCRIBE_RATE", 5.0, 0.01),
            subscribe_burst=env.integer("SUBSCRIBE_BURST", 20, 1),
            write_rate=env.number("WRITE_RATE", 3.0, 0.01),
            write_burst=env.integer("WRITE_BURST", 30, 1),
            api_key_rate=env.number("API_KEY_RATE", 20.0, 0.01),
            api_key_burst=env.integer("API_KEY_BURST", 200, 1),
            webhook_max_attempts=env.integer("WEBHOOK_MAX_ATTEMPTS", 8, 1, 100),
            webhook_retry_secs=env.number("WEBHOOK_RETRY_SECS", 10.0, 0.01, 86400.0),
            webhook_retry_max_secs=env.number("WEBHOOK_RETRY_MAX_SECS", 3600.0, 0.01, 7 * 86400.0),
            webhook_timeout_secs=env.number("WEBHOOK_TIMEOUT_SECS", 10.0, 0.1, 300.0),
            webhook_poll_secs=env.number("WEBHOOK_POLL_SECS", 1.0, 0.01, 60.0),
            max_connections_per_user=env.integer("MAX_CONNECTIONS_PER_USER", 20, 1),
            max_frame_bytes=env.integer("MAX_FRAME_BYTES", 64 * 1024, 1024),
            outbox_limit=env.integer("OUTBOX_LIMIT", 4096, 16),
            hub=HubTuning.from_env(env),
            redis_prefix=env.text("REDIS_PREFIX", "classhub"),
            session_idle_secs=env.integer("SESSION_IDLE_SECS", 8 * 3600, 60),
            session_max_secs=env.integer("SESSION_MAX_SECS", 7 * 24 * 3600, 60),
            session_cache_secs=env.number("CLASSHUB_SESSION_CACHE_SECS", 10.0, 0.0, 3600.0),
            invitation_ttl_secs=env.integer("INVITATION_TTL_SECS", 7 * 24 * 3600, 60),
            login_window_secs=login_window,
            login_max_failures_account=login_per_account,
            login_max_failures_ip=login_per_ip,
            password_reset_ttl_secs=env.integer("PASSWORD_RESET_TTL_SECS", 3600, 60, 7 * 86400),
            password_reset_per_address=env.integer("PASSWORD_RESET_MAX_PER_ADDRESS", 3, 1),
            password_reset_per_ip=env.integer("PASSWORD_RESET_MAX_PER_IP", 20, 1),
            data_key_previous=env.items("DATA_KEY_PREVIOUS"),
            data_key_from_env=data_key_from_env,
            photo_max_bytes=env.integer("PHOTO_MAX_BYTES", 10 * 1024 * 1024, 1024),
            photo_max_pixels=env.integer("PHOTO_MAX_PIXELS", 16_777_216, 1),
            photo_decode_workers=env.integer("PHOTO_DECODE_WORKERS", 2, 1),
            photo_decodes_per_user=env.integer("PHOTO_DECODES_PER_USER", 2, 1),
            media_video_max_bytes=env.integer(
                "MEDIA_VIDEO_MAX_BYTES", 200 * 1024 * 1024, 64 * 1024
            ),
            termination_grace_days=env.integer("TERMINATION_GRACE_DAYS", 30, 0),
            activity_retention_days=env.integer("ACTIVITY_RETENTION_DAYS", 180, 1),
            dm_retention_days=env.integer("DM_RETENTION_DAYS", 0, 0),
            http_header_timeout_secs=env.number("HTTP_HEADER_TIMEOUT_SECS", 10.0, 0.1),
            http_body_timeout_secs=env.number("HTTP_BODY_TIMEOUT_SECS", 20.0, 0.1),
            http_max_header_bytes=env.integer("HTTP_MAX_HEADER_BYTES", 64 * 1024, 1024),
            http_max_pending_connections=env.integer("HTTP_MAX_PENDING_CONNECTIONS", 1024, 1),
            http_max_pending_per_ip=env.integer("HTTP_MAX_PENDING_PER_IP", 128, 1),
            metrics_token=metrics_token,
            mail=_mail(env, mail_url),
            oidc=oidc,
            password_signin=parse_password_signin(env, oidc),
        )


def _database_url(env: Env, var_dir: Path) -> str:
    url = env.text("DATABASE_URL", f"sqlite+aiosqlite:///{var_dir / 'classhub.db'}")
    if url.startswith(("postgres://", "postgresql://")):
        # Accept the usual libpq spelling; we always talk through asyncpg.
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            "DATABASE_URL",
            "must start with sqlite+aiosqlite:// or postgresql:// "
            f"(got {url.split('://', 1)[0]}://...)",
        )
    if url.startswith("sqlite"):
        path = make_url(url).database
        # A mistyped path must not quietly become a new, empty database somewhere else;
        # only the default's directory (the var dir, created above) is made.
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            raise ConfigError(
                "DATABASE_URL", f"directory {Path(path).parent} does not exist"
            )
    return url


def _redis_url(env: Env) -> str | None:
    url = env.raw("REDIS_URL")
    if url is None:
        return None
    if urlsplit(url).scheme not in {"redis", "rediss", "unix", "memory"}:
        raise ConfigError("REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
    return None if url.startswith("memory") else url


def _allowed_origins(env: Env, public_url: str) -> tuple[str, ...]:
    origins = tuple(o.rstrip("/") for o in env.items("ALLOWED_ORIGINS"))
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
            raise ConfigError(
                "ALLOWED_ORIGINS", f"{origin!r} is not an origin like https://host[:port]"
            )
    return origins or (_origin(public_url),)
