"""What room controls keep about a person is theirs: in their data export, and gone when they
are erased (held posts, mutes, the kept originals of their removed messages); SQLite and
PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import HeldMessage, RemovedMessage, Role, RoomMute, User
from storage.repo import channel_log, room_controls, room_held
from storage.repo.channel_log import NewEvent
from storage.repo.erasure import erase_user
from storage.repo.personal_data import collect
from tests.hub_support import World


async def test_export_and_erasure_cover_room_controls(db_url: str) -> None:
    world = World(db_url)
    try:
        t, _ = await world.user("Tina")
        p, _ = await world.user("Pat")
        ev = await world.event((t, Role.TRAINER), (p, Role.PARTICIPANT))
        async with world.db.session() as db:
            trainer = await db.get(User, t)
            assert trainer is not None
            [msg] = await channel_log.append(db, [NewEvent(
                f"event:{ev}:chat", "message", {"text": "my own words"}, p, "c-1")])
            await room_controls.remove_message(db, ev, msg.id, "off topic", trainer)
            await room_controls.mute(db, ev, p, 15, trainer)
            await room_held.hold(
                db, event_id=ev, channel=f"event:{ev}:chat", author_id=p, client_id="c-2",
                ref_id=None, body={"text": "darn"}, word="darn", staff=[t],
            )
        async with world.db.session() as db:
            mine = (await collect(db, p))["room_controls"]
        assert [r["body"] for r in mine["removed_messages"]] == [{"text": "my own words"}]
        assert [h["body"] for h in mine["held_posts"]] == [{"text": "darn"}]
        assert [m["event_id"] for m in mine["mutes"]] == [ev]
        async with world.db.session() as db:
            report = await erase_user(db, p, erase_content=True)
        assert report.rows["removed_messages"] == 1 and report.rows["held_messages"] == 1
        async with world.db.session() as db:
            for model, column in ((RemovedMessage, RemovedMessage.event_id),
                                  (HeldMessage, HeldMessage.event_id),
                                  (RoomMute, RoomMute.event_id)):
                left = (await db.execute(
                    select(func.count()).select_from(model).where(column == ev))).scalar()
                assert left == 0, model.__tablename__
    finally:
        await world.close()


async def test_retention_takes_held_posts_and_removed_originals_with_the_chat(
    db_url: str,
) -> None:
    import datetime as dt

    from storage.models import Event
    from storage.repo.retention import RetentionReport, apply_event_retention

    world = World(db_url)
    try:
        t, _ = await world.user("Tina")
        p, _ = await world.user("Pat")
        ev = await world.event((t, Role.TRAINER), (p, Role.PARTICIPANT))
        async with world.db.session() as db:
            trainer = await db.get(User, t)
            assert trainer is not None
            [msg] = await channel_log.append(db, [NewEvent(
                f"event:{ev}:chat", "message", {"text": "old words"}, p, "c-1")])
            await room_controls.remove_message(db, ev, msg.id, "off topic", trainer)
            await room_held.hold(
                db, event_id=ev, channel=f"event:{ev}:chat", author_id=p, client_id="c-2",
                ref_id=None, body={"text": "darn"}, word="darn", staff=[t],
            )
            event = await db.get(Event, ev)
            assert event is not None
            event.chat_retention_days = 1
        async with world.db.session() as db:
            report = RetentionReport()
            await apply_event_retention(db, dt.datetime.now(dt.UTC), report)
        async with world.db.session() as db:
            for model, column in ((RemovedMessage, RemovedMessage.event_id),
                                  (HeldMessage, HeldMessage.event_id)):
                left = (await db.execute(
                    select(func.count()).select_from(model).where(column == ev))).scalar()
                assert left == 0, model.__tablename__
    finally:
        await world.close()
