"""storage.authz.may_see_mail_addresses, case by case, on both backends."""

from __future__ import annotations

from typing import Any

from storage.authz import may_see_mail_addresses
from storage.models import User
from tests.mail.conftest import make_event, make_people


async def test_addresses_are_for_staff_of_every_event_concerned(services: Any) -> None:
    trainer, organiser, both, participant, admin, blocked = await make_people(services, 6, "a")
    e1 = await make_event(
        services,
        {
            "trainer": [trainer, both, blocked],
            "organiser": [organiser],
            "participant": [participant],
        },
    )
    e2 = await make_event(services, {"organiser": [both]})
    async with services.db.session() as db:
        (await db.get(User, admin.id)).is_admin = True
        (await db.get(User, blocked.id)).status = "blocked"
    async with services.db.session() as db:
        users = {
            u.id: await db.get(User, u.id)
            for u in (trainer, organiser, both, participant, admin, blocked)
        }

        async def may(u: Any, events: list[int]) -> bool:
            return await may_see_mail_addresses(db, users[u.id], events)

        assert await may(trainer, [e1]) and await may(organiser, [e1])
        assert await may(both, [e1, e2])
        assert not await may(trainer, [e1, e2])  # staff of one of the two only
        assert not await may(participant, [e1])
        assert not await may(admin, [e1])  # admins are not staff of the event
        assert not await may(blocked, [e1])
        assert not await may(trainer, [])
