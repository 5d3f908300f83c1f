"""Argon2's 19 MiB per hash must not stay resident after sign-ins on worker threads."""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys

import pytest

from storage import passwords


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc behaviour")
def test_sign_ins_on_threads_give_their_memory_back() -> None:
    assert passwords.MMAP_THRESHOLD_FIXED, "mallopt(M_MMAP_THRESHOLD) should succeed on glibc"
    h = passwords.hash_password("correct horse battery")
    before = _rss_mb()
    with cf.ThreadPoolExecutor(6) as pool:  # like the event loop's default executor
        assert all(
            pool.map(lambda _: passwords.verify_password(h, "correct horse battery"), range(36))
        )
        after = _rss_mb()
    # Without the fix this grows by ~19 MiB per thread (~114 MB); allow far less than one hash.
    assert after - before < 12, (before, after)
