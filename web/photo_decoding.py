"""Where uploaded photos are decoded: a small pool of threads, a few decodes per person.

Decoding is the one step of an upload whose memory is not bounded by the bytes
received: a 2 KB WebP can ask for a 16-megapixel canvas (storage/photos.py
bounds one decode at ``PHOTO_MAX_PIXELS``, up to ~16 bytes a pixel). What
bounds the process is how many decodes run at once, so they run in their own
pool of ``PHOTO_DECODE_WORKERS`` threads (not the shared thread pool, whose 40
threads would allow 40 canvases at once). A person may have
``PHOTO_DECODES_PER_USER`` decodes running or waiting; one more is refused
with 429 and ``Retry-After``, so one account cannot fill the queue for others.

A decode counts until its thread has finished, not until its request ends: a
client that disconnects mid-decode cancels the request, but the thread goes on
and must keep its place (the pool itself cannot exceed its threads either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from storage.settings import Settings
from web.errors import ApiError
from web.services import Services

T = TypeVar("T")
RETRY_AFTER_SECS = 2
EXTRAS_KEY = "photo.decoding"


class DecodePool:
    def __init__(self, workers: int, per_user: int) -> None:
        self.per_user = per_user
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photo-decode")
        self._running: dict[int, int] = {}

    def in_flight(self, user_id: int) -> int:
        return self._running.get(user_id, 0)

    async def run(self, user_id: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in the pool for ``user_id``; 429 if they already have enough running."""
        if self._running.get(user_id, 0) >= self.per_user:
            raise ApiError(
                429,
                "busy",
                f"{self.per_user} of your photos are being processed; "
                "send this one when they are done",
                headers={"Retry-After": str(RETRY_AFTER_SECS)},
            )
        self._running[user_id] = self._running.get(user_id, 0) + 1
        loop = asyncio.get_running_loop()
        try:
            job: Future[T] = self._pool.submit(functools.partial(fn, *args, **kwargs))
        except BaseException:
            self._done(user_id)
            raise

        def finished(_: Future[T]) -> None:
            # In the worker thread (or here, if cancelled before it started).
            # RuntimeError: the loop has closed (shutdown), nothing left to count.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._done, user_id)

        job.add_done_callback(finished)
        return await asyncio.wrap_future(job)

    def _done(self, user_id: int) -> None:
        left = self._running.get(user_id, 0) - 1
        if left > 0:
            self._running[user_id] = left
        else:
            self._running.pop(user_id, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def close_decode_pool(services: Services) -> None:
    pool = services.extras.pop(EXTRAS_KEY, None)
    if pool is not None:
        pool.close()


def decode_pool(services: Services) -> DecodePool:
    """The process's pool (created on first use, one per app)."""
    pool = services.extras.get(EXTRAS_KEY)
    if pool is None:
        settings: Settings = services.settings
        pool = DecodePool(settings.photo_decode_workers, settings.photo_decodes_per_user)
        services.extras[EXTRAS_KEY] = pool
    return pool
