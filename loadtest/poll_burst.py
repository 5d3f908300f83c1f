"""``python -m loadtest poll-burst``: N participants answer one poll within one second.

"Vote now": a trainer bot creates a four-option poll, shows its results and opens it;
each of ``--answers`` participant bots answers it (``POST /api/activities/{id}/answer``
over its own keep-alive HTTP connection) at a random moment within ``--window``
seconds; ``--subscribers`` WebSocket clients follow the activity's channel, where the
server publishes coalesced ``activity.tally`` events. With several ``--url`` the bots
are spread over the servers round robin.

Checked (exit status 3 when any fails): every answer is acknowledged (200); the stored
answers (the trainer's ``GET /api/activities/{id}/results``, read from the database)
are exactly the answers sent, per option; every subscriber's newest tally equals them
(counted exactly once); every subscriber has that final tally within ``--final-within``
seconds (default 2) of the last answer's acknowledgement; a second answer by ten of
the bots is refused (409 ``already_answered``). Measured: request latency (p50, p99),
the server's CPU seconds per answer, tallies per subscriber (the coalescing).

Setup goes through ``classhub loadtest-setup --sessions --trainers 1``. Exit status 0
when every check passes, 3 otherwise, 1 on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from loadtest.accounts import SetupError, default_setup_cmd, run_cleanup
from loadtest.board_clients import HttpConn, Subscriber, bot_headers
from loadtest.metrics import ServerProbe, machine_load, percentiles_ms
from loadtest.report import write_json
from loadtest.wsframes import WSProtocolError

CONNECT_CONCURRENCY = 100
OPTIONS = ["red", "green", "blue", "yellow"]
DOUBLE_ANSWERS = 10


class TallySubscriber(Subscriber):
    """A board-channel subscriber that keeps every tally and when it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.tallies: list[tuple[float, dict[str, Any]]] = []

    def on_messages(self, messages: list[tuple[int, bytes]], now: float) -> None:
        super().on_messages(messages, now)
        for _op, payload in messages:
            msg = json.loads(payload)
            kind = msg.get("type")
            events = msg["events"] if kind == "batch" else [msg["event"]] if kind == "event" else []
            for ev in events:
                if ev.get("type") == "activity.tally":
                    self.tallies.append((now, ev["body"]))

    def newest(self) -> dict[str, Any] | None:
        if not self.tallies:
            return None
        return max((b for _, b in self.tallies), key=lambda b: b["version"])

    def final_at(self, counts: list[int]) -> float | None:
        """When the first tally with exactly ``counts`` arrived."""
        return next((t for t, b in self.tallies if b.get("counts") == counts), None)


async def _json(conn: HttpConn, method: str, path: str, headers: dict[str, str],
                body: Any = None, want: int = 200) -> Any:
    payload = json.dumps(body).encode() if body is not None else b""
    status, raw = await conn.request(method, path, headers, payload)
    if status != want:
        raise SetupError(f"{method} {path} answered {status}: {raw[:200]!r}")
    return json.loads(raw)


async def _make_poll(base: str, origin: str, event_id: int, trainer: dict[str, Any]
                     ) -> tuple[int, str, int]:
    conn = HttpConn(base)
    h = bot_headers(trainer, origin, True)
    poll = await _json(conn, "POST", f"/api/events/{event_id}/activities", h, {
        "kind": "poll", "title": "Which colour?", "options": OPTIONS, "changeable": False,
    }, want=201)
    await _json(conn, "POST", f"/api/activities/{poll['id']}/state", h, {"state": "open"})
    await _json(conn, "POST", f"/api/activities/{poll['id']}/results", h, {"shown": True})
    listing = await _json(conn, "GET", f"/api/events/{event_id}/activities", h)
    conn.close()
    return poll["id"], listing["channel"], listing["last_seq"]


def _fresh(conn: HttpConn) -> None:
    conn.close()
    conn.reader = conn.writer = None  # the next request opens a new connection


async def _post_answer(conn: HttpConn, path: str, headers: dict[str, str], body: bytes) -> int:
    """One answer as a browser sends it: on a new connection if the server closed the kept
    one (its keep-alive time ran out), and once more if it was closing as the request left
    (nothing of it was read)."""
    if conn.reader is not None and conn.reader.at_eof():
        _fresh(conn)
    try:
        st, _ = await conn.request("POST", path, headers, body)
    except ConnectionError:
        _fresh(conn)
        st, _ = await conn.request("POST", path, headers, body)
    return st


