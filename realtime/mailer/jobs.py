"""Periodic jobs the mailer process runs next to sending (maintenance, retention, ...).

Another part registers a job at import time::

    from realtime.mailer.jobs import periodic

    @periodic("retention", every_secs=3600)
    async def purge_expired(ctx: JobContext) -> None:
        async with ctx.db.session() as db:
            ...

and adds its module to ``JOB_MODULES`` below, so ``classhub mailer`` imports it.
With several mailer processes every one runs every job: a job must be safe to
run concurrently (take a row lock or an advisory lock if it must run alone).
A job that raises is logged and tried again at its next time; one slow job
never holds up sending or the other jobs.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from storage.db import Database
from storage.settings import Settings

log = logging.getLogger("classhub.mailer.jobs")

# Modules that register jobs; each part adds one line.
JOB_MODULES: list[str] = []


@dataclass
class JobContext:
    settings: Settings
    db: Database
    extras: dict[str, Any] = field(default_factory=dict)


JobFn = Callable[[JobContext], Awaitable[None]]


@dataclass
class PeriodicJob:
    name: str
    every_secs: float
    fn: JobFn
    run_at_start: bool = True


REGISTRY: dict[str, PeriodicJob] = {}


def register(name: str, every_secs: float, fn: JobFn, *, run_at_start: bool = True) -> None:
    if every_secs <= 0:
        raise RuntimeError(f"periodic job {name!r} needs a positive interval")
    REGISTRY[name] = PeriodicJob(name, every_secs, fn, run_at_start)


def periodic(
    name: str, every_secs: float, *, run_at_start: bool = True
) -> Callable[[JobFn], JobFn]:
    def deco(fn: JobFn) -> JobFn:
        register(name, every_secs, fn, run_at_start=run_at_start)
        return fn

    return deco


def load_job_modules() -> None:
    for module in JOB_MODULES:
        importlib.import_module(module)


class JobRunner:
    """Starts each due job as its own task; a job still running is not started twice."""

    def __init__(self, ctx: JobContext, jobs: dict[str, PeriodicJob] | None = None) -> None:
        self.ctx = ctx
        self.jobs = dict(REGISTRY if jobs is None else jobs)
        now = time.monotonic()
        self._next = {
            j.name: now if j.run_at_start else now + j.every_secs for j in self.jobs.values()
        }
        self._running: dict[str, asyncio.Task[None]] = {}
        self.runs: dict[str, int] = {name: 0 for name in self.jobs}

    def start_due(self) -> None:
        now = time.monotonic()
        for job in self.jobs.values():
            if self._next[job.name] > now or job.name in self._running:
                continue
            self._next[job.name] = now + job.every_secs
            task = asyncio.create_task(self._run(job), name=f"job:{job.name}")
            self._running[job.name] = task

    async def _run(self, job: PeriodicJob) -> None:
        try:
            await job.fn(self.ctx)
        except Exception:
            log.exception("periodic job %s failed", job.name)
        finally:
            self.runs[job.name] += 1
            self._running.pop(job.name, None)

    async def stop(self, grace_secs: float = 10.0) -> None:
        """Let running jobs finish for up to ``grace_secs``, then cancel them."""
        tasks = list(self._running.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace_secs)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
