"""Whether Redis may be asked right now: a small circuit breaker, no I/O.

When Redis stops answering, every limit check would otherwise wait for its
timeout. After a failure the breaker says "decide locally" for
``retry_secs``; then one caller probes Redis while the others still decide
locally, and the first answer closes the breaker again. The state change is
logged once each way, not once per refused call.
"""

from __future__ import annotations

import logging

log = logging.getLogger("classhub.limits")


class Outage:
    __slots__ = ("down_since", "reason", "retry_at", "retry_secs", "what")

    def __init__(self, what: str, retry_secs: float) -> None:
        self.what = what
        self.retry_secs = retry_secs
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.reason = ""

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def usable(self, now: float) -> bool:
        """True when Redis may be asked: it is up, or it is time for one probe."""
        if self.down_since is None:
            return True
        if now >= self.retry_at:
            self.retry_at = now + self.retry_secs  # one probe per period, not a stampede
            return True
        return False

    def failed(self, now: float, exc: BaseException) -> None:
        self.retry_at = now + self.retry_secs
        if self.down_since is None:
            self.down_since = now
            self.reason = repr(exc)
            log.warning(
                "%s: Redis could not be asked (%r);"
                " each process enforces its own limits until it is back",
                self.what,
                exc,
            )

    def succeeded(self, now: float) -> None:
        if self.down_since is not None:
            log.warning(
                "%s: Redis reachable again after %.1f s; limits are shared across processes again",
                self.what, now - self.down_since,
            )
            self.down_since = None
            self.reason = ""
