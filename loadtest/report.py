"""The end of a run: a table on the terminal, the result as JSON and the plots as PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

MAX_SCATTER_POINTS = 60_000


def result_paths(
    results_dir: Path, stamp: str, scenario: str, tag: str | None
) -> tuple[Path, Path]:
    name = f"{stamp}_{scenario}" + (f"_{tag}" if tag else "")
    return results_dir / f"{name}.json", results_dir / f"{name}.png"


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        text = f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:,.1f}"
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = str(v)
    return f"{text} {unit}".rstrip()


def print_table(console: Console, result: dict[str, Any]) -> None:
    f = result["figures"]
    table = Table(title=f"classhub load test: {result['scenario']}  ({result['started_at']})",
                  show_header=True, header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")

    def row(name: str, value: Any, unit: str = "", style: str | None = None) -> None:
        table.add_row(name, _fmt(value, unit), style=style)

    c, p, d, lat = f["connections"], f["publishes"], f["deliveries"], f["latency_ms"]
    row("connections", f"{c['connected']:,} / {c['planned']:,}")
    row("connect failures", c["connect_failures"], style="red" if c["connect_failures"] else None)
    if c["reconnects"] or c["disconnects"]:
        row("disconnects", ", ".join(f"{k}: {v}" for k, v in c["disconnects"].items()) or 0)
        row("reconnects", c["reconnects"])
        row("reconnect p50 / p99 / max", _triple(c["reconnect_ms"]), "ms")
    if p["sent"]:
        row("posts sent / acked", f"{p['sent']:,} / {p['acked']:,}",
            style="red" if p["unacked"] else None)
        if p["errors"]:
            row("error frames", ", ".join(f"{k}: {v}" for k, v in p["errors"].items()),
                style="yellow")
        if p["rate_limited"]:
            row("rate-limited (retried)", p["rate_limited"], style="yellow")
        row("ack p50 / p99", f"{_fmt(p['ack_ms']['p50'])} / {_fmt(p['ack_ms']['p99'])}", "ms")
    row("deliveries", d["delivered"])
    row("lost", d["lost"], style="red" if d["lost"] else "green")
    row("duplicates", d["duplicates"], style="red" if d["duplicates"] else "green")
    row("out of order", d["out_of_order"], style="red" if d["out_of_order"] else "green")
    row("deliveries/s", d["per_second"])
    row("first post → last delivery", d["first_publish_to_last_delivery_s"], "s")
    row("events per frame", d["events_per_frame"])
    if lat["count"]:
        row("latency p50", lat["p50"], "ms")
        row("latency p95", lat["p95"], "ms")
        row("latency p99", lat["p99"], "ms")
        row("latency max", lat["max"], "ms")
    s = f.get("server")
    if s:
        row("server CPU (run)", s["cpu_s_run"], "s")
        row("server CPU per 10k deliveries", s["cpu_s_per_10k_deliveries"], "s")
        row("server CPU while running", s["cpu_percent_run"], "% of a core")
        row("server RSS before / connected / end",
            f"{s['rss_before_mb']} / {s['rss_connected_mb']} / {s['rss_end_mb']}", "MB")
        row("server RSS per connection", s["rss_per_connection_kb"], "KB")
        if s.get("work_done_after_first_post_s") is not None and p["sent"]:
            row("server work done (98 % of its CPU) after first post",
                s["work_done_after_first_post_s"], "s")
        if s.get("idle_cpu_percent_of_core") is not None:
            row("server CPU while idle (heartbeats)", s["idle_cpu_percent_of_core"], "% of a core")
    g = f["generator"]
    row("generator CPU", g["cpu_s_total"], f"s in {len(g['procs'])} process(es)")
    row("generator loop lag max",
        max((pp["loop_lag_max_ms"] for pp in g["procs"]), default=0.0), "ms")
    row("machine load (1-min avg) before / after",
        f"{result['machine']['before']['loadavg'][0]} / {result['machine']['after']['loadavg'][0]}")
    console.print(table)
    if g["saturated"]:
        console.print(
            "[bold red]WARNING: the load generator was saturated[/] — "
            + "; ".join(g["saturation_reasons"])
            + ". Latency figures include the generator's own delay; use --procs, --uvloop or a "
            "less loaded machine."
        )


def _triple(ms: dict[str, Any]) -> str:
    return f"{_fmt(ms['p50'])} / {_fmt(ms['p99'])} / {_fmt(ms['max'])}"


def write_plot(
    path: Path,
    result: dict[str, Any],
    lat: np.ndarray,
    at: np.ndarray,
    server_timeline: list[dict[str, float]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    have_lat = lat.size > 0
    panels = (2 if have_lat else 0) + (1 if server_timeline else 0)
    if panels == 0:
        return
    fig, axes = plt.subplots(panels, 1, figsize=(10, 3.6 * panels), squeeze=False)
    ax_iter = iter(axes[:, 0])
    title = (f"{result['scenario']} — {result['started_at']} — "
             f"{result['figures']['connections']['connected']} connections, "
             f"{result['options']['protocol']}")
    fig.suptitle(title, fontsize=10)
    if have_lat:
        ms = lat * 1000.0
        ax = next(ax_iter)
        lo = max(float(ms.min()), 0.01)
        hi = max(float(ms.max()), lo * 1.01)
        bins = np.logspace(np.log10(lo), np.log10(hi), 80)
        ax.hist(ms, bins=bins, color="#4477aa")
        ax.set_xscale("log")
        ax.set_yscale("log")
        pct = result["figures"]["latency_ms"]
        for name, color in (("p50", "green"), ("p99", "orange"), ("max", "red")):
            if pct[name] is not None:
                ax.axvline(pct[name], color=color, linestyle="--", linewidth=1,
                           label=f"{name} {pct[name]:.2f} ms")
        ax.set_xlabel("end-to-end latency, publish to receipt (ms, log)")
        ax.set_ylabel("deliveries (log)")
        ax.set_title("latency distribution", fontsize=9)
        ax.legend(fontsize=8)

        ax = next(ax_iter)
        idx = np.arange(ms.size)
        if ms.size > MAX_SCATTER_POINTS:
            idx = np.random.default_rng(0).choice(ms.size, MAX_SCATTER_POINTS, replace=False)
        ax.scatter(at[idx], ms[idx], s=2, alpha=0.3, color="#4477aa", label="deliveries (sample)")
        if at.size:
            width = 0.1 if (at.max() - at.min()) < 20 else 0.5
            edges = np.arange(at.min(), at.max() + width, width)
            which = np.digitize(at, edges)
            xs, p50s, p99s = [], [], []
            for b in np.unique(which):
                sel = ms[which == b]
                xs.append(edges[b - 1] + width / 2)
                p50s.append(np.percentile(sel, 50))
                p99s.append(np.percentile(sel, 99))
            ax.plot(xs, p50s, color="green", linewidth=1, label=f"p50 per {width:g} s")
            ax.plot(xs, p99s, color="orange", linewidth=1, label=f"p99 per {width:g} s")
        ax.set_yscale("log")
        ax.set_xlabel("receipt time since start (s)")
        ax.set_ylabel("latency (ms, log)")
        ax.set_title("latency over time", fontsize=9)
        ax.legend(fontsize=8, loc="upper right")
    if server_timeline:
        ax = next(ax_iter)
        ts = [s["t"] for s in server_timeline]
        ax.plot(ts, [s["cpu_percent"] for s in server_timeline], color="#aa3377",
                label="server CPU (% of a core)")
        ax.set_xlabel("time since start (s)")
        ax.set_ylabel("CPU %")
        ax2 = ax.twinx()
        ax2.plot(ts, [s["rss_mb"] for s in server_timeline], color="#228833", label="RSS (MB)")
        ax2.set_ylabel("RSS MB")
        ax.set_title("server", fontsize=9)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
