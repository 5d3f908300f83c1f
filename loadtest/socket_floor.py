"""The floor under a delivery: CPU of one small write to a loopback TCP socket.

``python -m loadtest.socket_floor [--sockets 300] [--rounds 300] [--bytes 300]``

A classroom post reaches each of its receivers as one WebSocket frame, and
each frame is one ``transport.write`` (one ``send`` system call, and on
loopback the kernel's receive path runs in the sender's time too). This
measures exactly that and nothing of classhub: a uvloop server process pinned
to core 0 writes one frame-sized message to each of N connected sockets, every
``--interval`` (2 ms), while a reader process pinned to core 1 drains them, like the load
generator does. It prints the writer's CPU per write (``time.process_time``,
user + system). Whatever the hub does, a delivery that needs its own write
cannot cost less than this (docs/performance.md, "the write floor").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

WRITER_CORE = 0
READER_CORE = 1


async def _main(sockets: int, rounds: int, size: int, interval: float) -> float:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []

    class Writer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(transport)  # type: ignore[arg-type]

    class Reader(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    server = await loop.create_server(Writer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pid = os.fork()
    if pid == 0:  # the reader: its own process on the other core
        os.sched_setaffinity(0, {READER_CORE})

        async def read() -> None:
            lp = asyncio.get_running_loop()
            for _ in range(sockets):
                await lp.create_connection(Reader, "127.0.0.1", port)
            await asyncio.sleep(3600)

        _run(read())
        os._exit(0)
    try:
        while len(transports) < sockets:
            await asyncio.sleep(0.01)
        frame = b"\x81\x7e" + size.to_bytes(2, "big") + b"x" * size
        start = time.process_time()
        for _ in range(rounds):
            for t in transports:
                t.write(frame)
            await asyncio.sleep(interval)
        return (time.process_time() - start) / (rounds * sockets)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)  # noqa: ASYNC222 - the reader was just killed: no wait
        server.close()


def _run(coro: object) -> object:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        return asyncio.run(coro)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m loadtest.socket_floor", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--sockets", type=int, default=300, help="connected sockets (default 300, a classroom)"
    )
    ap.add_argument("--rounds", type=int, default=300, help="writes per socket (default 300)")
    ap.add_argument(
        "--bytes",
        type=int,
        default=300,
        help="payload per write (default 300, a 200-byte post's frame)",
    )
    ap.add_argument(
        "--interval",
        type=float,
        default=0.002,
        help="seconds between rounds (default 0.002; 0.033 is the classroom's 30 posts/s)",
    )
    args = ap.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2 and (os.cpu_count() or 1) < 2:  # pragma: no cover
        print("note: one core only; reader and writer share it")
    os.sched_setaffinity(0, {WRITER_CORE})
    per_write = _run(_main(args.sockets, args.rounds, args.bytes, args.interval))
    if not isinstance(per_write, float):
        raise TypeError(f"_main returned {type(per_write).__name__}")
    print(
        f"{per_write * 1e6:.2f} µs of writer CPU per {args.bytes}-byte write "
        f"({args.sockets} sockets x {args.rounds} rounds every {args.interval * 1000:g} ms, "
        f"reader on core {READER_CORE})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
