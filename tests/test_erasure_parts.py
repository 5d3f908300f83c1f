"""Erasure runs every part from one place, whatever else the process imported.

The mail part used to be registered on a list by importing
``storage.repo.erasure_mail``, which only the web app and the classhub commands
did: any other caller of ``erase_user`` left the person's mail addresses in
place. A fresh interpreter that imports ``storage.repo.erasure`` (and the
models and migrations, nothing of web or the commands) must erase them too.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from sqlalchemy import select
    from storage.migrate import upgrade
    from storage.db import Database
    from storage.models import User
    from storage.models.mail import (
        DeliveryStatus, MailCampaign, MailCategory, MailDelivery,
    )
    from storage.repo.erasure import erase_user

    URL = sys.argv[1]

    async def main() -> None:

        db = Database(URL)
        async with db.session() as s:
            sender = User(email="sender@example.org", display_name="Sender")
            person = User(email="person@example.org", display_name="Person")
            s.add_all([sender, person])
            await s.flush()
            campaign = MailCampaign(
                sender_id=sender.id, category=MailCategory.SERVICE.value,
                subject="s", body_text="b", body_html=None,
            )
            s.add(campaign)
            await s.flush()
            s.add(MailDelivery(
                campaign_id=campaign.id, user_id=person.id, email="person@example.org",
                status=DeliveryStatus.QUEUED.value,
            ))
            person_id = person.id
        async with db.session() as s:
            report = await erase_user(s, person_id, erase_content=False)
        async with db.session() as s:
            rows = (await s.execute(select(MailDelivery))).scalars().all()
            print("modules", "web" in sys.modules, "web.routes.mail" in sys.modules)
            print("report", report.rows.get("mail_deliveries_blanked"))
            print("rows", [(d.email, d.status) for d in rows])
        await db.close()

    upgrade(URL)
    asyncio.run(main())
    """
)


def test_erasing_a_person_forgets_mail_with_only_erasure_imported(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'erase.db'}"
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, url],
        capture_output=True, text=True, timeout=120, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["modules"] == "False False"  # nothing of web came along
    assert lines["report"] == "1"
    assert lines["rows"] == "[(None, 'suppressed')]"
