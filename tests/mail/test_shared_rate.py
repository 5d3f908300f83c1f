"""MAIL_RATE_PER_SEC holds for all workers together when they share Redis."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from storage.db import Database
from tests.mail.conftest import Env, SmtpServer, mail_settings, make_worker
from tests.mail.test_delivery import campaign_to
from tests.redis_support import drop_keys
from tests.services import REDIS_URL, free_port, require_redis

pytestmark = [pytest.mark.redis]

# Each worker records a start after Redis granted it, a round trip and a turn of
# the event loop later: the two workers' local clocks see the shared window blurred
# by that much. Without sharing, two workers would start twice the rate per window.
BLUR_SECS = 0.05


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_workers_together_start_at_most_the_rate(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    require_redis()
    rate, total = 20, 60
    prefix = f"classhub-test-{uuid.uuid4().hex[:8]}"
    settings = mail_settings(
        env.settings.database_url, tmp_path / "w", smtp.url, MAIL_RATE_PER_SEC=str(rate),
        REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix,
    )
    await campaign_to(env, total)
    other_db = Database(env.settings.database_url)
    try:

        class Svc:
            db = other_db

        a = await make_worker(settings, env.services, owner="worker-a")
        b = await make_worker(settings, Svc, owner="worker-b")
        await asyncio.gather(a.run_until_idle(), b.run_until_idle())
    finally:
        await other_db.close()
        await drop_keys(REDIS_URL, prefix)
    assert a.send_starts and b.send_starts  # both sent
    starts = sorted([*a.send_starts, *b.send_starts])
    assert len(starts) == total == smtp.handler.count()
    # No window of one second holds more than `rate` starts of both workers together...
    assert min(starts[i + rate] - starts[i] for i in range(len(starts) - rate)) >= 1.0 - BLUR_SECS
    # ...so 60 sends needed at least two full windows.
    assert starts[-1] - starts[0] >= 2.0 - BLUR_SECS


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_worker_whose_redis_is_missing_paces_itself(
    env: Env, smtp: SmtpServer, tmp_path: Path
) -> None:
    rate = 10
    settings = mail_settings(
        env.settings.database_url, tmp_path / "w", smtp.url, MAIL_RATE_PER_SEC=str(rate),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    await campaign_to(env, 25)
    worker = await make_worker(settings, env.services)
    await worker.run_until_idle()
    starts = list(worker.send_starts)
    assert len(starts) == 25 == smtp.handler.count()  # nothing lost to the missing Redis
    assert min(starts[i + rate] - starts[i] for i in range(len(starts) - rate)) >= 1.0 - 1e-9
