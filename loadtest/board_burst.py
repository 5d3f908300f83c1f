"""``python -m loadtest board-burst``: N authors release their pinboard drafts within one second.

"Everyone release your note now": each of ``--releases`` bot accounts has one
draft on the event's board and releases it (``POST /api/pinboard/notes/{id}/release``
over its own keep-alive HTTP connection) at a random moment within
``--window`` seconds. ``--subscribers`` WebSocket clients follow the board
channel. Measured: time from the first release sent to the last answer, and
to the last ``note.published`` at every subscriber; per-request latency;
deliveries lost, duplicated or out of sequence; the server's CPU seconds.

Setup goes through ``classhub loadtest-setup --sessions`` (the bots come
signed in: 1,000 Argon2 logins would cost the server more than the burst) and
the drafts through the HTTP API before the clock starts. Exit status 0 when
every release answered 200 and every subscriber got every event exactly once,
in gapless sequence; 3 otherwise; 1 on errors.

The clients (a few lines of HTTP over ``httptools``, and the board's
WebSocket subscribers) are in ``loadtest/board_clients.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import random
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
DRAFT_CONCURRENCY = 20


async def _board_and_drafts(
    base: str, origin: str, event: dict[str, Any], authors: list[dict[str, Any]]
) -> tuple[str, int, list[int]]:
    """The board (created on first use): its channel and last seq; one draft per author."""
    admin_conn = HttpConn(base)
    status, body = await admin_conn.request(
        "GET", f"/api/pinboard/events/{event['id']}/board", bot_headers(authors[0], origin)
    )
    if status != 200:
        raise SetupError(f"board snapshot answered {status}: {body[:200]!r}")
    snap = json.loads(body)
    board_id, channel, since = snap["board"]["id"], snap["channel"], snap["last_seq"]
    drafts: list[int] = [0] * len(authors)
    pool = [HttpConn(base) for _ in range(DRAFT_CONCURRENCY)]

    async def write_drafts(worker: int) -> None:
        for i in range(worker, len(authors), DRAFT_CONCURRENCY):
            payload = json.dumps({"text": f"idea {i} from {authors[i]['email']}"}).encode()
            st, b = await pool[worker].request(
                "POST",
                f"/api/pinboard/boards/{board_id}/notes",
                bot_headers(authors[i], origin, True),
                payload,
            )
            if st != 201:
                raise SetupError(f"creating a draft answered {st}: {b[:200]!r}")
            drafts[i] = json.loads(b)["id"]

    await asyncio.gather(*(write_drafts(w) for w in range(DRAFT_CONCURRENCY)))
    for c in [admin_conn, *pool]:
        c.close()
    return channel, since, drafts


def _delivery_counts(subs: list[Subscriber], want: list[int]) -> tuple[int, int, int, float]:
    """Lost, duplicated and out-of-order deliveries over all subscribers; the last arrival."""
    lost = dups = out_of_order = 0
    last_delivery = 0.0
    for s in subs:
        lost += len(set(want) - set(s.seqs))
        dups += len(s.seqs) - len(set(s.seqs))
        out_of_order += sum(1 for a, b in itertools.pairwise(s.seqs) if b <= a)
        if s.arrivals:
            last_delivery = max(last_delivery, max(s.arrivals))
    return lost, dups, out_of_order, last_delivery


async def run(args: argparse.Namespace, creds: dict[str, Any]) -> dict[str, Any]:
    base = args.url.rstrip("/")
    origin = args.origin or f"{urlsplit(base).scheme}://{urlsplit(base).netloc}"
    ws_url = "ws" + base[4:] + "/ws"
    event = creds["events"][0]
    bots = event["accounts"]
    authors, watchers = (
        bots[: args.releases],
        bots[args.releases : args.releases + args.subscribers],
    )
    probe = ServerProbe(args.server_pid) if args.server_pid else None

    channel, since, drafts = await _board_and_drafts(base, origin, event, authors)
    subs = [Subscriber() for _ in watchers]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def sub_open(s: Subscriber, bot: dict[str, Any]) -> None:
        async with gate:
            await s.open(ws_url, bot, origin, channel, since)

    await asyncio.gather(*(sub_open(s, b) for s, b in zip(subs, watchers, strict=True)))
    # One connection per author, opened before the clock starts (a browser keeps its own).
    conns = [HttpConn(base) for _ in authors]

    async def conn_open(c: HttpConn) -> None:
        async with gate:
            await c.open()

    await asyncio.gather(*(conn_open(c) for c in conns))

    rng = random.Random(args.seed)
    offsets = sorted(rng.uniform(0, args.window) for _ in authors)
    authors_order = list(range(len(authors)))
    rng.shuffle(authors_order)
    sent_at = [0.0] * len(authors)
    answered_at = [0.0] * len(authors)
    statuses: dict[str, int] = {}
    load_before = machine_load()
    cpu0 = probe.sample() if probe else None
    t0 = time.perf_counter()

    async def release(k: int) -> None:
        i = authors_order[k]
        await asyncio.sleep(max(0.0, t0 + offsets[k] - time.perf_counter()))
        sent_at[i] = time.time()  # the WebSocket client stamps arrivals with time.time()
        try:
            st, _ = await conns[i].request(
                "POST", f"/api/pinboard/notes/{drafts[i]}/release", bot_headers(authors[i], origin)
            )
            key = str(st)
        except (OSError, ConnectionError) as exc:
            key = type(exc).__name__
        answered_at[i] = time.time()
        statuses[key] = statuses.get(key, 0) + 1

    await asyncio.gather(*(release(k) for k in range(len(authors))))
    expected = len(authors)
    deadline = time.perf_counter() + args.drain_timeout
    while time.perf_counter() < deadline and any(len(set(s.seqs)) < expected for s in subs):
        await asyncio.sleep(0.02)
    cpu1 = probe.sample() if probe else None
    for c in conns:
        c.close()
    for s in subs:
        if s.ws is not None:
            s.ws.close()

    first = min(sent_at)
    want = list(range(since + 1, since + expected + 1))
    lost, dups, out_of_order, last_delivery = _delivery_counts(subs, want)
    wrong_notes = sum(1 for s in subs if sorted(s.note_ids) != sorted(drafts))
    latencies = np.array([a - b for a, b in zip(answered_at, sent_at, strict=True)])
    ok = statuses.get("200", 0) == expected and lost == 0 and dups == 0 and out_of_order == 0
    return {
        "scenario": "board-burst",
        "started_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "argv": ["python", "-m", "loadtest", "board-burst", *args.argv],
        "params": {
            "releases": expected,
            "window": args.window,
            "subscribers": len(subs),
            "url": base,
            "seed": args.seed,
        },
        "machine_before": load_before,
        "machine_after": machine_load(),
        "figures": {
            "releases_sent_over_s": round(max(sent_at) - first, 3),
            "last_answer_after_s": round(max(answered_at) - first, 3),
            "last_delivery_after_s": round(last_delivery - first, 3) if last_delivery else None,
            "request_latency_ms": percentiles_ms(latencies),
            "statuses": statuses,
            "deliveries": {
                "expected": expected * len(subs),
                "lost": lost,
                "duplicates": dups,
                "out_of_order": out_of_order,
                "subscribers_with_wrong_notes": wrong_notes,
            },
            "server_cpu_s": round(cpu1.cpu - cpu0.cpu, 2) if cpu0 and cpu1 else None,
        },
        "ok": ok,
    }


def build_parser(prog: str = "python -m loadtest board-burst") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="N authors release their pinboard drafts within --window seconds; "
        "--subscribers WebSocket clients follow the board. Measures time from the first "
        "release to the last answer and to the last delivery; lost and duplicated events.",
    )
    p.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--origin", default=None, help="Origin header (default: the URL's origin)")
    p.add_argument(
        "--releases", type=int, default=1000, help="authors, one release each (default 1000)"
    )
    p.add_argument(
        "--window", type=float, default=1.0, help="seconds to spread them over (default 1)"
    )
    p.add_argument("--subscribers", type=int, default=20, help="WebSocket subscribers (default 20)")
    p.add_argument(
        "--credentials",
        metavar="FILE",
        help="from `classhub loadtest-setup --sessions --accounts N+S -o FILE` "
        "(default: run the setup now and clean up afterwards)",
    )
    p.add_argument(
        "--setup-cmd",
        default=default_setup_cmd(),
        help="command that provides `loadtest-setup` (default: this Python's -m web.cli)",
    )
    p.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        metavar="PID",
        help="server process whose CPU seconds to report; repeat for several",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for deliveries after the last answer (default 30)",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed of the schedule (default 1)")
    p.add_argument("--results-dir", default="loadtest/results", help="where the JSON goes")
    p.add_argument("--tag", default=None, help="label added to the result file name")
    return p


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m loadtest board-burst") -> int:
    args = build_parser(prog).parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    accounts = args.releases + args.subscribers
    tmp = None
    try:
        if args.credentials:
            creds = json.loads(Path(args.credentials).read_text())
        else:
            import shlex
            import subprocess

            tmp = Path(tempfile.mkdtemp(prefix="classhub-board-burst-")) / "creds.json"
            argv_setup = [
                *shlex.split(args.setup_cmd),
                "loadtest-setup",
                "--events",
                "1",
                "--accounts",
                str(accounts),
                "--sessions",
                "-o",
                str(tmp),
            ]
            proc = subprocess.run(argv_setup, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SetupError(f"`{shlex.join(argv_setup)}` failed: {proc.stderr.strip()}")
            creds = json.loads(tmp.read_text())
        bots = creds["events"][0]["accounts"]
        if len(bots) < accounts or "cookie" not in bots[0]:
            raise SetupError(f"need {accounts} signed-in bots (loadtest-setup --sessions)")
        result = asyncio.run(run(args, creds))
    except (TimeoutError, SetupError, OSError, WSProtocolError) as exc:
        print(f"loadtest board-burst: {exc}", file=sys.stderr)
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
        f"{stamp}_board-burst" + (f"_{args.tag}" if args.tag else "") + ".json"
    )
    write_json(path, result)
    f = result["figures"]
    d = f["deliveries"]
    lat = f["request_latency_ms"]
    print(
        f"board-burst: {result['params']['releases']} releases sent over "
        f"{f['releases_sent_over_s']} s; "
        f"last answer at {f['last_answer_after_s']} s, "
        f"last delivery at {f['last_delivery_after_s']} s "
        f"(to {result['params']['subscribers']} subscribers) after the first release; "
        f"request p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms; statuses {f['statuses']}; "
        f"lost {d['lost']}, duplicates {d['duplicates']}, out of order {d['out_of_order']}; "
        f"server CPU {f['server_cpu_s']} s; load before {result['machine_before']['loadavg']}\n"
        f"result: {path}"
    )
    return 0 if result["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
