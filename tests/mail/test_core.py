"""Synchronous tests of the I/O-free parts: pacing, backoff, MAIL_URL parsing, messages."""

from __future__ import annotations

import datetime as dt
import email.policy
import random
from email import message_from_bytes
from pathlib import Path

import pytest

from realtime.mailer.message import (
    build_message,
    message_id,
    to_wire,
    unsubscribe_token,
    user_for_unsubscribe_token,
)
from realtime.mailer.pacing import SlidingWindow, full_jitter, window_for_rate
from storage.errors import ConfigError
from storage.mail_config import MailSettings, parse_mail_url
from storage.repo.outbox import Claimed
from storage.settings import Settings


def test_sliding_window_never_allows_more_than_the_limit_in_any_window() -> None:
    w = SlidingWindow(3, 1.0)
    now, starts = 0.0, []
    for _ in range(10):
        while (d := w.delay(now)) > 0:
            now += d
        w.record(now)
        starts.append(now)
        now += 0.01
    assert all(starts[i + 3] - starts[i] >= 1.0 - 1e-9 for i in range(len(starts) - 3))
    assert starts[:3] == [0.0, 0.01, 0.02] and starts[3] == pytest.approx(1.0)


def test_fractional_rates_become_longer_windows() -> None:
    w = window_for_rate(0.5)
    assert (w.limit, w.window_secs) == (1, 2.0)
    w = window_for_rate(12.5)
    assert w.limit == 12 and w.window_secs == pytest.approx(0.96)


def test_full_jitter_stays_under_the_capped_exponential() -> None:
    rng = random.Random(7)  # noqa: S311 - seeded, so the jitter draws replay; no secret
    for attempt in range(1, 30):
        ceiling = min(3600.0, 60.0 * 2**attempt)
        values = [full_jitter(attempt, 60.0, 3600.0, rng) for _ in range(50)]
        assert all(0 <= v <= ceiling for v in values)
    # Spread, not a fixed delay: that is the point of jitter.
    assert len({round(full_jitter(5, 60.0, 3600.0, rng)) for _ in range(20)}) > 10


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "user", "password", "tls", "starttls"),
    [
        ("smtp://relay.local", "smtp", "relay.local", 25, None, None, False, False),
        (
            "smtp+starttls://u%40x:p%3Aw@mail.example.org",
            "smtp+starttls", "mail.example.org", 587, "u@x", "p:w", False, True,
        ),
        (
            "smtps://me:secret@mail.example.org:2465",
            "smtps", "mail.example.org", 2465, "me", "secret", True, False,
        ),
    ],
)
def test_mail_url_forms(
    url: str,
    scheme: str,
    host: str,
    port: int,
    user: str | None,
    password: str | None,
    tls: bool,
    starttls: bool,
) -> None:
    t = parse_mail_url(url)
    assert (t.scheme, t.host, t.port, t.username, t.password, t.use_tls, t.start_tls) == (
        scheme, host, port, user, password, tls, starttls,
    )
    assert "secret" not in t.describe()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://x", "must be maildir"),
        ("smtp://", "needs a host"),
        ("smtp://host:notaport", "not a valid URL"),
        ("maildir://relative", "absolute path"),
    ],
)
def test_bad_mail_urls_fail_with_one_line(url: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_mail_url(url)
    assert (
        err.value.variable == "MAIL_URL" and words in str(err.value) and "\n" not in str(err.value)
    )


def _mail_settings(tmp_path: Path, **env: str) -> MailSettings:
    base = {"CLASSHUB_VAR_DIR": str(tmp_path), "MAIL_URL": "maildir:///tmp/x"}
    mail = Settings.from_env({**base, **env}).mail
    assert mail is not None
    return mail


def test_limits_come_from_the_environment(tmp_path: Path) -> None:
    s = _mail_settings(
        tmp_path, MAIL_RATE_PER_SEC="2.5", MAIL_RATE_PER_HOUR="500", MAIL_CONCURRENCY="3"
    )
    assert (s.rate_per_sec, s.rate_per_hour, s.concurrency) == (2.5, 500, 3)
    with pytest.raises(ConfigError, match="MAIL_CONCURRENCY: must be at least 1"):
        _mail_settings(tmp_path, MAIL_CONCURRENCY="0")
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        _mail_settings(tmp_path, MAIL_FROM="nobody")
    for bad in ("nan", "inf", "-1"):
        with pytest.raises(ConfigError, match="MAIL_RATE_PER_SEC"):
            _mail_settings(tmp_path, MAIL_RATE_PER_SEC=bad)
    # int(float("inf")) raised OverflowError, int(float("nan")) ValueError: tracebacks.
    for bad in ("inf", "nan", "1.5"):
        with pytest.raises(ConfigError, match="MAIL_RATE_PER_HOUR: expected an integer"):
            _mail_settings(tmp_path, MAIL_RATE_PER_HOUR=bad)


def _claimed(category: str, html: str | None = None) -> Claimed:
    return Claimed(
        id=41, campaign_id=7, sender_id=1, category=category, subject="Zürich, Raum B",
        body_text="Grüße\n", body_html=html, user_id=5, email="ana@example.org",
        display_name="Ana Ärger", wants_information_mail=True, user_active=True, attempts=0,
        queued_at=dt.datetime.now(dt.UTC),
    )


def test_information_mail_has_one_click_headers_and_service_mail_does_not() -> None:
    secret = "s" * 40
    info = build_message(
        _claimed("information", "<p>Hi</p>"),
        sender="C <n@classhub.test>",
        public_url="https://c.example",
        secret_key=secret,
    )
    assert info["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = info["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://c.example/unsubscribe/")
    assert user_for_unsubscribe_token(secret, url.rsplit("/", 1)[1]) == 5
    assert user_for_unsubscribe_token("t" * 40, url.rsplit("/", 1)[1]) is None
    wire = to_wire(info)
    assert wire.isascii() and b"\r\nList-Unsubscribe: <https://c.example/unsubscribe/" in wire
    service = build_message(
        _claimed("service"),
        sender="C <n@classhub.test>",
        public_url="https://c.example",
        secret_key=secret,
    )
    parsed = message_from_bytes(to_wire(service), policy=email.policy.default)
    assert (
        "List-Unsubscribe" not in parsed
        and parsed["To"].addresses[0].addr_spec == "ana@example.org"
    )
    assert (
        parsed["To"].addresses[0].display_name == "Ana Ärger"
        and parsed["Subject"] == "Zürich, Raum B"
    )
    assert parsed.get_content().replace("\r\n", "\n") == "Grüße\n"
    assert (
        service["Message-ID"]
        == message_id(41, 7, "C <n@classhub.test>")
        == "<classhub.c7.d41@classhub.test>"
    )
    assert unsubscribe_token(secret, 5) == unsubscribe_token(secret, 5)  # stable links


def test_unsubscribe_footer_is_inside_the_html_body() -> None:
    """Issue 18: the footer came after ``</html>``."""
    info = build_message(
        _claimed("information", "<!doctype html><html><body><p>Hi</p></body></html>"),
        sender="C <n@classhub.test>", public_url="https://c.example", secret_key="s" * 40,
    )  # fmt: skip
    parsed = message_from_bytes(to_wire(info), policy=email.policy.default)
    html = next(p for p in parsed.walk() if p.get_content_type() == "text/html").get_content()
    assert html.rstrip().endswith("</body></html>"), html
    body = html.split("<body>", 1)[1].split("</body>", 1)[0]
    assert body.startswith("<p>Hi</p>") and "/unsubscribe/" in body
