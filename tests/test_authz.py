"""The authorization rules, case by case, on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from storage.authz import channel_rights, may_publish, may_read_channel
from storage.channels import ChannelKind, dm_channel, parse_channel
from storage.models import Enrolment, Event, GroupMember, LearningGroup, Role, User, utcnow
from tests.conftest import make_user


@pytest.mark.parametrize(
    "name,ok",
    [
        ("event:1:chat", True),
        ("event:12:board", True),
        ("event:3:news", True),
        ("group:4", True),
        ("user:5", True),
        ("dm:1:2", True),
        ("dm:2:1", False),
        ("dm:2:2", False),
        ("event:0:chat", False),
        ("event:01:chat", False),
        ("event:1:other", False),
        ("event:-1:chat", False),
        ("group:x", False),
        ("", False),
        ("user:1:extra", False),
    ],
)
def test_parse_channel(name: str, ok: bool) -> None:
    ref = parse_channel(name)
    assert (ref is not None) == ok
    if ref is not None:
        assert ref.name == name


def test_dm_channel_is_ordered() -> None:
    assert dm_channel(9, 3) == "dm:3:9"
    assert parse_channel(dm_channel(9, 3)).kind is ChannelKind.DM  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        dm_channel(4, 4)


async def _world(services: Any) -> dict[str, Any]:
    p1 = await make_user(services, name="P1")
    p2 = await make_user(services, name="P2")
    outsider = await make_user(services, name="Out")
    trainer = await make_user(services, name="T")
    organiser = await make_user(services, name="O")
    admin = await make_user(services, admin=True, name="A")
    async with services.db.session() as db:
        now = utcnow()
        ev = Event(title="E", starts_at=now, ends_at=now + dt.timedelta(hours=2))
        db.add(ev)
        await db.flush()
        for u, role in (
            (p1, Role.PARTICIPANT),
            (p2, Role.PARTICIPANT),
            (trainer, Role.TRAINER),
            (organiser, Role.ORGANISER),
        ):
            db.add(Enrolment(user_id=u.id, event_id=ev.id, role=role.value))
        grp = LearningGroup(event_id=ev.id, name="G")
        db.add(grp)
        await db.flush()
        db.add(GroupMember(group_id=grp.id, user_id=p1.id))
    return {
        "p1": p1,
        "p2": p2,
        "out": outsider,
        "tr": trainer,
        "org": organiser,
        "adm": admin,
        "ev": ev,
        "grp": grp,
    }


async def _can(services: Any, user: User, channel: str) -> tuple[bool, bool]:
    ref = parse_channel(channel)
    assert ref is not None
    async with services.db.session() as db:
        fresh = await db.get(User, user.id)
        assert fresh is not None
        read, publish = await may_read_channel(db, fresh, ref), await may_publish(db, fresh, ref)
        # The hub's one-lookup form must agree with both (None: "ask may_publish").
        combined = await channel_rights(db, fresh, ref)
        assert combined[0] == read and combined[1] in (publish, None), (
            channel,
            combined,
            read,
            publish,
        )
        assert combined[1] is not None or ref.kind is ChannelKind.DM
        return read, publish


async def test_channel_rules(services: Any) -> None:
    w = await _world(services)
    ev, grp = w["ev"].id, w["grp"].id
    cases = [
        # (who, channel, may read, may publish)
        ("p1", f"event:{ev}:chat", True, True),
        ("out", f"event:{ev}:chat", False, False),
        ("adm", f"event:{ev}:chat", True, False),
        ("p1", f"event:{ev}:board", True, False),
        ("p1", f"event:{ev}:news", True, False),
        ("tr", f"event:{ev}:news", True, False),
        ("org", f"event:{ev}:news", True, True),
        ("p1", f"group:{grp}", True, True),
        ("p2", f"group:{grp}", False, False),
        ("tr", f"group:{grp}", True, True),
        ("out", f"group:{grp}", False, False),
        ("p1", f"group:{grp}:board", True, False),  # board changes go through the pinboard API
        ("p2", f"group:{grp}:board", False, False),
        ("tr", f"group:{grp}:board", True, False),
        ("p1", f"user:{w['p1'].id}", True, False),
        ("p2", f"user:{w['p1'].id}", False, False),
        ("p1", dm_channel(w["p1"].id, w["p2"].id), True, True),
        ("p2", dm_channel(w["p1"].id, w["p2"].id), True, True),
        ("tr", dm_channel(w["p1"].id, w["p2"].id), False, False),
        ("adm", dm_channel(w["p1"].id, w["p2"].id), False, False),
        ("p1", dm_channel(w["p1"].id, w["out"].id), True, False),  # no shared event
    ]
    for who, channel, read, publish in cases:
        assert await _can(services, w[who], channel) == (read, publish), (who, channel)


async def test_blocked_user_may_do_nothing(services: Any) -> None:
    w = await _world(services)
    async with services.db.session() as db:
        user = await db.get(User, w["p1"].id)
        assert user is not None
        user.status = "blocked"
    assert await _can(services, w["p1"], f"event:{w['ev'].id}:chat") == (False, False)


async def _rules(services: Any, user: User, event_id: int, target: User) -> dict[str, bool]:
    from storage import authz

    async with services.db.session() as db:
        me = await db.get(User, user.id)
        other = await db.get(User, target.id)
        assert me is not None and other is not None
        return {
            "create_event": await authz.may_create_event(db, me),
            "view": await authz.may_view_event(db, me, event_id),
            "emails": await authz.may_view_member_emails(db, me, event_id),
            "enrol": await authz.may_enrol(db, me, event_id),
            "invite": await authz.may_invite(db, me, event_id),
            "invite_no_event": await authz.may_invite(db, me, None),
            "groups": await authz.may_manage_groups(db, me, event_id),
            "link_for_p2": await authz.may_issue_link_for(db, me, other),
            "accounts": await authz.may_manage_accounts(db, me),
        }


RULES = ["create_event", "view", "emails", "enrol", "invite", "invite_no_event", "groups",
         "link_for_p2", "accounts"]  # fmt: skip

EVENT_RULE_CASES = [
    # who: create, view, emails, enrol, invite, invite w/o event, groups, link for p2, accounts
    ("p1", [False, True, False, False, False, False, False, False, False]),
    ("out", [False, False, False, False, False, False, False, False, False]),
    # Nobody but an admin is handed a set-password link of an existing account (issue 13).
    ("tr", [False, True, True, False, True, False, True, False, False]),
    ("org", [False, True, True, True, True, False, True, False, False]),
    ("adm", [True, True, True, True, True, True, True, True, True]),
]


async def test_event_rules(services: Any) -> None:
    w = await _world(services)
    for who, expected in EVENT_RULE_CASES:
        got = await _rules(services, w[who], w["ev"].id, w["p2"])
        assert got == dict(zip(RULES, expected, strict=True)), who


async def test_trainer_gets_no_link_for_staff_or_people_of_other_events(services: Any) -> None:
    from storage import authz

    w = await _world(services)
    stranger = await make_user(services)
    async with services.db.session() as db:
        now = utcnow()
        other = Event(title="Other", starts_at=now, ends_at=now + dt.timedelta(hours=1))
        db.add(other)
        await db.flush()
        db.add(Enrolment(user_id=stranger.id, event_id=other.id, role=Role.PARTICIPANT.value))
    async with services.db.session() as db:
        tr = await db.get(User, w["tr"].id)
        assert tr is not None
        # Not even for a plain participant of the trainer's own event: the link would let
        # the trainer sign in as that person (issue 13: a reset account taken over).
        for target, ok in (("p1", False), ("org", False), ("adm", False), ("tr", False)):
            t = await db.get(User, w[target].id)
            assert t is not None
            assert await authz.may_issue_link_for(db, tr, t) is ok, target
        s = await db.get(User, stranger.id)
        assert s is not None
        assert await authz.may_issue_link_for(db, tr, s) is False
        # No enrolments at all: an account an admin made (perhaps a future organiser).
        # A trainer who enrols it into their own event must not get the key to it.
        fresh = await make_user(services)
        f = await db.get(User, fresh.id)
        assert f is not None
        assert await authz.may_issue_link_for(db, tr, f) is False
        adm = await db.get(User, w["adm"].id)
        assert adm is not None
        assert await authz.may_issue_link_for(db, adm, f) is True


async def test_blocked_staff_lose_every_event_right(services: Any) -> None:
    w = await _world(services)
    async with services.db.session() as db:
        for key in ("org", "adm"):
            user = await db.get(User, w[key].id)
            assert user is not None
            user.status = "blocked"
    for key in ("org", "adm"):
        got = await _rules(services, w[key], w["ev"].id, w["p2"])
        assert not any(got.values()), key
