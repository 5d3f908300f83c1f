"""Building one message for one recipient (never a shared To or Cc list).

Information mails carry RFC 8058 one-click unsubscribe headers; service mails
do not, because service mail cannot be unsubscribed from.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

from storage.models import MailCategory, utcnow
from storage.repo.outbox import Claimed

UNSUBSCRIBE_SALT = "classhub.unsubscribe"
# Flattening for the wire: header lines may be up to 998 characters, which keeps the
# unsubscribe URL on one line (some receivers unfold List-Unsubscribe badly). Bodies
# are already 7-bit (quoted-printable when not ASCII), so no 8BITMIME is needed.
WIRE_POLICY = SMTP.clone(max_line_length=998)


def _cte(text: str) -> str:
    return "7bit" if text.isascii() else "quoted-printable"


def to_wire(msg: EmailMessage) -> bytes:
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


def build_message(
    d: Claimed, *, sender: str, public_url: str, secret_key: str
) -> EmailMessage:
    if d.email is None or d.user_id is None:
        raise RuntimeError("build_message needs a recipient with an address")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = Address(display_name=d.display_name, addr_spec=d.email)
    msg["Subject"] = d.subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id(d.id, d.campaign_id, sender)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Classhub-Campaign"] = str(d.campaign_id)
    if d.category == MailCategory.INFORMATION.value:
        url = unsubscribe_url(public_url, secret_key, d.user_id)
        msg["List-Unsubscribe"] = f"<{url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["List-Id"] = f"classhub information <info.{urlsplit(public_url).hostname or 'localhost'}>"
        msg["Precedence"] = "bulk"
        footer = f"\n\n--\nTo stop receiving information mail: {url}\n"
    else:
        footer = ""
    text = d.body_text + footer
    msg.set_content(text, cte=_cte(text))
    if d.body_html is not None:
        html_footer = (
            f'<hr><p><a href="{url}">Stop receiving information mail</a></p>' if footer else ""
        )
        html = d.body_html + html_footer
        msg.add_alternative(html, subtype="html", cte=_cte(html))
    return msg
