"""Summarise a py-spy ``--format raw`` profile: where the samples are, by own and total time.

    python -m loadtest.profile_summary profile.txt [--top 25] [--exclude-idle]

py-spy's raw format is one collapsed stack per line (``frame;frame;... count``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

IDLE_LEAVES = (
    "select (selectors.py", "run_forever", "Runner.run (asyncio/runners.py", "_run_once",
    "_worker (",  # a pool thread waiting for work
)


def _name(frame: str) -> str:
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _line = where.rpartition(":")
    short = "/".join(path.split("/")[-2:]) if path else where
    return f"{func} ({short})"


def summarise(path: Path, top: int, exclude_idle: bool) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if exclude_idle and any(frames[-1].startswith(p) for p in IDLE_LEAVES):
            continue
        n = int(count)
        samples += n
        own[_name(frames[-1])] += n
        for name in {_name(f) for f in frames}:
            total[name] += n
    if not samples:
        return "no samples"
    out = [f"{samples} samples", "", "own time:"]
    out += [f"  {v / samples:6.1%}  {k}" for k, v in own.most_common(top)]
    out += ["", "total time (including callees):"]
    out += [f"  {v / samples:6.1%}  {k}" for k, v in total.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--exclude-idle", action="store_true",
                        help="drop samples whose innermost frame is the event loop waiting")
    args = parser.parse_args()
    print(summarise(args.profile, args.top, args.exclude_idle))


if __name__ == "__main__":
    main()
