"""A netrpc server with a data source and a data sink: stream throughput without storage.

    python3 bench/stream_server.py --unix PATH [--backend trio]

Program 0x30000001 v1: procedure 1 (args: unsigned hyper size) opens a stream and sends
*size* bytes; procedure 2 opens a stream and discards what it receives.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402

from netrpc import Call, Program, Server, Service, procedure, xdr  # noqa: E402
from netrpc.core.stream import CHUNK_SIZE  # noqa: E402
from netrpc.io.server.stream import ServerStream  # noqa: E402

PROGRAM = 0x30000001
SOURCE = 1
SINK = 2
_BLOCK = os.urandom(CHUNK_SIZE)


class StreamBench(Program):
    """Source and sink procedures."""

    number, version = PROGRAM, 1

    @procedure(SOURCE, args=xdr.UHYPER, inline=True)
    def source(self, call: Call, size: int) -> None:
        call.client.spawn(self._source, call.open_stream(), size)

    async def _source(self, stream: ServerStream, size: int) -> None:
        sent = 0
        while sent < size:
            n = min(CHUNK_SIZE, size - sent)
            await stream.send(_BLOCK if n == CHUNK_SIZE else _BLOCK[:n])
            sent += n
        await stream.finish()

    @procedure(SINK, args=xdr.UHYPER, inline=True)
    def sink(self, call: Call, size: int) -> None:
        call.client.spawn(self._sink, call.open_stream())

    async def _sink(self, stream: ServerStream) -> None:
        while await stream.receive():
            pass
        await stream.finish()


async def serve(path: str) -> None:
    server = Server("streambench", programs=[StreamBench()])
    server.add_service(Service.unix(path))
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        print("ready", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--unix", required=True)
    ap.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = ap.parse_args()
    anyio.run(serve, args.unix, backend=args.backend)


if __name__ == "__main__":
    main()
