"""Server-side samples (psutil), and turning the generator processes' raw results into figures."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import psutil

SATURATED_UTILISATION = 0.9  # of one core, per generator process
SATURATED_LAG_SECS = 0.05  # event-loop lag that shows up in every latency figure


def _process_clock() -> Callable[[int], float | None]:
    """CPU seconds of another process with nanosecond resolution (Linux: its CPU-time
    clock, ``clock_getcpuclockid``), all its threads, ended ones included. psutil's
    ``cpu_times`` counts in clock ticks (10 ms): a small run's server CPU read 0.0."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        getclock, gettime = libc.clock_getcpuclockid, libc.clock_gettime
    except (OSError, AttributeError):  # pragma: no cover - not glibc/Linux
        return lambda pid: None

    class Timespec(ctypes.Structure):
        _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))

    def cpu_seconds(pid: int) -> float | None:
        clock, ts = ctypes.c_int(), Timespec()
        if getclock(pid, ctypes.byref(clock)) or gettime(clock.value, ctypes.byref(ts)):
            return None
        seconds: float = ts.tv_sec + ts.tv_nsec / 1e9
        return seconds

    return cpu_seconds


process_cpu_seconds = _process_clock()


@dataclass
class ServerSample:
    t: float
    cpu: float  # user + system seconds, summed over the processes
    rss: int  # bytes, summed


class ServerProbe:
    """CPU seconds and RSS of the server process(es), given their PIDs."""

    def __init__(self, pids: list[int], *, children: bool = False) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.children = children
        self.samples: list[ServerSample] = []

    def _all(self) -> list[psutil.Process]:
        if not self.children:
            return self.procs
        out = list(self.procs)
        for p in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                out += p.children(recursive=True)
        return out

    def sample(self) -> ServerSample:
        cpu = 0.0
        rss = 0
        for p in self._all():
            try:
                with p.oneshot():
                    precise = process_cpu_seconds(p.pid)
                    if precise is None:
                        t = p.cpu_times()
                        precise = t.user + t.system
                    cpu += precise
                    rss += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        s = ServerSample(time.time(), cpu, rss)
        self.samples.append(s)
        return s


class FineSampler:
    """Samples the server every few ms in a thread while the run is on (when its work ended)."""

    def __init__(self, probe: ServerProbe, every: float = 0.02) -> None:
        self.probe = probe
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="server-sampler")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.probe.sample()


def work_done_at(samples: list[ServerSample], start: ServerSample, end: ServerSample,
                 share: float = 0.98) -> float | None:
    """When the server had spent ``share`` of the run's CPU: its work was done by then."""
    total = end.cpu - start.cpu
    if total <= 0:
        return None
    for s in sorted(samples, key=lambda s: s.t):
        if s.t >= start.t and s.cpu - start.cpu >= share * total:
            return s.t
    return None


def machine_load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {
        "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "cpus": os.cpu_count(),
        "cpu_percent_per_core": psutil.cpu_percent(interval=None, percpu=True),
    }


def percentiles_ms(values: np.ndarray) -> dict[str, float | int | None]:
    if values.size == 0:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ms = values * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "count": int(ms.size),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "max": round(float(ms.max()), 3),
        "mean": round(float(ms.mean()), 3),
    }


def _cat(results: list[dict[str, Any]], key: str) -> np.ndarray:
    buf = array("d")
    for r in results:
        buf.frombytes(r[key])
    return np.frombuffer(buf, dtype=np.float64) if len(buf) else np.zeros(0)


