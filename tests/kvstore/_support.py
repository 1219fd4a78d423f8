"""An in-process kvstore daemon for the tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from daemons.kvstore.__main__ import build_server
from daemons.kvstore.program import KVStoreProgram
from daemons.kvstore.protocol import parse_address
from daemons.kvstore.store import Store
from netrpc import Server


@dataclass
class Running:
    program: KVStoreProgram
    server: Server
    #: "unix", "tcp" and "readonly" -> URL
    urls: dict[str, str]


@contextlib.asynccontextmanager
async def running(directory: str, store: Store | None = None) -> AsyncIterator[Running]:
    """Serve the database in *directory* on a unix socket, a TCP port and a read-only socket."""
    store = store or Store(os.path.join(directory, "kv.sqlite3"))
    unix = f"unix://{directory}/kv.sock"
    readonly = f"unix://{directory}/kv-ro.sock?readonly"
    program = KVStoreProgram(store)
    server = build_server(
        program, [parse_address(unix), parse_address("tcp://127.0.0.1:0"), parse_address(readonly)]
    )
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            port = server.services[1].port_bound
            yield Running(
                program,
                server,
                {"unix": unix, "tcp": f"tcp://127.0.0.1:{port}", "readonly": readonly},
            )
            server.shutdown(5)
            await server.aclose()
    finally:
        store.close()
