"""The coordinator: accounts, generator processes, the server probe, progress, the report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import multiprocessing as mp
import os
import platform
import secrets
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from loadtest.accounts import (
    SetupError,
    SignedIn,
    check_credentials,
    run_cleanup,
    run_setup,
    sign_in_all,
)
from loadtest.bot import BotSpec
from loadtest.metrics import FineSampler, ServerProbe, ServerSample, aggregate, machine_load
from loadtest.report import result_paths, write_json, write_plot
from loadtest.scenarios import Plan, build_plan
from loadtest.worker import WorkerSpec, worker_main

SETTLE_SECS = 1.0  # after connecting, before measuring RSS and starting
START_DELAY_SECS = 0.5  # t0 is this far in the future when announced
SAMPLE_EVERY_SECS = 0.5
TIMELINE_STEP_SECS = 0.1


class RunError(Exception):
    pass


def ws_url(base: str, path: str) -> str:
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise RunError(f"--url must be an http(s):// URL, got {base!r}")
    return f"{scheme}://{parts.netloc}{path}"


def http_url(base: str) -> str:
    parts = urlsplit(base)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


class Coordinator:
    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.plan: Plan = build_plan(args)
        self.creds_file: Path | None = None
        self.created_setup = False
        self.probe = ServerProbe(args.server_pid, children=args.server_children) \
            if args.server_pid else None
        self.marks: dict[str, ServerSample] = {}
        self.progress_cpu: dict[int, list[tuple[float, float]]] = {}

    # the whole run ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        args = self.args
        started = dt.datetime.now(dt.UTC)
        machine_before = machine_load()
        creds = self._credentials()
        try:
            cookies = self._sign_in(creds)
            result = self._generate(creds, cookies, started, machine_before)
        finally:
            if self.created_setup and not args.keep_accounts and self.creds_file is not None:
                try:
                    msg = run_cleanup(args.setup_cmd, self.creds_file)
                    self.console.print(f"[dim]cleanup: {msg}[/]")
                    self.creds_file.unlink(missing_ok=True)
                except SetupError as exc:  # never lose the run's result over its cleanup
                    self.console.print(
                        f"[bold yellow]cleanup failed[/] ({exc}); the bot accounts are "
                        f"described in {self.creds_file}: remove them with "
                        f"`classhub loadtest-setup --cleanup {self.creds_file}`"
                    )
        return result

    def _credentials(self) -> dict[str, Any]:
        args, plan = self.args, self.plan
        if args.credentials:
            import json

            data: dict[str, Any] = json.loads(Path(args.credentials).read_text())
        else:
            fd, name = tempfile.mkstemp(prefix="classhub-loadtest-", suffix=".json")
            os.close(fd)
            self.creds_file = Path(name)
            with self.console.status(
                f"creating {plan.rooms} event(s) × {plan.accounts_per_room} bot accounts "
                f"({args.setup_cmd} loadtest-setup)"
            ):
                data = run_setup(
                    args.setup_cmd, plan.rooms, plan.accounts_per_room, self.creds_file
                )
            self.created_setup = True
        check_credentials(data, plan.rooms, plan.accounts_per_room)
        return data

    def _sign_in(self, creds: dict[str, Any]) -> dict[str, str]:
        plan = self.plan
        emails = [a["email"] for e in creds["events"][: plan.rooms]
                  for a in e["accounts"][: plan.accounts_per_room]]
        base = http_url(self.args.url[0])
        with self._progress() as progress:
            task = progress.add_task("signing in", total=len(emails), info="")
            out = asyncio.run(sign_in_all(
                base, emails, creds["password"], concurrency=self.args.login_concurrency,
                on_done=lambda: progress.advance(task),
            ))
        failed = {e: r for e, r in out.items() if not isinstance(r, SignedIn)}
        if failed:
            sample = ", ".join(f"{e}: {r}" for e, r in list(failed.items())[:3])
            raise RunError(
                f"{len(failed)} of {len(emails)} bot accounts could not sign in ({sample})"
            )
        return {e: s.cookie for e, s in out.items() if isinstance(s, SignedIn)}

    def _bot_specs(self, creds: dict[str, Any], cookies: dict[str, str]) -> list[BotSpec]:
        args, plan = self.args, self.plan
        urls = [ws_url(u, args.ws_path) for u in args.url]
        kinds = [k.strip() for k in args.subscribe.split(",") if k.strip()]
        specs = []
        for c in plan.conns:
            event = creds["events"][c.room]
            chans = event["channels"]
            email = event["accounts"][c.account]["email"]
            specs.append(BotSpec(
                index=c.index,
                url=urls[c.index % len(urls)],
                cookie=cookies[email],
                channels=tuple(chans[k] for k in kinds),
                publish_channel=chans["chat"],
                poster=c.poster,
            ))
        return specs

    def _generate(self, creds: dict[str, Any], cookies: dict[str, str], started: dt.datetime,
                  machine_before: dict[str, Any]) -> dict[str, Any]:
        args, plan = self.args, self.plan
        specs = self._bot_specs(creds, cookies)
        procs = max(1, min(args.procs, len(specs)))
        run_tag = secrets.token_hex(3)
        origin = args.origin if args.origin != "none" else None
        if origin is None and args.origin != "none":
            origin = http_url(args.url[0])
        ctx = mp.get_context("spawn")
        pipes: list[Connection] = []
        children = []
        if self.probe:
            self.marks["before"] = self.probe.sample()
        for i in range(procs):
            parent, child = ctx.Pipe()
            wspec = WorkerSpec(
                proc=i, run_tag=run_tag, protocol=args.protocol, origin=origin,
                bots=specs[i::procs], plan=plan, body_bytes=args.body_bytes, uvloop=args.uvloop,
                connect_concurrency=max(1, args.connect_concurrency // procs),
                seed=args.seed * 1000 + i, ack_timeout=args.ack_timeout,
            )
            p = ctx.Process(target=worker_main, args=(child, wspec), daemon=True,
                            name=f"loadtest-gen-{i}")
            p.start()
            child.close()
            pipes.append(parent)
            children.append(p)
        try:
            return self._drive(pipes, specs, started, machine_before, procs)
        finally:
            for pipe in pipes:
                with contextlib.suppress(BrokenPipeError, OSError):
                    pipe.send(("stop",))
            for p in children:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()

    def _drive(self, pipes: list[Connection], specs: list[BotSpec], started: dt.datetime,
               machine_before: dict[str, Any], procs: int) -> dict[str, Any]:
        args, plan = self.args, self.plan
        progress_state: dict[int, dict[str, Any]] = {}
        with self._progress() as progress:
            conn_task = progress.add_task("connecting", total=len(specs), info="")

            def tick() -> None:
                self._tick(progress, conn_task, run_task, progress_state)

            def pump(kind: str, timeout: float | None = None) -> dict[int, Any]:
                return self._pump(pipes, kind, progress_state, tick, timeout)

            run_task = None
            connected = pump("connected")
            progress.update(conn_task, completed=sum(c[0]["connected"] for c in connected.values()),
                            info="")
            time.sleep(SETTLE_SECS if plan.publish != "none" else 2 * SETTLE_SECS)
            if self.probe:
                self.marks["connected"] = self.probe.sample()
            t0 = time.time() + START_DELAY_SECS
            self.t0 = t0
            for pipe in pipes:
                pipe.send(("start", t0))
            planned = plan.duration if plan.publish == "rate" else (
                plan.window if plan.publish == "burst" else plan.hold)
            run_task = progress.add_task(
                f"running {plan.scenario} (s)", total=max(planned, 0.01), info=""
            )
            while time.time() < t0:
                time.sleep(0.001)
            with FineSampler(self.probe) if self.probe else contextlib.nullcontext():
                if self.probe:
                    self.marks["start"] = self.probe.sample()
                self._run_started = time.time()
                published = pump("published", timeout=planned + 120)
                finals: dict[str, int] = {}
                for (info,) in published.values():
                    for ch, seq in info["acked_max"].items():
                        finals[ch] = max(finals.get(ch, 0), seq)
                deadline = time.time() + args.drain_timeout
                for pipe in pipes:
                    pipe.send(("drain", finals, deadline))
                results = pump("result", timeout=args.drain_timeout + 60)
                if self.probe:
                    self.marks["end"] = self.probe.sample()
        machine_after = machine_load()
        worker_results = [r[0] for r in results.values()]
        agg = aggregate(
            worker_results, t0=t0, planned_connections=len(specs),
            server=self.marks if self.probe else None,
            server_samples=self.probe.samples if self.probe else [],
            idle_secs=plan.hold if plan.publish == "none" else 0.0,
            progress_cpu=self.progress_cpu,
        )
        timeline = self._timeline(t0)
        result = {
            "tool": "classhub loadtest",
            "scenario": plan.scenario,
            "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join(shlex.quote(a) for a in (args.argv_for_record or sys.argv)),
            "options": {
                "url": args.url, "protocol": args.protocol, "procs": procs, "uvloop": args.uvloop,
                "body_bytes": args.body_bytes, "subscribe": args.subscribe,
                "server_pid": args.server_pid, "tag": args.tag,
            },
            "plan": plan.as_dict(),
            "machine": {"before": machine_before, "after": machine_after,
                        "python": platform.python_version(), "platform": platform.platform()},
            "figures": agg.figures,
            "server_timeline": timeline,
        }
        agg.server_timeline = timeline
        self._agg = agg
        return result

    # progress ---------------------------------------------------------------------------
    def _progress(self) -> Progress:
        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
            TextColumn("{task.fields[info]}", justify="left"),
            TimeElapsedColumn(),
            console=self.console,
            disable=self.args.no_progress,
        )

    def _pump(
        self,
        pipes: list[Connection],
        kind: str,
        state: dict[int, dict[str, Any]],
        tick: Callable[[], None],
        timeout: float | None = None,
    ) -> dict[int, Any]:
        """Read pipes until every worker sent ``kind``; keep the bars moving."""
        got: dict[int, Any] = {}
        deadline = None if timeout is None else time.time() + timeout
        while len(got) < len(pipes):
            if deadline is not None and time.time() > deadline:
                raise RunError(f"generator processes did not report {kind!r} in time")
            for ready in wait(pipes, timeout=0.1):
                if not isinstance(ready, Connection):  # we wait on pipes only
                    raise TypeError(f"wait() returned {type(ready).__name__}")
                i = pipes.index(ready)
                try:
                    msg = ready.recv()
                except (EOFError, OSError):
                    raise RunError(f"generator process {i} died") from None
                if msg[0] == "progress":
                    state[i] = msg[1]
                    self.progress_cpu.setdefault(i, []).append((time.time(), msg[1]["cpu"]))
                elif msg[0] == "error":
                    raise RunError(f"generator process {i} failed: {msg[1]}")
                elif msg[0] == kind:
                    got[i] = msg[1:]
            tick()
        return got

    def _timeline(self, t0: float) -> list[dict[str, float]]:
        """The server's CPU and memory every TIMELINE_STEP_SECS of the run."""
        timeline: list[dict[str, float]] = []
        if self.probe:
            prev = None
            for s in sorted(self.probe.samples, key=lambda s: s.t):
                if prev is not None and s.t - prev.t >= TIMELINE_STEP_SECS:
                    timeline.append(
                        {
                            "t": round(s.t - t0, 3),
                            "cpu_percent": round(100 * (s.cpu - prev.cpu) / (s.t - prev.t), 1),
                            "rss_mb": round(s.rss / 2**20, 1),
                        }
                    )
                    prev = s
                elif prev is None:
                    prev = s
        return timeline

    def _tick(self, progress: Progress, conn_task: Any, run_task: Any,
              state: dict[int, dict[str, Any]]) -> None:
        if self.probe and (not self.probe.samples
                           or time.time() - self.probe.samples[-1].t >= SAMPLE_EVERY_SECS):
            self.probe.sample()
        connected = sum(s["connected"] for s in state.values())
        failed = sum(s["connect_failures"] for s in state.values())
        if run_task is None:
            progress.update(conn_task, completed=connected,
                            info=f"failures {failed}" if failed else "")
            return
        delivered = sum(s["deliveries"] for s in state.values())
        published = sum(s["published"] for s in state.values())
        elapsed = max(0.0, time.time() - getattr(self, "_run_started", time.time()))
        total = progress.tasks[run_task].total or 1
        rate = delivered / elapsed if elapsed > 0 else 0.0
        progress.update(
            run_task, completed=min(elapsed, total),
            info=f"posts {published:,}  deliveries {delivered:,} ({rate:,.0f}/s)",
        )


def finish(coordinator: Coordinator, result: dict[str, Any]) -> tuple[Path, Path]:
    args = coordinator.args
    stamp = result["started_at"].replace(":", "").replace("-", "").replace("T", "-").rstrip("Z")
    stamp = f"{result['started_at'][:10]}_{stamp[9:]}"
    json_path, png_path = result_paths(Path(args.results_dir), stamp, result["scenario"], args.tag)
    result["files"] = {"json": str(json_path), "plot": None if args.no_plot else str(png_path)}
    write_json(json_path, result)
    if not args.no_plot:
        agg = coordinator._agg
        write_plot(png_path, result, agg.lat, agg.at, agg.server_timeline)
    return json_path, png_path