async def run(args: argparse.Namespace, creds: dict[str, Any]) -> dict[str, Any]:
    bases = [u.rstrip("/") for u in args.url]
    origin = args.origin or f"{urlsplit(bases[0]).scheme}://{urlsplit(bases[0]).netloc}"
    event = creds["events"][0]
    bots = event["accounts"]
    trainer = next(b for b in bots if b.get("role") == "trainer")
    people = [b for b in bots if b.get("role") != "trainer"]
    voters = people[: args.answers]
    watchers = people[args.answers : args.answers + args.subscribers]
    probe = ServerProbe(args.server_pid) if args.server_pid else None

    aid, channel, since = await _make_poll(bases[0], origin, event["id"], trainer)
    subs = [TallySubscriber() for _ in watchers]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def sub_open(i: int, s: TallySubscriber, bot: dict[str, Any]) -> None:
        ws_url = "ws" + bases[i % len(bases)][4:] + "/ws"
        async with gate:
            await s.open(ws_url, bot, origin, channel, since)

    await asyncio.gather(*(sub_open(i, s, b) for i, (s, b) in enumerate(zip(subs, watchers,
                                                                             strict=True))))
    conns = [HttpConn(bases[i % len(bases)]) for i in range(len(voters))]

    async def conn_open(i: int) -> None:
        # Each bot shows the poll first, as a browser would: its connection is then an idle
        # keep-alive one (a connection that never sent headers counts as pending, and the
        # server evicts the oldest past HTTP_MAX_PENDING_PER_IP: web/http_guard.py).
        async with gate:
            await _json(conns[i], "GET", f"/api/activities/{aid}", bot_headers(voters[i], origin))

    await asyncio.gather(*(conn_open(i) for i in range(len(voters))))
    rng = random.Random(args.seed)
    choices = [rng.randrange(len(OPTIONS)) for _ in voters]
    offsets = [rng.uniform(0, args.window) for _ in voters]
    sent_at = [0.0] * len(voters)
    answered_at = [0.0] * len(voters)
    statuses: dict[str, int] = {}
    accepted = [0] * len(OPTIONS)
    load_before = machine_load()
    cpu0 = probe.sample().cpu if probe else 0.0
    t0 = time.perf_counter()

    async def answer(i: int) -> None:
        await asyncio.sleep(max(0.0, t0 + offsets[i] - time.perf_counter()))
        sent_at[i] = time.time()  # the WebSocket client stamps arrivals with time.time()
        body = json.dumps({"choices": [choices[i]]}).encode()
        try:
            st = await _post_answer(conns[i], f"/api/activities/{aid}/answer",
                                    bot_headers(voters[i], origin, True), body)
            key = str(st)
            if st == 200:
                accepted[choices[i]] += 1
        except (OSError, ConnectionError) as exc:
            key = type(exc).__name__
        answered_at[i] = time.time()
        statuses[key] = statuses.get(key, 0) + 1

    await asyncio.gather(*(answer(i) for i in range(len(voters))))
    last_answer = max(answered_at)
    deadline = time.perf_counter() + args.drain_timeout
    while time.perf_counter() < deadline and any(s.final_at(accepted) is None for s in subs):
        await asyncio.sleep(0.02)
    cpu1 = probe.sample().cpu if probe else 0.0

    # A second answer where answers cannot change: refused, never counted. (New connections:
    # the burst's may have passed the server's keep-alive time while the tallies drained.)
    for c in conns:
        c.close()
    doubles: dict[str, int] = {}
    again = HttpConn(bases[0])
    for i in range(min(DOUBLE_ANSWERS, len(voters))):
        st, _ = await again.request("POST", f"/api/activities/{aid}/answer",
                                       bot_headers(voters[i], origin, True),
                                       json.dumps({"choices": [0]}).encode())
        doubles[str(st)] = doubles.get(str(st), 0) + 1
    stored = await _json(HttpConn(bases[-1]), "GET", f"/api/activities/{aid}/results",
                         bot_headers(trainer, origin))
    again.close()
    for s in subs:
        if s.ws is not None:
            s.ws.close()

    finals = [s.final_at(accepted) for s in subs]
    after = [round(t - last_answer, 3) for t in finals if t is not None]
    newest = [s.newest() for s in subs]
    exact = sum(1 for n in newest if n is not None and n.get("counts") == stored["counts"])
    tallies = np.array([len(s.tallies) for s in subs]) if subs else np.array([0])
    latencies = np.array([a - b for a, b in zip(answered_at, sent_at, strict=True)])
    cpu = round(cpu1 - cpu0, 2) if probe else None
    n = len(voters)
    checks = {
        "every_answer_acknowledged": statuses.get("200", 0) == n,
        "stored_equals_sent": stored["counts"] == accepted and stored["total"] == n,
        "every_final_tally_equals_stored": exact == len(subs),
        "final_tally_within_s": bool(after) and len(after) == len(subs)
        and max(after) <= args.final_within,
        "double_answers_refused": doubles == {"409": min(DOUBLE_ANSWERS, n)},
    }
    return {
        "scenario": "poll-burst",
        "started_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "argv": ["python", "-m", "loadtest", "poll-burst", *args.argv],
        "params": {"answers": n, "window": args.window, "subscribers": len(subs),
                   "urls": bases, "seed": args.seed, "final_within_s": args.final_within},
        "machine_before": load_before,
        "machine_after": machine_load(),
        "figures": {
            "answers_sent_over_s": round(max(sent_at) - min(sent_at), 3),
            "last_answer_after_s": round(last_answer - min(sent_at), 3),
            "final_tally_after_last_answer_s": {
                "max": max(after) if after else None,
                "median": float(np.median(after)) if after else None,
            },
            "request_latency_ms": percentiles_ms(latencies),
            "statuses": statuses,
            "stored": stored,
            "sent_per_option": accepted,
            "tallies_per_subscriber": {"min": int(tallies.min()), "max": int(tallies.max()),
                                       "mean": round(float(tallies.mean()), 1)},
            "double_answers": doubles,
            "server_cpu_s": cpu,
            "server_cpu_ms_per_answer": round(cpu * 1000 / n, 3) if cpu is not None else None,
        },
        "checks": checks,
        "ok": all(checks.values()),
    }


