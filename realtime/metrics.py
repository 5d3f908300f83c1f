"""Prometheus metrics of the hub, read from plain counters at scrape time.

The hot path only bumps integers on ``HubStats``; a collector turns them into
metric families when /metrics is scraped, so a million deliveries cost no
metric-library calls. Several hubs in one process (tests) are summed.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histo:
    __slots__ = ("bounds", "counts", "n", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1


class HubStats:
    def __init__(self) -> None:
        self.connections = 0
        self.subscriptions = 0
        self.publishes: dict[str, int] = {}
        self.deliveries = 0
        self.frames = 0
        self.raw_frames = 0
        # Socket writes of raw frames by fan-out itself, straight to the socket
        # (realtime/transport.py), not at the end of the turn.
        self.direct_writes = 0
        self.slow_consumer_closes = 0
        self.closes: dict[int, int] = {}
        self.broker_publish_failures = 0
        self.store_fills = 0
        self.batch_size = Histo(BATCH_BUCKETS)
        self.fanout_latency = Histo(LATENCY_BUCKETS)

    def publish(self, result: str) -> None:
        self.publishes[result] = self.publishes.get(result, 0) + 1


_HUBS: weakref.WeakSet[Any] = weakref.WeakSet()


def _histogram(name: str, doc: str, histos: list[Histo]) -> HistogramMetricFamily:
    bounds = histos[0].bounds if histos else ()
    counts = [sum(h.counts[i] for h in histos) for i in range(len(bounds) + 1)]
    cumulative = []
    running = 0
    for bound, count in zip([*map(str, bounds), "+Inf"], counts, strict=True):
        running += count
        cumulative.append((bound, running))
    return HistogramMetricFamily(
        name, doc, buckets=cumulative, sum_value=sum(h.total for h in histos)
    )


class HubCollector(Collector):
    def collect(self) -> Iterator[Any]:
        stats = [h.stats for h in list(_HUBS)]
        yield GaugeMetricFamily(
            "classhub_ws_connections",
            "Open WebSocket connections",
            value=sum(s.connections for s in stats),
        )
        yield GaugeMetricFamily(
            "classhub_ws_subscriptions",
            "Channel subscriptions of open connections",
            value=sum(s.subscriptions for s in stats),
        )
        pub = CounterMetricFamily(
            "classhub_ws_publishes", "Publish frames by result", labels=["result"]
        )
        results: dict[str, int] = {}
        for s in stats:
            for k, v in s.publishes.items():
                results[k] = results.get(k, 0) + v
        for k, v in sorted(results.items()):
            pub.add_metric([k], v)
        yield pub
        yield CounterMetricFamily(
            "classhub_ws_deliveries",
            "Events written to connections",
            value=sum(s.deliveries for s in stats),
        )
        yield CounterMetricFamily(
            "classhub_ws_frames",
            "Frames written to connections",
            value=sum(s.frames for s in stats),
        )
        yield CounterMetricFamily(
            "classhub_ws_raw_frames",
            "Of those frames, written straight to the socket rather than through ASGI send",
            value=sum(s.raw_frames for s in stats),
        )
        yield CounterMetricFamily(
            "classhub_ws_slow_consumer_closes",
            "Connections closed because their outbox overflowed (4008)",
            value=sum(s.slow_consumer_closes for s in stats),
        )
        closes = CounterMetricFamily(
            "classhub_ws_closes", "Server-initiated closes by code", labels=["code"]
        )
        codes: dict[int, int] = {}
        for s in stats:
            for k, v in s.closes.items():
                codes[k] = codes.get(k, 0) + v
        for k, v in sorted(codes.items()):
            closes.add_metric([str(k)], v)
        yield closes
        yield CounterMetricFamily(
            "classhub_broker_publish_failures",
            "Committed events the broker could not carry"
            " (other processes fill them from the store)",
            value=sum(s.broker_publish_failures for s in stats),
        )
        yield CounterMetricFamily(
            "classhub_store_fills",
            "Reads from the store to fill a gap or catch up after a broker reconnect",
            value=sum(s.store_fills for s in stats),
        )
        yield CounterMetricFamily(
            "classhub_limit_local_decisions",
            "Connection-cap and publish-bucket checks decided by this process alone:"
            " Redis could not be asked",
            value=sum(
                h.limits.fallbacks for h in list(_HUBS) if getattr(h, "limits", None) is not None
            ),
        )
        yield _histogram(
            "classhub_ws_batch_size",
            "Mean events per frame written, one sample per fan-out flush",
            [s.batch_size for s in stats],
        )
        yield _histogram(
            "classhub_ws_fanout_latency_seconds",
            "From the hub having a committed event to its frame being written to a socket",
            [s.fanout_latency for s in stats],
        )


_registered = False


def register(hub: Any) -> None:
    global _registered
    _HUBS.add(hub)
    if not _registered:
        REGISTRY.register(HubCollector())
        _registered = True
