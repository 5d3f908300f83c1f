"""Display names of authors and of present users, cached: every event on the wire carries its
author's name, and the store is asked only for names not seen before."""

from __future__ import annotations

from collections.abc import Iterable

from storage.db import Database
from storage.repo.accounts import names_of

NAME_CACHE_MAX = 20_000


class Names:
    __slots__ = ("cache", "db")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cache: dict[int, str] = {}

    def remember(self, user_id: int, name: str) -> None:
        self.cache[user_id] = name

    async def of(self, ids: Iterable[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i}
        cache = self.cache
        missing = [i for i in wanted if i not in cache]
        if missing:
            if len(cache) > NAME_CACHE_MAX:
                cache.clear()
            async with self.db.session() as db:
                cache.update(await names_of(db, missing))
        return {i: cache.get(i, "") for i in wanted}
