"""The ``classhub`` command.

Each subcommand lives in a function ``cmd_<name>``; ``main`` turns a bad
configuration into one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from storage.errors import ConfigError, NotMigrated
from storage.settings import DEFAULT_PORT, Settings
from web.spa import ClientLibraryMissing
from web.subcommands import REGISTRARS, Runner, ensure_migrated, redact

# Commands that need no database of their own (the load generator talks to a server).
NO_DATABASE = frozenset({"loadtest"})
# Long-running commands that use Redis when REDIS_URL is set: refuse to start without it.
NEED_REDIS = frozenset({"serve", "mailer"})


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    print(f"database is at the newest schema ({redact(settings.database_url)})")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from web.app import create_app
    from web.http_guard import (
        HttpLimits,
        fit_to_file_limit,
        guarded_protocol,
        raise_open_file_limit,
    )
    from web.hub_glue import run_server
    from web.spa import check_client_library
    from web.ws_protocol import ClasshubWebSocketProtocol

    check_client_library()
    ensure_migrated(settings)
    app = create_app(settings, mailer=args.mailer)
    limits = fit_to_file_limit(HttpLimits(
        header_timeout_secs=settings.http_header_timeout_secs,
        body_timeout_secs=settings.http_body_timeout_secs,
        max_header_bytes=settings.http_max_header_bytes,
        max_pending=settings.http_max_pending_connections,
        max_pending_per_ip=settings.http_max_pending_per_ip,
    ), raise_open_file_limit())
    run_server(
        app,
        # uvicorn's httptools protocol with time-outs for slow headers and bodies and a cap
        # on connections that have not sent their headers yet (web/http_guard.py).
        http=guarded_protocol(limits),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        # uvicorn's websockets-sansio (the hub writes frames straight through it), with
        # two faults of it corrected: web/ws_protocol.py.
        ws=ClasshubWebSocketProtocol,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=None,  # the hub runs its own heartbeats on a shared timer
        # No permessage-deflate: the hub writes each event's frame once, uncompressed, to
        # every socket, and the extension's zlib state costs ~42 KB per connection that
        # offers it (every browser does): more than everything else of a connection.
        ws_per_message_deflate=False,
        proxy_headers=args.proxy_headers,
        timeout_graceful_shutdown=10,
        loop="uvloop" if args.uvloop else "asyncio",
    )
    return 0


COMMANDS: dict[str, Runner] = {
    "migrate": cmd_migrate,
    "serve": cmd_serve,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classhub",
        description="Real-time messaging and pinboard hub for live training sessions. "
        "Configuration comes from environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the web server (HTTP API, WebSocket hub, web client)",
        description="Run the web server. On the embedded default (SQLite) the database is "
        "migrated automatically; on PostgreSQL it refuses to start until `classhub migrate` ran.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/Proto from the proxies in FORWARDED_ALLOW_IPS "
        "(default 127.0.0.1)",
    )
    serve.add_argument(
        "--no-uvloop", dest="uvloop", action="store_false", help="use the plain asyncio loop"
    )
    serve.add_argument(
        "--mailer", action="store_true",
        help="also run a mail worker in this process (one machine, e.g. the embedded default's "
        "demo; with several web processes run `classhub mailer` instead, see docs/mail.md)",
    )

    sub.add_parser(
        "migrate",
        help="apply database migrations",
        description="Bring the database named by DATABASE_URL to the newest schema (Alembic).",
    )
    for name, add in REGISTRARS:
        COMMANDS[name] = add(sub)
    return parser


def _load_subcommand_modules() -> None:
    import web.commands  # noqa: F401 - registers demo, user, ...


def _preflight(command: str, settings: Settings) -> None:
    from web.preflight import check_database, check_redis

    if command not in NO_DATABASE:
        check_database(settings)
    if command in NEED_REDIS:
        check_redis(settings)


def main(argv: Sequence[str] | None = None) -> int:
    _load_subcommand_modules()
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        _preflight(args.command, settings)
        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"classhub: configuration error: {exc}", file=sys.stderr)
        return 2
    except (NotMigrated, ClientLibraryMissing) as exc:
        print(f"classhub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
