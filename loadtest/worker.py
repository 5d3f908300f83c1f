"""A generator process: runs its share of the bots and reports to the coordinator over a pipe.

Phases, each ended by the coordinator so every process moves together:
connect all bots -> ``connected`` -> wait for ``start`` (a common wall-clock
t0) -> publish/drop/hold per the plan -> ``published`` (the highest acked
sequence per channel) -> wait for ``drain`` (the final sequence of every
channel) -> wait until every bot has every event or the deadline -> ``result``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from loadtest.bot import Bot, BotSpec, Stats, _reason
from loadtest.codec import get_codec
from loadtest.scenarios import Plan
from loadtest.wsclient import read_queue
from loadtest.wsframes import WSProtocolError

PROGRESS_EVERY_SECS = 0.25
LAG_TICK_SECS = 0.05
CONNECT_ATTEMPTS = 3


@dataclass
class WorkerSpec:
    proc: int
    run_tag: str
    protocol: str
    origin: str | None
    bots: list[BotSpec]
    plan: Plan
    body_bytes: int
    uvloop: bool
    connect_concurrency: int
    seed: int
    ack_timeout: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)


def worker_main(pipe: Connection, spec: WorkerSpec) -> None:
    """Process entry point."""
    if spec.uvloop:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        try:
            runner.run(Worker(pipe, spec).main())
        except Exception as exc:  # report, never hang the coordinator
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
            raise


class Worker:
    def __init__(self, pipe: Connection, spec: WorkerSpec) -> None:
        self.pipe = pipe
        self.spec = spec
        self.stats = Stats()
        self.codec = get_codec(spec.protocol)
        self.rng = random.Random(spec.seed)
        plan = spec.plan
        self.bots = [
            Bot(
                b,
                codec=self.codec,
                origin=spec.origin,
                stats=self.stats,
                run_tag=f"{spec.run_tag}{spec.proc}",
                body_bytes=spec.body_bytes,
                backoff_base=plan.backoff_base,
                backoff_max=plan.backoff_max,
            )
            for b in spec.bots
        ]
        self.inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.phase = "connecting"
        self.lag_max = 0.0
        self.lag_sum = 0.0
        self.lag_n = 0

    def send(self, *msg: Any) -> None:
        self.pipe.send(msg)

    def _pipe_reader(self, loop: asyncio.AbstractEventLoop) -> None:
        """Thread: the coordinator's messages into the inbox.

        Not ``loop.add_reader``: uvloop makes a watched descriptor non-blocking, and then
        sending the (large) result down the same pipe fails with EAGAIN.
        """
        while True:
            try:
                msg = self.pipe.recv()
            except (EOFError, OSError):
                msg = ("stop",)
            loop.call_soon_threadsafe(self.inbox.put_nowait, msg)
            if msg[0] == "stop":
                return

    async def expect(self, kind: str) -> tuple[Any, ...]:
        msg = await self.inbox.get()
        if msg[0] == "stop":
            raise SystemExit(1)
        if msg[0] != kind:
            raise RuntimeError(f"coordinator sent {msg[0]!r}, expected {kind!r}")
        return msg

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._pipe_reader, args=(loop,), daemon=True).start()
        tasks = [loop.create_task(self._progress()), loop.create_task(self._lag_monitor())]
        try:
            await self._connect_all()
            self.send("connected", {"connected": self.stats.connected,
                                    "failed": sum(1 for b in self.bots if not b.established)})
            _, t0 = await self.expect("start")
            self.phase = "running"
            await self._sleep_until(t0)
            self.stats.measure = True
            cpu0, wall0 = time.process_time(), time.time()
            await self._run(t0)
            await self._await_acks()
            # The final sequence of each channel: the highest acknowledged, or higher if some
            # bot saw more (an event whose ack was lost must still reach everyone).
            last = dict(self.stats.acked_max)
            for b in self.bots:
                for ch, cur in b.cursors.items():
                    if cur.max_seen > last.get(ch, 0):
                        last[ch] = cur.max_seen
            self.send("published", {"acked_max": last})
            _, finals, deadline = await self.expect("drain")
            self.phase = "draining"
            await self._drain(finals, deadline)
            self.stats.measure = False
            cpu, wall = time.process_time() - cpu0, time.time() - wall0
            self.send("result", self._result(finals, cpu, wall))
            await self.expect("stop")
        finally:
            for t in tasks:
                t.cancel()
            for b in self.bots:
                b.close()
            await asyncio.sleep(0.05)  # let the close frames go out

    # phases -----------------------------------------------------------------------------
    async def _connect_all(self) -> None:
        sem = asyncio.Semaphore(self.spec.connect_concurrency)

        async def one(bot: Bot) -> None:
            async with sem:
                for attempt in range(CONNECT_ATTEMPTS):
                    t = time.time()
                    try:
                        await bot.open()
                    except (TimeoutError, OSError, WSProtocolError) as exc:
                        self.stats.connect_failures[_reason(exc)] += 1
                        if bot.ws is not None:
                            bot.ws.abort()
                        if isinstance(exc, WSProtocolError) and exc.status in (401, 403):
                            return  # refused: retrying will not help
                        await asyncio.sleep(0.25 * 2**attempt)
                        continue
                    self.stats.connect_secs.append(time.time() - t)
                    self.stats.connected += 1
                    return

        await asyncio.gather(*(one(b) for b in self.bots))

    async def _run(self, t0: float) -> None:
        plan = self.spec.plan
        loop = asyncio.get_running_loop()
        storm: asyncio.TimerHandle | None = None
        if plan.drop_at is not None:
            storm = loop.call_later(max(0.0, t0 + plan.drop_at - time.time()), self._storm)
        posters = [b for b in self.bots if b.spec.poster and b.established]
        schedule: list[tuple[float, Bot]] = []
        if plan.publish == "rate" and plan.rate > 0:
            period = 1.0 / plan.rate
            for b in posters:
                t = t0 + self.rng.uniform(0, period)
                while t < t0 + plan.duration:
                    schedule.append((t, b))
                    t += period * self.rng.uniform(1 - plan.jitter, 1 + plan.jitter)
        elif plan.publish == "burst":
            schedule = [(t0 + self.rng.uniform(0, plan.window), b) for b in posters]
        schedule.sort(key=lambda item: item[0])
        i = 0
        while i < len(schedule):
            await self._sleep_until(schedule[i][0])
            now = time.time()
            while i < len(schedule) and schedule[i][0] <= now:
                schedule[i][1].publish_new()
                i += 1
        end = t0 + (plan.duration if plan.publish == "rate" else plan.hold)
        await self._sleep_until(end)
        if storm is not None:
            storm.cancel()

    def _storm(self) -> None:
        for b in self.bots:
            if b.established:
                b.drop()

    async def _await_acks(self) -> None:
        deadline = time.time() + self.spec.ack_timeout
        while time.time() < deadline:
            if not any(b.pending or b.reconnecting for b in self.bots):
                return
            await asyncio.sleep(0.02)

    async def _drain(self, finals: dict[str, int], deadline: float) -> None:
        waiting = [b for b in self.bots if b.established]
        while waiting and time.time() < deadline:
            read_queue().flush()  # whatever was read, parsed before it is counted
            waiting = [
                b for b in waiting
                if any(not cur.caught_up(finals.get(ch, 0)) for ch, cur in b.cursors.items())
            ]
            if waiting:
                await asyncio.sleep(0.02)

    # reporting --------------------------------------------------------------------------
    async def _progress(self) -> None:
        st = self.stats
        while True:
            self.send("progress", {
                "phase": self.phase,
                "connected": st.connected,
                "connect_failures": sum(st.connect_failures.values()),
                "deliveries": st.deliveries,
                "published": st.published,
                "acked": st.acked,
                "cpu": time.process_time(),
                "lag_max": self.lag_max,
            })
            await asyncio.sleep(PROGRESS_EVERY_SECS)

    async def _lag_monitor(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(LAG_TICK_SECS)
            lag = loop.time() - t - LAG_TICK_SECS
            if self.phase != "connecting":
                self.lag_max = max(self.lag_max, lag)
                self.lag_sum += lag
                self.lag_n += 1

    async def _sleep_until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)

    def _result(self, finals: dict[str, int], cpu: float, wall: float) -> dict[str, Any]:
        st = self.stats
        acc = {"expected": 0, "received": 0, "lost": 0, "dups": 0, "out_of_order": 0}
        for b in self.bots:
            for ch, cur in b.cursors.items():
                s = cur.summary(finals.get(ch, cur.since))
                acc["expected"] += s.expected
                acc["received"] += s.received
                acc["lost"] += s.lost
                acc["dups"] += s.dups
                acc["out_of_order"] += s.out_of_order
        never = sum(1 for b in self.bots if not b.established)
        return {
            "proc": self.spec.proc,
            "bots": len(self.bots),
            "never_connected": never,
            "accounting": acc,
            "deliveries": st.deliveries,
            "events_seen": st.events_seen,
            "frames": st.frames,
            "bytes": st.bytes,
            "published": st.published,
            "republished": st.republished,
            "acked": st.acked,
            "unacked": sum(len(b.pending) for b in self.bots),
            "rate_limited": st.rate_limited,
            "errors": dict(st.errors),
            "connect_failures": dict(st.connect_failures),
            "disconnects": dict(st.disconnects),
            "reconnects": st.reconnects,
            "reloads": st.reloads,
            "first_publish": st.first_publish,
            "last_delivery": st.last_delivery or None,
            "lat": st.lat.tobytes(),
            "at": st.at.tobytes(),
            "ack_lat": st.ack_lat.tobytes(),
            "connect_secs": st.connect_secs.tobytes(),
            "reconnect_secs": st.reconnect_secs.tobytes(),
            "cpu_secs": cpu,
            "wall_secs": wall,
            "lag_max_secs": self.lag_max,
            "lag_mean_secs": self.lag_sum / self.lag_n if self.lag_n else 0.0,
        }
