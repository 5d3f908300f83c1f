"""Would batching the sends in the kernel lower the write floor? An experiment, not a tool.

``pip install liburing`` (not a classhub dependency), then
``python -m loadtest.uring_floor uring`` and ``python -m loadtest.uring_floor write``,
alternately. Like ``loadtest.socket_floor`` it measures nothing of classhub: a
writer on core 0 sends a 420-byte frame to each of 300 loopback sockets every
33 ms (the classroom's cadence) while a uvloop reader on core 1 drains them;
``uring`` hands each round's 300 sends to the kernel in one io_uring submission,
``write`` makes 300 ``write`` system calls. Prints the writer's CPU per send.
docs/performance.md ("Where the classroom stands") has the figures.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time

SOCKETS, ROUNDS, SIZE, INTERVAL = 300, 100, 420, 0.033


def main(mode: str) -> None:
    import liburing as uring  # type: ignore[import-not-found]

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # the reader
        os.sched_setaffinity(0, {1})
        import uvloop

        class Reader(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                pass

        async def read() -> None:
            loop = asyncio.get_running_loop()
            for _ in range(SOCKETS):
                await loop.create_connection(Reader, "127.0.0.1", port)
            await asyncio.sleep(3600)

        uvloop.run(read())
        os._exit(0)
    os.sched_setaffinity(0, {0})
    conns = [listener.accept()[0] for _ in range(SOCKETS)]
    for c in conns:
        c.setblocking(False)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    fds = [c.fileno() for c in conns]
    frame = b"\x81\x7e" + SIZE.to_bytes(2, "big") + b"x" * SIZE
    ring, cqe = uring.Ring(), uring.Cqe()
    uring.io_uring_queue_init(1024, ring)
    try:
        start = time.process_time()
        for _ in range(ROUNDS):
            if mode == "uring":
                for fd in fds:
                    uring.io_uring_prep_write(uring.io_uring_get_sqe(ring), fd, frame)
                uring.io_uring_submit_and_wait(ring, SOCKETS)
                for _ in range(SOCKETS):
                    uring.io_uring_wait_cqe(ring, cqe)
                    if cqe[0].res != len(frame):
                        raise SystemExit(f"a send returned {cqe[0].res}")
                    uring.io_uring_cq_advance(ring, 1)
            else:
                for fd in fds:
                    os.write(fd, frame)
            time.sleep(INTERVAL)
        per_send = (time.process_time() - start) / (ROUNDS * SOCKETS)
    finally:
        uring.io_uring_queue_exit(ring)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    print(
        f"{mode}: {per_send * 1e6:.2f} µs of writer CPU per {SIZE}-byte send "
        f"({SOCKETS} sockets every {INTERVAL * 1000:g} ms)"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("uring", "write"):
        raise SystemExit("usage: python -m loadtest.uring_floor uring|write")
    main(sys.argv[1])
