"""The scenarios: who connects where, who posts when, and what happens to the network.

A scenario turns its parameters into a :class:`Plan`, a plain description that
the coordinator uses to set up accounts and the generator processes use to
run their share of the connections. Nothing here does I/O.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCENARIOS = ("classroom", "burst", "many-rooms", "idle", "reconnect-storm")


@dataclass(frozen=True, slots=True)
class ConnSpec:
    """One WebSocket connection: which event (room) it sits in, as which account, posting or not."""

    index: int
    room: int
    account: int  # index into the room's accounts
    poster: bool


@dataclass
class Plan:
    scenario: str
    rooms: int
    accounts_per_room: int
    conns: list[ConnSpec]
    # "rate": posters post at `rate`/s for `duration` s; "burst": every poster posts once
    # within `window` s; "none": nobody posts (idle).
    publish: str
    duration: float = 0.0
    rate: float = 0.0
    jitter: float = 0.0
    window: float = 0.0
    hold: float = 0.0  # idle: how long connections sit doing nothing
    # reconnect-storm: when every connection drops, and the reconnect backoff.
    drop_at: float | None = None
    backoff_base: float = 0.1
    backoff_max: float = 5.0
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def posters(self) -> int:
        return sum(1 for c in self.conns if c.poster)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("conns")
        d["connections"] = len(self.conns)
        d["posters"] = self.posters
        return d


def _rooms_plan(
    rooms: int, per_room: int, posters_per_room: int, conns_per_account: int
) -> tuple[int, list[ConnSpec]]:
    accounts = math.ceil(per_room / conns_per_account)
    conns: list[ConnSpec] = []
    for r in range(rooms):
        for i in range(per_room):
            # Spread posters over the room's accounts so the per-user rate limit is shared fairly.
            conns.append(
                ConnSpec(
                    index=len(conns),
                    room=r,
                    account=i % accounts,
                    poster=i < posters_per_room,
                )
            )
    return accounts, conns


def build_plan(args: argparse.Namespace) -> Plan:
    s = args.scenario
    cpa = max(1, args.conns_per_account or (20 if s == "idle" else 1))
    if s == "classroom":
        accounts, conns = _rooms_plan(1, args.participants, args.posters, cpa)
        return Plan(s, 1, accounts, conns, "rate", duration=args.duration, rate=args.rate,
                    jitter=args.jitter)
    if s == "many-rooms":
        accounts, conns = _rooms_plan(args.rooms, args.participants, args.posters, cpa)
        return Plan(s, args.rooms, accounts, conns, "rate", duration=args.duration,
                    rate=args.rate, jitter=args.jitter)
    if s == "burst":
        accounts, conns = _rooms_plan(1, args.participants, args.participants, cpa)
        return Plan(s, 1, accounts, conns, "burst", window=args.window)
    if s == "idle":
        per_room = math.ceil(args.connections / args.rooms)
        accounts, conns = _rooms_plan(args.rooms, per_room, 0, cpa)
        conns = conns[: args.connections]
        return Plan(s, args.rooms, accounts, conns, "none", hold=args.duration)
    if s == "reconnect-storm":
        accounts, conns = _rooms_plan(1, args.participants, args.posters, cpa)
        return Plan(s, 1, accounts, conns, "rate", duration=args.duration, rate=args.rate,
                    jitter=args.jitter, drop_at=args.drop_at, backoff_base=args.backoff_base,
                    backoff_max=args.backoff_max)
    raise ValueError(f"unknown scenario {s!r}")


def add_scenario_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                         common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "classroom", parents=[common],
        help="N participants in one event, P of them posting at R/s with jitter",
        description="One event with --participants connections; --posters of them post "
        "--rate times a second (each interval jittered by ±--jitter) for --duration seconds.",
    )
    p.add_argument("--participants", type=int, default=300, help="connections (default 300)")
    p.add_argument("--posters", type=int, default=30, help="how many of them post (default 30)")
    p.add_argument("--rate", type=float, default=1.0, help="posts/s per poster (default 1)")
    p.add_argument("--jitter", type=float, default=0.5,
                   help="relative jitter of each interval, 0..1 (default 0.5)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of posting (default 20)")

    p = sub.add_parser(
        "burst", parents=[common],
        help="every participant posts once within one second",
        description="One event with --participants connections; each posts exactly once at a "
        "random moment within --window seconds (\"everyone post your answer now\"). The result "
        "reports how long after the first post the last delivery arrived.",
    )
    p.add_argument("--participants", type=int, default=1000, help="connections (default 1000)")
    p.add_argument("--window", type=float, default=1.0, help="seconds to spread posts (default 1)")

    p = sub.add_parser(
        "many-rooms", parents=[common],
        help="K events of M participants, P posting in each",
        description="--rooms events with --participants connections each; --posters per room "
        "post --rate times a second for --duration seconds.",
    )
    p.add_argument("--rooms", type=int, default=10, help="events (default 10)")
    p.add_argument("--participants", type=int, default=30, help="connections per room (default 30)")
    p.add_argument("--posters", type=int, default=3, help="posters per room (default 3)")
    p.add_argument("--rate", type=float, default=1.0, help="posts/s per poster (default 1)")
    p.add_argument("--jitter", type=float, default=0.5, help="relative jitter (default 0.5)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of posting (default 20)")

    p = sub.add_parser(
        "idle", parents=[common],
        help="C connections doing nothing (memory and heartbeat cost)",
        description="--connections connections spread over --rooms events sit idle for "
        "--duration seconds (answering heartbeats). Reports the server's RSS per connection and "
        "its CPU while idle (heartbeats). Several connections share an account "
        "(--conns-per-account, default 20, the server's default MAX_CONNECTIONS_PER_USER).",
    )
    p.add_argument("--connections", type=int, default=10000, help="connections (default 10000)")
    p.add_argument("--rooms", type=int, default=10, help="events (default 10)")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds idle (default 60: every connection sees server heartbeats)")

    p = sub.add_parser(
        "reconnect-storm", parents=[common],
        help="all clients drop and reconnect with backoff, recovering with `since`",
        description="A classroom (--participants, --posters at --rate/s for --duration s); at "
        "--drop-at seconds every connection is dropped without a closing handshake and "
        "reconnects after an exponential backoff with full jitter (--backoff-base doubling up "
        "to --backoff-max), resubscribing with `since` = the last sequence it saw. Nothing may "
        "be lost or duplicated across the storm.",
    )
    p.add_argument("--participants", type=int, default=300, help="connections (default 300)")
    p.add_argument("--posters", type=int, default=10, help="posters (default 10)")
    p.add_argument("--rate", type=float, default=1.0, help="posts/s per poster (default 1)")
    p.add_argument("--jitter", type=float, default=0.5, help="relative jitter (default 0.5)")
    p.add_argument("--duration", type=float, default=15.0, help="seconds of posting (default 15)")
    p.add_argument(
        "--drop-at", type=float, default=5.0, help="seconds in when all drop (default 5)"
    )
    p.add_argument("--backoff-base", type=float, default=0.1, help="first backoff, s (default 0.1)")
    p.add_argument("--backoff-max", type=float, default=5.0, help="longest backoff, s (default 5)")