def _sum_counts(results: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for k, v in r[key].items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


@dataclass
class Aggregate:
    figures: dict[str, Any]
    lat: np.ndarray  # seconds
    at: np.ndarray  # seconds since t0
    server_timeline: list[dict[str, float]] = field(default_factory=list)


def aggregate(
    results: list[dict[str, Any]],
    *,
    t0: float,
    planned_connections: int,
    server: dict[str, ServerSample] | None,
    server_samples: list[ServerSample],
    idle_secs: float,
    progress_cpu: dict[int, list[tuple[float, float]]],
) -> Aggregate:
    lat = _cat(results, "lat")
    at = _cat(results, "at") - t0
    acc = {k: sum(r["accounting"][k] for r in results)
           for k in ("expected", "received", "lost", "dups", "out_of_order")}
    deliveries = sum(r["deliveries"] for r in results)
    firsts = [r["first_publish"] for r in results if r["first_publish"]]
    lasts = [r["last_delivery"] for r in results if r["last_delivery"]]
    first = min(firsts) if firsts else None
    last = max(lasts) if lasts else None
    span = (last - first) if first is not None and last is not None else None
    frames = sum(r["frames"] for r in results)
    connected = planned_connections - sum(r["never_connected"] for r in results)
    f: dict[str, Any] = {
        "connections": {
            "planned": planned_connections,
            "connected": connected,
            "never_connected": planned_connections - connected,
            "connect_failures": sum(sum(r["connect_failures"].values()) for r in results),
            "connect_failure_reasons": _sum_counts(results, "connect_failures"),
            "connect_ms": percentiles_ms(_cat(results, "connect_secs")),
            "disconnects": _sum_counts(results, "disconnects"),
            "reconnects": sum(r["reconnects"] for r in results),
            "reconnect_ms": percentiles_ms(_cat(results, "reconnect_secs")),
            "reloads": sum(r["reloads"] for r in results),
        },
        "publishes": {
            "sent": sum(r["published"] for r in results),
            "acked": sum(r["acked"] for r in results),
            "unacked": sum(r["unacked"] for r in results),
            "resent_same_id": sum(r["republished"] for r in results),
            "rate_limited": sum(r["rate_limited"] for r in results),
            "errors": _sum_counts(results, "errors"),
            "ack_ms": percentiles_ms(_cat(results, "ack_lat")),
        },
        "deliveries": {
            "delivered": deliveries,
            "expected": acc["expected"],
            "lost": acc["lost"],
            "duplicates": acc["dups"],
            "out_of_order": acc["out_of_order"],
            "frames": frames,
            "events_per_frame": round(sum(r["events_seen"] for r in results) / frames, 2)
            if frames else None,
            "bytes": sum(r["bytes"] for r in results),
            "first_publish_to_last_delivery_s": round(span, 3) if span is not None else None,
            "per_second": round(deliveries / span, 1) if span else None,
        },
        "latency_ms": percentiles_ms(lat),
    }
    if server:
        before, connected_s, start, end = (
            server[k] for k in ("before", "connected", "start", "end")
        )
        cpu_run = end.cpu - start.cpu
        wall_run = end.t - start.t
        f["server"] = {
            "cpu_s_run": round(cpu_run, 3),
            "run_wall_s": round(wall_run, 3),
            "cpu_percent_run": round(100 * cpu_run / wall_run, 1) if wall_run > 0 else None,
            "cpu_s_per_10k_deliveries": round(cpu_run / deliveries * 1e4, 4)
            if deliveries
            else None,
            "rss_before_mb": round(before.rss / 2**20, 1),
            "rss_connected_mb": round(connected_s.rss / 2**20, 1),
            "rss_end_mb": round(end.rss / 2**20, 1),
            "rss_peak_mb": round(max(s.rss for s in server.values()) / 2**20, 1),
            "rss_per_connection_kb": round((connected_s.rss - before.rss) / 1024 / connected, 2)
            if connected
            else None,
            "cpu_s_connecting": round(connected_s.cpu - before.cpu, 3),
        }
        done = work_done_at(server_samples, start, end)
        if done is not None and first is not None:
            f["server"]["work_done_after_first_post_s"] = round(done - first, 3)
        if idle_secs > 0:
            f["server"]["idle_cpu_percent_of_core"] = round(100 * cpu_run / wall_run, 2) \
                if wall_run > 0 else None
    f["generator"] = generator_figures(results, progress_cpu)
    return Aggregate(f, lat, at)


def generator_figures(
    results: list[dict[str, Any]], progress_cpu: dict[int, list[tuple[float, float]]]
) -> dict[str, Any]:
    procs = []
    saturated: list[str] = []
    for r in sorted(results, key=lambda r: r["proc"]):
        util = r["cpu_secs"] / r["wall_secs"] if r["wall_secs"] > 0 else 0.0
        peak = _peak_utilisation(progress_cpu.get(r["proc"], []))
        procs.append({
            "proc": r["proc"],
            "bots": r["bots"],
            "cpu_s": round(r["cpu_secs"], 3),
            "utilisation": round(util, 3),
            "peak_1s_utilisation": round(peak, 3),
            "loop_lag_max_ms": round(r["lag_max_secs"] * 1000, 1),
            "loop_lag_mean_ms": round(r["lag_mean_secs"] * 1000, 2),
        })
        if peak >= SATURATED_UTILISATION:
            saturated.append(f"process {r['proc']} used {peak:.0%} of a core over 1 s")
        if r["lag_max_secs"] >= SATURATED_LAG_SECS:
            saturated.append(
                f"process {r['proc']} event loop lagged {r['lag_max_secs'] * 1000:.0f} ms"
            )
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    total = sum(p["utilisation"] for p in procs)
    if len(procs) > cores and total >= SATURATED_UTILISATION * cores:
        saturated.append(f"{len(procs)} processes share {cores} core(s) at {total:.0%}")
    return {
        "procs": procs,
        "cores_available": cores,
        "cpu_s_total": round(sum(p["cpu_s"] for p in procs), 3),
        "saturated": bool(saturated),
        "saturation_reasons": saturated,
    }


def _peak_utilisation(samples: list[tuple[float, float]], window: float = 1.0) -> float:
    """Highest CPU share over any stretch of at least ``window`` s of (wall, cpu) samples."""
    best = 0.0
    k = 0
    for i in range(len(samples)):
        t, cpu = samples[i]
        while k + 1 < i and t - samples[k + 1][0] >= window:
            k += 1
        dt = t - samples[k][0]
        if dt >= window:
            best = max(best, (cpu - samples[k][1]) / dt)
    return best
