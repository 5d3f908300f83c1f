"""Measure the admin message export: rows per second and peak memory, for N rows.

    python scripts/bench_review_export.py --rows 200000 [--database-url URL]

Fills a fresh channel with N messages, then streams GET /api/admin/messages/export
through the ASGI app (chunks dropped as they come) and prints wall time, rows/s
and the process's peak RSS growth during the export. SQLite by default (a
temporary file); pass a PostgreSQL URL to measure there (it must be migrated).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def main(rows: int, url: str | None) -> None:
    from sqlalchemy import insert

    from storage.migrate import upgrade_async
    from storage.models import Channel, ChannelEvent, utcnow
    from tests.conftest import make_settings, unique_email
    from tests.test_review_export_memory import _export_peak_rss
    from web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    url = url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await upgrade_async(url)
    settings = make_settings(url, tmp / "var")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        from storage.repo.accounts import create_session, create_user
        from web.auth import sign_token

        async with services.db.session() as db:
            admin = await create_user(
                db, email=unique_email("bench"), display_name="Bench", is_admin=True
            )
            token = await create_session(db, admin, max_secs=3600)
        cookie = f"classhub_session={sign_token(settings.secret_key, token)}"
        channel = f"bench:{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        async with services.db.session() as db:
            db.add(Channel(name=channel, last_seq=rows))
            await db.flush()
            now = utcnow()
            for start in range(0, rows, 10_000):
                await db.execute(
                    insert(ChannelEvent),
                    [
                        {"channel": channel, "seq": i + 1, "type": "message", "author_id": admin.id,
                         "client_id": None, "ref_id": None, "body": {"text": "x" * 180 + f" {i}"},
                         "created_at": now}
                        for i in range(start, min(rows, start + 10_000))
                    ],
                )
        fill = time.perf_counter() - t0
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        nbytes, lines = await _export_peak_rss(app, cookie, channel)
        took = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{url.split(':')[0]}: {rows} rows filled in {fill:.1f} s; exported {lines} lines "
        f"({nbytes / 1e6:.1f} MB) in {took:.1f} s = {lines / took:,.0f} rows/s; "
        f"peak RSS growth during export {max(0, after - before) / 1024:.1f} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.database_url))
