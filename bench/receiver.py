"""A fast webhook receiver for benchmarks, run as its own process.

An asyncio HTTP/1.1 server with keep-alive: it answers every POST with 204 at once and
appends ``event_id arrival_unix_seconds`` to a file (flushed every 50 ms), so the
benchmark measures pinwarden's deliverer rather than the receiver. It prints its port on
stdout once listening.

    .venv/bin/python bench/receiver.py ARRIVALS_FILE
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import TextIO

ANSWER = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, out: TextIO) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            arrived = time.time()
            out.write(f"{json.loads(body)['event_id']} {arrived:.6f}\n")
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(path: str) -> None:
    with open(path, "a", buffering=1 << 16) as out:

        async def flush() -> None:
            while True:
                await asyncio.sleep(0.05)
                out.flush()

        server = await asyncio.start_server(lambda r, w: handle(r, w, out), "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        flusher = asyncio.create_task(flush())
        try:
            await server.serve_forever()
        finally:
            flusher.cancel()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(sys.argv[1]))
