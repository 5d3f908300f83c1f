"""What the shared limits add to the publish path: a microbenchmark, no load.

Measures, on the Redis at ``--redis-url`` (keys under a unique prefix, removed
afterwards), per publish check: the local token bucket alone (the embedded
default), the shared bucket asked by one caller at a time (a quiet classroom:
one round trip each) and by N callers at once (a burst: their checks share
round trips), plus redis-py's ``evalsha`` through its pool for comparison.
Wall time and this process's CPU time, in microseconds per check (docs/performance.md).

    /work/venv/bin/python scripts/limits_bench.py --checks 3000 --uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from realtime.limits.redis_limits import RedisLimits
from realtime.limits.scripts import PUBLISH_GCRA
from realtime.protocol.ratelimit import TokenBucket

RATE, BURST = 1e9, 10**9  # never refuse: every check is a full grant, the common case


def row(name: str, n: int, wall: float, cpu: float, extra: str = "") -> None:
    print(f"{name:<44} {wall / n * 1e6:9.1f} {cpu / n * 1e6:9.1f}  {extra}")


async def main(args: argparse.Namespace) -> None:
    n = args.checks
    prefix = f"classhub-bench-{uuid.uuid4().hex[:8]}"
    print(f"{'per publish check':<44} {'wall µs':>9} {'cpu µs':>9}")

    bucket = TokenBucket(RATE, BURST, time.monotonic())
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n * 100):
        bucket.take(time.monotonic())
    row(
        "local TokenBucket.take (embedded default)",
        n * 100,
        time.perf_counter() - t0,
        time.process_time() - c0,
    )

    limits = RedisLimits(args.redis_url, prefix=prefix)
    try:
        for _ in range(200):  # connect, load the script, warm up
            await limits.take_publish(1, RATE, BURST)
        before = limits.round_trips
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            await limits.take_publish(i % 300, RATE, BURST)
        row(
            "shared bucket, one caller at a time",
            n,
            time.perf_counter() - t0,
            time.process_time() - c0,
            f"{(limits.round_trips - before) / n:.2f} round trips/check",
        )
        for callers in (30, 1000):
            before = limits.round_trips
            rounds = max(1, n // callers)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(rounds):
                await asyncio.gather(*(limits.take_publish(u, RATE, BURST) for u in range(callers)))
            row(
                f"shared bucket, {callers} callers at once",
                rounds * callers,
                time.perf_counter() - t0,
                time.process_time() - c0,
                f"{(limits.round_trips - before) / (rounds * callers):.3f} round trips/check",
            )
        if limits.fallbacks:
            raise RuntimeError("Redis did not answer: these are fallback figures")
    finally:
        await limits.close()

    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(args.redis_url)
    try:
        sha = await client.script_load(PUBLISH_GCRA.body)
        key = f"{prefix}:limit:publish:x"
        for _ in range(200):
            await client.evalsha(sha, 1, key, 1, BURST)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            await client.evalsha(sha, 1, key, 1, BURST)
        row(
            "for comparison: redis-py evalsha via its pool",
            n,
            time.perf_counter() - t0,
            time.process_time() - c0,
        )
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument(
        "--uvloop", action="store_true", help="run on uvloop, as `classhub serve` does by default"
    )
    ns = parser.parse_args()
    if ns.uvloop:
        import uvloop

        uvloop.run(main(ns))
    else:
        asyncio.run(main(ns))
