"""Decompression bombs against a running server: how much memory do N parallel uploads cost?

``python -m loadtest.photo_bombs --url URL --email E --password P --server-pid PID
[--count 10] [--kind webp|png|jpeg|gif] [--size 6300x6300] [--target pinboard|profile]``

Signs in as one person, makes ``--count`` photos of ``--size`` pixels that
compress to a few kilobytes (one colour), sends them all at once to the
pinboard (one draft note of the person's first event) or as the profile photo,
and prints each answer and the server's memory: its RSS before, and its peak
during the attack. The peak is the kernel's high-water mark (``VmHWM``, reset
through ``/proc/PID/clear_refs`` before the attack; Linux, same user) where it
can be read, else the largest RSS seen by polling (psutil, every 10 ms).
docs/pinboard.md ("Photos") has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from PIL import Image

MB = 1024 * 1024
CONTENT_TYPES = {"webp": "image/webp", "png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif"}


def bomb(kind: str, width: int, height: int) -> bytes:
    """An image of ``width`` x ``height`` pixels of one colour: a few KB for millions of pixels.

    Making one takes its decoded size in memory here, briefly (Pillow draws it first).
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # we make them; Pillow's own warning is for reading
    try:
        out = io.BytesIO()
        im = Image.new("RGB", (width, height), (200, 30, 30))
        if kind == "webp":
            im.save(out, "WEBP", lossless=True)
        elif kind == "png":
            im.save(out, "PNG", optimize=True)
        elif kind == "jpeg":  # progressive: its decoder holds every coefficient, reduced or not
            im.save(out, "JPEG", quality=50, progressive=True)
        elif kind == "gif":
            im.convert("P").save(out, "GIF")
        else:
            raise ValueError(kind)
        return out.getvalue()
    finally:
        Image.MAX_IMAGE_PIXELS = previous


class PeakMemory:
    """The peak RSS of a process from now until ``stop()``, in bytes."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.before = self.proc.memory_info().rss
        self.polled = self.before
        self._hwm = self._reset_hwm(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    @staticmethod
    def _reset_hwm(pid: int) -> Path | None:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            return None
        return Path(f"/proc/{pid}/status")

    def _poll(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.polled = max(self.polled, self.proc.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        peak = int(self.polled)
        if self._hwm is not None:
            for line in self._hwm.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        return peak


@dataclass
class Attack:
    statuses: list[tuple[int, str]]
    rss_before: int
    rss_peak: int

    @property
    def growth(self) -> int:
        return self.rss_peak - self.rss_before


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    r = await client.post("/api/login", json={"email": email, "password": password})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]


async def draft_note(client: httpx.AsyncClient) -> int:
    """A draft note on the board of the signed-in person's first event."""
    events = (await client.get("/api/events")).json()["events"]
    if not events:
        raise SystemExit("the account is in no event: enrol it first (for --target pinboard)")
    board = (await client.get(f"/api/pinboard/events/{events[0]['id']}/board")).json()
    r = await client.post(
        f"/api/pinboard/boards/{board['board']['id']}/notes", json={"text": "bombs"}
    )
    r.raise_for_status()
    return int(r.json()["id"])


async def attack(client: httpx.AsyncClient, server_pid: int, images: list[bytes], kind: str,
                 target: str) -> Attack:
    """Send every image at once (the client must be signed in); the answers and the peak RSS."""
    note_id = await draft_note(client) if target == "pinboard" else 0
    ctype = CONTENT_TYPES[kind]

    async def send(data: bytes) -> tuple[int, str]:
        if target == "pinboard":
            r = await client.post(f"/api/pinboard/notes/{note_id}/photo",
                                  files={"file": (f"bomb.{kind}", data, ctype)})
        else:
            r = await client.put("/api/me/photo", content=data, headers={"content-type": ctype})
        code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
        return r.status_code, code

    peak = PeakMemory(server_pid)
    try:
        statuses = await asyncio.gather(*(send(data) for data in images))
    finally:
        rss_peak = peak.stop()
    return Attack(list(statuses), peak.before, rss_peak)


async def _main(args: argparse.Namespace) -> None:
    width, height = (int(n) for n in args.size.lower().split("x"))
    image = bomb(args.kind, width, height)
    print(f"{args.count} x {args.kind} {width}x{height} ({width * height / 1e6:.1f} MP), "
          f"{len(image)} bytes each, to the {args.target}")
    limits = httpx.Limits(max_connections=args.count + 4)
    async with httpx.AsyncClient(base_url=args.url, timeout=300, limits=limits) as client:
        await sign_in(client, args.email, args.password)
        started = time.monotonic()
        result = await attack(client, args.server_pid, [image] * args.count, args.kind, args.target)
    answers: Counter[tuple[int, str]] = Counter(result.statuses)
    print("answers:", ", ".join(f"{n} x {s} {c}".rstrip() for (s, c), n in sorted(answers.items())))
    print(f"server RSS before {result.rss_before / MB:.0f} MB, peak {result.rss_peak / MB:.0f} MB, "
          f"growth {result.growth / MB:.0f} MB, in {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.photo_bombs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--kind", choices=sorted(CONTENT_TYPES), default="webp")
    parser.add_argument(
        "--size", default="6300x6300", help="WIDTHxHEIGHT (default just under 40 MP)"
    )
    parser.add_argument("--target", choices=("pinboard", "profile"), default="pinboard")
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()

