"""The Lua scripts behind the shared limits: each check-and-update is one atomic step in Redis.

Times are Redis's own clock (``TIME``, in microseconds), so processes on
machines whose clocks disagree still share one timeline. Every key carries a
TTL no longer than the state it holds matters, so nothing has to clean up
after a process that died. Numbers are written with ``%d``: Lua 5.1 numbers
are doubles, exact for microseconds since the epoch (< 2**53).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""


@dataclass(frozen=True)
class Script:
    name: str
    body: bytes

    @property
    def sha(self) -> str:
        # Redis names scripts by SHA-1: an identifier, not a security measure.
        return hashlib.sha1(self.body, usedforsecurity=False).hexdigest()


# GCRA (the token bucket as one stored number): KEYS[1] holds the theoretical arrival
# time (TAT) of the user's next publish. ARGV: interval_us (1 / rate), burst.
# Returns 0 when granted (and stored), else the microseconds until one is (>= 1).
# Same answers as realtime.protocol.ratelimit.TokenBucket: burst tokens, refilled at rate.
PUBLISH_GCRA = Script("publish_gcra", (_NOW + """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], string.format('%d', new_tat),
  'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return 0
""").encode())

# Posts already granted by a process (its local bucket had plenty left), recorded in
# the user's GCRA in one step. ARGV: interval_us, burst, count. Always stored (they
# happened); returns the microseconds until the user's next post is allowed (0: now).
PUBLISH_RECORD = Script("publish_record", (_NOW + """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%d', new_tat),
  'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
local allow_at = new_tat + interval - burst * interval
if allow_at > now then
  return allow_at - now
end
return 0
""").encode())

# Connection leases: KEYS[1] is a sorted set of the user's connection ids scored by
# lease expiry. ARGV: limit, lease_us, id. Drops expired leases, then adds the id
# if fewer than ``limit`` remain. Returns 1 when granted, 0 when at the cap.
CONN_ACQUIRE = Script("conn_acquire", (_NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000))
return 1
""").encode())

# Lease refresh of one user's connections held by one process. ARGV: lease_us, ids...
# Adds ids that are missing too (Redis restarted, or was away longer than a lease):
# connections that are open count, whatever happened to Redis meanwhile.
CONN_REFRESH = Script("conn_refresh", (_NOW + """
local expiry = string.format('%d', now + tonumber(ARGV[1]))
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], expiry, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) / 1000))
return #ARGV - 1
""").encode())

# The mail pace: a sliding-window log (at most ``limit`` starts in any window), the
# same rule as realtime.mailer.pacing.SlidingWindow, shared by every worker.
# KEYS[1] is a sorted set of start ids scored by start time. ARGV: limit, window_us, id.
# Returns 0 when the start is granted (and recorded), else the microseconds until
# the oldest start leaves the window (>= 1).
MAIL_WINDOW = Script("mail_window", (_NOW + """
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
""").encode())

SCRIPTS = {
    s.sha: s for s in (PUBLISH_GCRA, PUBLISH_RECORD, CONN_ACQUIRE, CONN_REFRESH, MAIL_WINDOW)
}
