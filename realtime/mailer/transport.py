"""Where messages go: an SMTP server (aiosmtplib) or a Maildir on the embedded default.

A transport turns every outcome into one of three answers: returned normally
(accepted), :class:`TemporaryFailure` (4xx, connection trouble: retry later) or
:class:`PermanentFailure` (5xx: do not retry; the server's answer is kept).
"""

from __future__ import annotations

import asyncio
import mailbox
from email.message import Message
from email.utils import parseaddr
from typing import Protocol

import aiosmtplib

from realtime.mailer.message import to_wire
from storage.mail_config import MailTarget


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


class Transport(Protocol):
    async def send(self, msg: Message, recipient: str) -> None: ...

    async def close(self) -> None: ...


def _answer(code: int, message: str) -> str:
    return f"{code} {message}".strip()


def classify(exc: BaseException) -> Exception:
    """Map an aiosmtplib/OS error to TemporaryFailure or PermanentFailure."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return classify(first)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not the recipient: bouncing everyone would be wrong.
        return TemporaryFailure(f"authentication failed: {_answer(exc.code, exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = _answer(exc.code, exc.message)
        if 500 <= exc.code < 600:
            return PermanentFailure(text)
        return TemporaryFailure(text)
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)):
        return TemporaryFailure(f"{type(exc).__name__}: {exc}".strip())
    return TemporaryFailure(f"{type(exc).__name__}: {exc}")


class SmtpTransport:
    """One SMTP connection, reused for message after message; reopened after trouble."""

    def __init__(self, target: MailTarget, sender: str, timeout: float) -> None:
        self.target = target
        self.envelope_from = parseaddr(sender)[1]
        self.timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        t = self.target
        client = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            username=t.username,
            password=t.password,
            use_tls=t.use_tls,
            # smtp+starttls: required; plain smtp: never (a local relay).
            start_tls=bool(t.start_tls),
            timeout=self.timeout,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, msg: Message, recipient: str) -> None:
        try:
            client = await self._connected()
            await client.sendmail(self.envelope_from, [recipient], to_wire(msg))
        except Exception as exc:
            await self.close()
            raise classify(exc) from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:  # noqa: BLE001 - the connection is going away anyway
                client.close()


class MaildirTransport:
    """Writes each message into a Maildir (readable with any mail client, e.g. mutt -f)."""

    def __init__(self, target: MailTarget) -> None:
        if target.maildir is None:
            raise RuntimeError("MaildirTransport needs a target with a maildir")
        self.path = target.maildir
        self._box: mailbox.Maildir | None = None

    def _add(self, msg: Message) -> None:
        if self._box is None:
            # Several slots (threads) open the Maildir at once on first use.
            # Maildir(create=True) makes tmp/new/cur only when the top folder is
            # missing, so a slot that finds the folder another slot just made
            # would write into a tmp/ that does not exist yet; make all three
            # idempotently first.
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(self.path, create=False)
        self._box.add(msg)

    async def send(self, msg: Message, recipient: str) -> None:
        try:
            await asyncio.to_thread(self._add, msg)
        except OSError as exc:
            raise TemporaryFailure(f"maildir: {exc}") from exc

    async def close(self) -> None:
        return None


def open_transport(target: MailTarget, sender: str, timeout: float) -> Transport:
    if target.scheme == "maildir":
        return MaildirTransport(target)
    return SmtpTransport(target, sender, timeout)
