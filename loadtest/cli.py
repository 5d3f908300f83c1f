"""``python -m loadtest SCENARIO --url URL [options]`` (also ``classhub loadtest ...``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from loadtest.accounts import SetupError, default_setup_cmd
from loadtest.scenarios import add_scenario_parsers

EPILOG = """\
Bot accounts: by default the tool runs `classhub loadtest-setup` (see --setup-cmd) against the
server's database (DATABASE_URL in this environment) to create the events and bots, and removes
them afterwards. For a remote deployment run `classhub loadtest-setup -o creds.json` there and
pass --credentials creds.json. Bots sign in with POST /api/login (once per account) and connect
to /ws with the session cookie and Origin (the --url's origin unless --origin is given).

Results: a table on the terminal, and loadtest/results/<date>_<time>_<scenario>[_<tag>].json and
.png (latency distribution, latency over time, server CPU and RSS). Give --server-pid to measure
the server's CPU seconds (per 10k deliveries) and RSS (per connection).

Exit status: 0 when every connection came up, every post was acknowledged and nothing was lost
or duplicated; 3 otherwise; 1 on errors.

Besides the bot scenarios: `python -m loadtest board-burst --help`, N authors releasing their
pinboard drafts over HTTP within a second (loadtest/board_burst.py, docs/pinboard.md), and
`python -m loadtest poll-burst --help`, N participants answering one poll within a second while
subscribers follow its coalesced tallies (loadtest/poll_burst.py, docs/performance.md).

Example (server pinned to core 0, generator to core 1):
  taskset -c 0 classhub serve --port 8000 &
  taskset -c 1 python -m loadtest classroom --url http://127.0.0.1:8000 --server-pid $!
"""


# How the generator was started, for its usage lines: `classhub loadtest` passes its own.
PROG = "python -m loadtest"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("target and accounts")
    g.add_argument("--url", action="append", required=True, metavar="URL",
                   help="server base URL, e.g. http://127.0.0.1:8000; repeat for several server "
                   "processes (connections are spread round-robin, sign-in uses the first)")
    g.add_argument("--ws-path", default="/ws", help="WebSocket path (default /ws)")
    g.add_argument("--origin", default=None,
                   help="Origin header for the handshake (default: the first URL's origin; "
                   "'none' to send none)")
    g.add_argument("--credentials", metavar="FILE",
                   help="bot credentials from `classhub loadtest-setup -o FILE` (default: run "
                   "the setup command now and clean up afterwards)")
    g.add_argument("--setup-cmd", default=default_setup_cmd(),
                   help="command that provides `loadtest-setup` (default: this Python's "
                   "`-m web.cli`, i.e. `classhub`)")
    g.add_argument("--keep-accounts", action="store_true",
                   help="do not remove the events and bots the setup step created")
    g.add_argument("--conns-per-account", type=int, default=None,
                   help="connections sharing one bot account (default 1; idle: 20)")
    g.add_argument("--login-concurrency", type=int, default=4,
                   help="sign-ins in flight (default 4; each costs the server ~50 ms of Argon2)")

    g = common.add_argument_group("protocol")
    g.add_argument("--protocol", choices=["json", "msgpack"], default="json",
                   help="WebSocket subprotocol (default json)")
    g.add_argument("--body-bytes", type=int, default=200, help="characters per post (default 200)")
    g.add_argument("--subscribe", default="chat",
                   help="event channels each bot subscribes, comma-separated from chat,board,news "
                   "(default chat; posts always go to chat)")

    g = common.add_argument_group("generator")
    g.add_argument("--procs", type=int, default=1, help="generator processes (default 1)")
    g.add_argument("--uvloop", action="store_true", help="run the generator processes on uvloop")
    g.add_argument("--connect-concurrency", type=int, default=200,
                   help="handshakes in flight, over all processes (default 200)")
    g.add_argument("--drain-timeout", type=float, default=30.0,
                   help="seconds to wait for outstanding deliveries after the last post "
                   "(default 30); what has not arrived then is lost")
    g.add_argument("--ack-timeout", type=float, default=30.0,
                   help="seconds to wait, after the last post was due, for outstanding acks "
                   "(default 30); posts without an ack count as failed")
    g.add_argument("--seed", type=int, default=1, help="random seed for the schedule (default 1)")

    g = common.add_argument_group("measurement and output")
    g.add_argument("--server-pid", type=int, action="append", default=[], metavar="PID",
                   help="server process to measure (CPU seconds, RSS); repeat for several")
    g.add_argument("--server-children", action="store_true",
                   help="include the server processes' children in CPU and RSS")
    g.add_argument("--results-dir", default="loadtest/results",
                   help="where the JSON and PNG go (default loadtest/results)")
    g.add_argument("--tag", default=None, help="label added to the result file names")
    g.add_argument("--no-plot", action="store_true", help="skip the PNG")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")

    parser = argparse.ArgumentParser(
        prog=prog,
        description="classhub load generator: bots that sign in, speak the real WebSocket "
        "protocol (docs/protocol.md) and behave like a class; measures end-to-end latency, "
        "deliveries, loss, duplicates, order and the server's CPU and memory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    add_scenario_parsers(sub, common)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    from loadtest.runner import Coordinator, RunError, finish

    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["board-burst"]:
        # Not a bot scenario: authors release pinboard drafts over HTTP (loadtest/board_burst.py).
        from loadtest.board_burst import main as board_burst_main

        return board_burst_main(args_in[1:], prog=f"{prog} board-burst")
    if args_in[:1] == ["poll-burst"]:
        # Not a bot scenario: participants answer a poll over HTTP (loadtest/poll_burst.py).
        from loadtest.poll_burst import main as poll_burst_main

        return poll_burst_main(args_in[1:], prog=f"{prog} poll-burst")
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    args.argv_for_record = [*prog.split(), *(sys.argv[1:] if argv is None else argv)]
    console = Console(stderr=False)
    try:
        coordinator = Coordinator(args, console)
        result = coordinator.run()
    except (RunError, SetupError) as exc:
        console.print(f"[bold red]loadtest:[/] {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    json_path, png_path = finish(coordinator, result)
    from loadtest.report import print_table

    print_table(console, result)
    console.print(f"result: {json_path}" + ("" if args.no_plot else f"\nplot:   {png_path}"))
    d, c = result["figures"]["deliveries"], result["figures"]["connections"]
    p = result["figures"]["publishes"]
    ok = d["lost"] == 0 and d["duplicates"] == 0 and c["never_connected"] == 0 and p["unacked"] == 0
    return 0 if ok else 3
