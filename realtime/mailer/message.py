"""Building one message for one recipient (never a shared To or Cc list).

Information mails carry RFC 8058 one-click unsubscribe headers; service mails
do not, because service mail cannot be unsubscribed from.
"""

from __future__ import annotations

from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

from storage.models import MailCategory, utcnow
from storage.repo.outbox import Claimed

UNSUBSCRIBE_SALT = "classhub.unsubscribe"
# The classic (compat32) message classes: about ten times cheaper per message
# than EmailMessage's header objects, which matters at thousands of messages.
# Header lines may be up to 998 characters, which keeps the unsubscribe URL on
# one line (some receivers unfold List-Unsubscribe badly). Bodies are 7-bit
# (quoted-printable when not ASCII), so no 8BITMIME is needed.
WIRE_POLICY = compat32.clone(linesep="\r\n", max_line_length=998)
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP


def _text(text: str, subtype: str) -> MIMEText:
    if text.isascii():
        return MIMEText(text, subtype, "us-ascii")
    return MIMEText(text, subtype, UTF8_QP)  # type: ignore[arg-type]


def _header(value: str) -> str | Header:
    value = " ".join(value.splitlines())  # a line break in a header would start a new one
    return value if value.isascii() else Header(value, "utf-8")


def to_wire(msg: Message) -> bytes:
    return msg.as_bytes(policy=WIRE_POLICY)


def unsubscribe_token(secret_key: str, user_id: int) -> str:
    # Not timed: a link in a mail read months later must still work.
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).dumps({"u": user_id})


def user_for_unsubscribe_token(secret_key: str, token: str) -> int | None:
    try:
        data = URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        return None
    uid = data.get("u") if isinstance(data, dict) else None
    return uid if isinstance(uid, int) and uid > 0 else None


def unsubscribe_url(public_url: str, secret_key: str, user_id: int) -> str:
    return f"{public_url}/unsubscribe/{unsubscribe_token(secret_key, user_id)}"


def message_id(delivery_id: int, campaign_id: int, sender: str) -> str:
    """Stable per delivery: a retry or a re-send after a crash carries the same id."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<classhub.c{campaign_id}.d{delivery_id}@{domain}>"


def _with_footer(html: str, footer: str) -> str:
    """``footer`` inside the document's body (before ``</body>``), never after ``</html>``."""
    if not footer:
        return html
    at = html.lower().rfind("</body>")
    return html[:at] + footer + html[at:] if at >= 0 else html + footer


def build_message(
    d: Claimed, *, sender: str, public_url: str, secret_key: str
) -> Message:
    if d.email is None or d.user_id is None:
        raise RuntimeError("build_message needs a recipient with an address")
    information = d.category == MailCategory.INFORMATION.value
    url = unsubscribe_url(public_url, secret_key, d.user_id) if information else ""
    footer = f"\n\n--\nTo stop receiving information mail: {url}\n" if information else ""
    plain = _text(d.body_text + footer, "plain")
    msg: Message
    if d.body_html is None:
        msg = plain
    else:
        html_footer = (
            f'<hr><p><a href="{url}">Stop receiving information mail</a></p>' if information else ""
        )
        msg = MIMEMultipart("alternative")
        msg.attach(plain)
        msg.attach(_text(_with_footer(d.body_html, html_footer), "html"))
    msg["From"] = sender
    msg["To"] = formataddr((" ".join(d.display_name.splitlines()), d.email))
    msg["Subject"] = _header(d.subject)  # type: ignore[assignment]  # Header is accepted
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id(d.id, d.campaign_id, sender)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Classhub-Campaign"] = str(d.campaign_id)
    if information:
        msg["List-Unsubscribe"] = f"<{url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["List-Id"] = (
            f"classhub information <info.{urlsplit(public_url).hostname or 'localhost'}>"
        )
        msg["Precedence"] = "bulk"
    return msg
