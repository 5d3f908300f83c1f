"""What the room controls add to the publish path: a microbenchmark, no store, no network.

Measures ``RoomRules.check`` (realtime/room_rules.py) per publish with the room's state
cached, as every publish after a room's first finds it: a room with no control on (the
common case), and one with slow mode off but a word list and mutes (the whole check: the
clock, the mute lookup, the word pattern over a 70-character message). Reported in this
process's CPU time (the machine may be busy), next to an empty coroutine call.

    /work/main/.venv/bin/python scripts/room_rules_bench.py --checks 100000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from realtime.room_rules import Room, RoomRules  # noqa: E402
from storage.channels import parse_channel  # noqa: E402
from storage.repo.room_controls import RoomSnapshot  # noqa: E402

CHANNEL = "event:7:chat"
BODY = {"text": "Is the slide deck online? I could not find it in the shared folder."}


class NoBroker:
    async def claim_once(self, key: str, ttl_secs: int) -> bool:
        return True


async def _nothing(events: Any) -> None:
    return None


async def run(n: int) -> None:
    rules = RoomRules(None, NoBroker(), _nothing)  # type: ignore[arg-type]
    ref = parse_channel(CHANNEL)
    if ref is None:
        raise RuntimeError(f"{CHANNEL} does not parse")
    rules._channel_room[CHANNEL] = 7
    later = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    rooms = {
        "no control on": RoomSnapshot(7, staff=frozenset({1})),
        "50 words, 20 mutes": RoomSnapshot(
            7, words=tuple(f"word{i}" for i in range(50)), staff=frozenset({1}),
            mutes=tuple((10_000 + i, later) for i in range(20)),
        ),
    }
    for label, snapshot in rooms.items():
        rules._rooms[7] = Room.of(snapshot)
        t0 = time.process_time()
        for i in range(n):
            await rules.check(2 + i % 500, ref, CHANNEL, f"c{i}", None, BODY)
        cpu = time.process_time() - t0
        print(f"{label:>20}: {cpu / n * 1e6:.2f} µs CPU per publish (store reads: {rules.loads})")

    async def noop(*args: Any) -> None:
        return None

    t0 = time.process_time()
    for i in range(n):
        await noop(2, ref, CHANNEL, f"c{i}", None, BODY)
    print(f"{'an empty coroutine':>20}: {(time.process_time() - t0) / n * 1e6:.2f} µs CPU per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=100_000)
    asyncio.run(run(parser.parse_args().checks))


if __name__ == "__main__":
    main()