def build_parser(prog: str = "python -m loadtest poll-burst") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="N participants answer one poll within --window seconds; --subscribers "
        "WebSocket clients follow its coalesced tallies. Checks that every answer is "
        "acknowledged and counted once and that every subscriber sees the final tally within "
        "--final-within seconds; reports latency and the server's CPU per answer.",
    )
    p.add_argument("--url", action="append", required=True,
                   help="server base URL, e.g. http://127.0.0.1:8000; repeat for several")
    p.add_argument("--origin", default=None, help="Origin header (default: the first URL's)")
    p.add_argument("--answers", type=int, default=1000, help="participants answering (1000)")
    p.add_argument("--window", type=float, default=1.0, help="seconds to spread them over (1)")
    p.add_argument("--subscribers", type=int, default=50, help="WebSocket subscribers (50)")
    p.add_argument("--final-within", type=float, default=2.0,
                   help="seconds after the last answer by which every subscriber must have "
                   "the final tally (default 2)")
    p.add_argument("--credentials", metavar="FILE",
                   help="from `classhub loadtest-setup --sessions --trainers 1 --accounts "
                   "1+N+S -o FILE` (default: run the setup now and clean up afterwards)")
    p.add_argument("--setup-cmd", default=default_setup_cmd(),
                   help="command that provides `loadtest-setup` "
                   "(default: this Python's -m web.cli)")
    p.add_argument("--server-pid", type=int, action="append", default=[], metavar="PID",
                   help="server process whose CPU seconds to report; repeat for several")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="seconds to wait for the final tallies after the last answer (30)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the schedule (default 1)")
    p.add_argument("--results-dir", default="loadtest/results", help="where the JSON goes")
    p.add_argument("--tag", default=None, help="label added to the result file name")
    return p


def _setup(args: argparse.Namespace, accounts: int, tmp: Path) -> dict[str, Any]:
    argv = [*shlex.split(args.setup_cmd), "loadtest-setup", "--events", "1", "--accounts",
            str(accounts), "--trainers", "1", "--sessions", "-o", str(tmp)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"`{shlex.join(argv)}` failed: {proc.stderr.strip()}")
    data: dict[str, Any] = json.loads(tmp.read_text())
    return data


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m loadtest poll-burst") -> int:
    args = build_parser(prog).parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    accounts = 1 + args.answers + args.subscribers
    tmp = None
    try:
        if args.credentials:
            creds = json.loads(Path(args.credentials).read_text())
        else:
            tmp = Path(tempfile.mkdtemp(prefix="classhub-poll-burst-")) / "creds.json"
            creds = _setup(args, accounts, tmp)
        bots = creds["events"][0]["accounts"]
        if len(bots) < accounts or "cookie" not in bots[0]:
            raise SetupError(f"need {accounts} signed-in bots (loadtest-setup --sessions)")
        if not any(b.get("role") == "trainer" for b in bots):
            raise SetupError("no trainer among the bots (loadtest-setup --trainers 1)")
        result = asyncio.run(run(args, creds))
    except (TimeoutError, SetupError, OSError, WSProtocolError) as exc:
        print(f"loadtest poll-burst: {exc}", file=sys.stderr)
        return 1
    finally:
        if tmp is not None and tmp.exists():
            try:
                print(run_cleanup(args.setup_cmd, tmp), file=sys.stderr)
            except SetupError as exc:
                print(f"cleanup: {exc}", file=sys.stderr)
            tmp.unlink()
            os.rmdir(tmp.parent)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d_%H%M%S")
    path = Path(args.results_dir) / (
        f"{stamp}_poll-burst" + (f"_{args.tag}" if args.tag else "") + ".json"
    )
    write_json(path, result)
    f = result["figures"]
    lat = f["request_latency_ms"]
    print(
        f"poll-burst: {result['params']['answers']} answers sent over "
        f"{f['answers_sent_over_s']} s; statuses {f['statuses']}; request p50 {lat.get('p50')} "
        f"ms, p99 {lat.get('p99')} ms; final tally at every one of "
        f"{result['params']['subscribers']} subscribers within "
        f"{f['final_tally_after_last_answer_s']['max']} s of the last answer; tallies per "
        f"subscriber {f['tallies_per_subscriber']}; server CPU {f['server_cpu_s']} s "
        f"({f['server_cpu_ms_per_answer']} ms per answer); checks {result['checks']}\n"
        f"result: {path}"
    )
    return 0 if result["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
