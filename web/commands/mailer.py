"""``classhub mailer``: the mail delivery worker (several may run at once)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable

from storage.settings import Settings
from web.subcommands import ensure_migrated, subcommand


async def run_mailer(settings: Settings, *, until_idle: bool) -> None:
    from realtime.mailer.jobs import JobContext, JobRunner, load_job_modules
    from realtime.mailer.worker import MailWorker
    from storage.db import Database
    from web.mailer_glue import progress_publisher, register_builtin_jobs

    load_job_modules()
    register_builtin_jobs(settings)
    if settings.mail is None:
        raise RuntimeError("Settings.mail is unset (Settings.from_env always sets it)")
    db = Database(settings.database_url, pool_size=settings.mail.concurrency + 4)
    try:
        async with progress_publisher(settings, db) as publish:
            worker = MailWorker(
                settings, db, publish=publish, jobs=JobRunner(JobContext(settings, db))
            )
            logging.getLogger("classhub.mailer").info(
                "mailer %s sending to %s at %g/s, %d/h, concurrency %d",
                worker.owner,
                settings.mail.target.describe(),
                settings.mail.rate_per_sec,
                settings.mail.rate_per_hour,
                settings.mail.concurrency,
            )
            if until_idle:
                await worker.run_until_idle()
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await worker.run(stop)
    finally:
        await db.close()


@subcommand("mailer")
def mailer(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> Callable[[argparse.Namespace, Settings], int]:
    p = sub.add_parser(
        "mailer",
        help="run a mail delivery worker (outbox -> SMTP or Maildir) and the periodic jobs",
        description="Claim due deliveries from the mail outbox and send them to MAIL_URL at "
        "MAIL_RATE_PER_SEC (all workers together with REDIS_URL, else per worker) and "
        "MAIL_RATE_PER_HOUR "
        "(all workers together), "
        "MAIL_CONCURRENCY connections at a time; also runs the registered periodic jobs. "
        "Several workers may run at once. SIGTERM/SIGINT stop it gracefully. See docs/mail.md.",
    )
    p.add_argument(
        "--until-idle",
        action="store_true",
        help="send what is due now, then exit (instead of running until stopped)",
    )
    p.add_argument("--log-level", default="info", choices=["error", "warning", "info", "debug"])

    def run(args: argparse.Namespace, settings: Settings) -> int:
        logging.basicConfig(
            level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        ensure_migrated(settings)
        asyncio.run(run_mailer(settings, until_idle=args.until_idle))
        return 0

    return run
