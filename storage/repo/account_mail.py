"""Mail about a person's own account: a set-password link, an offer to join an event, a
link to replace a forgotten password.

Such a link is a key to the account, so it goes only to the account's own address,
never into an answer to whoever asked for it (docs/privacy.md, "Invitations and
enrolment"). It is queued in the outbox like any service mail (one campaign of one
delivery, in the caller's transaction), with no sender and no event: no trainer's or
organiser's campaign list or progress channel shows it, and nobody reads its text
over the API.
"""

from __future__ import annotations

import datetime as dt
import html

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event, Invitation, MailCategory, Role, User, utcnow
from storage.repo.audience import Recipient
from storage.repo.invitations import create_invitation
from storage.repo.outbox import create_campaign

ACCOUNT_MAIL_KIND = "account"
# One person is mailed a new link for the same purpose at most this often: a trainer
# who registers the same address again and again must not flood that mailbox.
RESEND_SECS = 600


async def _recently_mailed(db: AsyncSession, user: User, event_id: int | None) -> bool:
    since = utcnow() - dt.timedelta(seconds=RESEND_SECS)
    where = [
        Invitation.user_id == user.id,
        Invitation.mailed.is_(True),
        Invitation.used_at.is_(None),
        Invitation.created_at > since,
        Invitation.purpose.is_(None),  # a reset link the person asked for is no invitation
        Invitation.event_id.is_(None) if event_id is None else Invitation.event_id == event_id,
    ]
    return (
        await db.execute(select(Invitation.token_hash).where(*where).limit(1))
    ).first() is not None


async def mail_link(
    db: AsyncSession,
    user: User,
    *,
    actor: User,
    public_url: str,
    ttl_secs: int,
    event_id: int | None = None,
    role: Role | None = None,
) -> bool:
    """Mail ``user`` a new link: to set a password (the account has none), and with
    ``event_id`` an offer to join that event as ``role``, accepted by following it.

    Returns False when nothing was sent because the same link went out moments ago.
    """
    if user.email is None or await _recently_mailed(db, user, event_id):
        return False
    token = await create_invitation(
        db, user, created_by=actor.id, ttl_secs=ttl_secs, event_id=event_id, role=role,
        mailed=True,
    )
    url = f"{public_url}/invite/{token}"
    days = max(1, ttl_secs // 86400)
    if event_id is None:
        subject = "Set your classhub password"
        lines = [
            f"Hello {user.display_name},",
            "",
            f"{actor.display_name} asked classhub to send you a link to set your password:",
            "",
            url,
            "",
            f"The link works once, for {days} day(s). Only you receive it; nobody else can use it",
            "unless you pass it on.",
        ]
    else:
        event = await db.get(Event, event_id)
        title = event.title if event is not None else f"event {event_id}"
        what = (role or Role.PARTICIPANT).value
        step = "join it" if user.password_hash else "set your password and join it"
        subject = f"Invitation to {title}"
        lines = [
            f"Hello {user.display_name},",
            "",
            f"{actor.display_name} invites you to \"{title}\" on classhub as {what}.",
            f"To {step}, follow this link:",
            "",
            url,
            "",
            f"The link works once, for {days} day(s). Until you follow it you are not enrolled",
            "and the person who invited you sees nothing of your account. If you do not want",
            "to join, ignore this mail.",
        ]
    await create_campaign(
        db,
        sender_id=None,
        kind=ACCOUNT_MAIL_KIND,
        category=MailCategory.SERVICE,
        subject=" ".join(subject.split()),
        body_text="\n".join(lines) + "\n",
        body_html=None,
        audience={"kind": ACCOUNT_MAIL_KIND, "user_id": user.id},
        event_ids=[],
        recipients=[Recipient(user.id, user.display_name, user.email, True)],
    )
    return True


def reset_url(public_url: str, token: str) -> str:
    return f"{public_url}/reset-password/{token}"


async def mail_reset_link(
    db: AsyncSession, user: User, token: str, *, public_url: str, ttl_secs: int
) -> None:
    """Queue the "Forgot password?" mail with its link (text and HTML parts)."""
    if user.email is None:
        raise RuntimeError("a reset link goes to the account's own address")
    url = reset_url(public_url, token)
    minutes = max(1, ttl_secs // 60)
    lines = [
        f"Hello {user.display_name},",
        "",
        "someone, probably you, asked classhub for a link to choose a new password for",
        f"your account {user.email}. To choose one, follow this link:",
        "",
        url,
        "",
        f"The link works once, for {minutes} minutes. Choosing a new password signs you out",
        "everywhere. If you did not ask for it, ignore this mail: your password stays as it is.",
    ]
    e = html.escape
    body_html = (
        "<!doctype html>\n<html><body>\n"
        f"<p>Hello {e(user.display_name)},</p>\n"
        "<p>someone, probably you, asked classhub for a link to choose a new password for "
        f"your account {e(user.email)}. To choose one, follow this link:</p>\n"
        f'<p><a href="{e(url)}">Choose a new password</a></p>\n'
        f"<p>The link works once, for {minutes} minutes. Choosing a new password signs you "
        "out everywhere. If you did not ask for it, ignore this mail: your password stays "
        "as it is.</p>\n"
        "</body></html>\n"
    )
    await create_campaign(
        db,
        sender_id=None,
        kind=ACCOUNT_MAIL_KIND,
        category=MailCategory.SERVICE,
        subject="Choose a new classhub password",
        body_text="\n".join(lines) + "\n",
        body_html=body_html,
        audience={"kind": ACCOUNT_MAIL_KIND, "user_id": user.id},
        event_ids=[],
        recipients=[Recipient(user.id, user.display_name, user.email, True)],
    )
