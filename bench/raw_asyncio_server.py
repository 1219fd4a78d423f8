#!/usr/bin/env python3
"""Cost floors for the netrpc benchmarks: plain asyncio Protocol servers, no anyio.

``--mode raw``: hand-written frame parsing and canned replies for the calls the benchmark
makes (AUTH_LIST, CONNECT_OPEN, CONNECT_CLOSE, GET_LIB_VERSION, LOOKUP_BY_NAME "test",
keepalive PING).  The cheapest a Python server on asyncio can answer these calls.

``--mode core``: the same asyncio Protocol driving netrpc's sans-IO core (Connection,
Dispatcher, and the echo server's Program with its XDR codecs), without the anyio shell.

Compared with bench/echo_server.py (the full netrpc Server on anyio), ``raw`` vs ``core``
is what the sans-IO core costs, and ``core`` vs ``echo`` is what the anyio shell costs.

    python3 bench/raw_asyncio_server.py --mode core --unix /tmp/x/sock --tcp 127.0.0.1:16510
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import struct
import sys
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REMOTE_PROGRAM = 0x20008086
KEEPALIVE_PROGRAM = 0x6B656570
FRAME = struct.Struct(">IIIiiIi")
HEAD = FRAME.size
U32 = struct.Struct(">I")
CALL, REPLY, MESSAGE = 0, 1, 2
FRAME_MAX = 32 * 1024 * 1024 + 4

LIB_VERSION = struct.pack(">Q", 9000000)
AUTH_NONE = struct.pack(">Ii", 1, 0)
TEST_DOMAIN = (
    U32.pack(4) + b"test" + bytes.fromhex("6695eb01f6a4830479aa97f2502e193f") + struct.pack(">i", 1)
)
PONG = FRAME.pack(HEAD, KEEPALIVE_PROGRAM, 1, 2, MESSAGE, 0, 0)


def _error_payload(code: int, domain: int, message: str) -> bytes:
    raw = message.encode()
    text = U32.pack(len(raw)) + raw + b"\0" * (-len(raw) % 4)
    # remote_error: code, domain, message (remote_string), level, dom (null), str1..3 (null),
    # int1, int2, net (null)
    return (
        struct.pack(">ii", code, domain)
        + U32.pack(1)
        + text
        + struct.pack(">i", 2)
        + U32.pack(0)
        + U32.pack(0) * 3
        + struct.pack(">ii", -1, -1)
        + U32.pack(0)
    )


class RawProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.opened = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        n = len(buf)
        pos = 0
        out = []
        close = False
        while n - pos >= HEAD:
            length, prog, vers, proc, mtype, serial, _status = FRAME.unpack_from(buf, pos)
            if length < HEAD or length > FRAME_MAX:
                assert self.transport is not None
                self.transport.abort()
                return
            end = pos + length
            if end > n:
                break
            if prog == REMOTE_PROGRAM and mtype == CALL:
                st = 0
                if proc == 157:
                    payload = LIB_VERSION
                elif proc == 23:
                    (ln,) = U32.unpack_from(buf, pos + HEAD)
                    if buf[pos + HEAD + 4 : pos + HEAD + 4 + ln] == b"test":
                        payload = TEST_DOMAIN
                    else:
                        st, payload = 1, _error_payload(42, 12, "Domain not found")
                elif proc == 66:
                    payload = AUTH_NONE
                elif proc == 1:
                    payload = b""
                    self.opened = True
                elif proc == 2:
                    payload = b""
                    close = True
                else:
                    st, payload = 1, _error_payload(39, 7, f"unknown procedure: {proc}")
                out.append(
                    FRAME.pack(HEAD + len(payload), prog, vers, proc, REPLY, serial, st) + payload
                )
            elif prog == KEEPALIVE_PROGRAM and mtype == MESSAGE and proc == 1:
                out.append(PONG)
            pos = end
        self.buf = buf[pos:] if pos < n else b""
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            if close:
                self.transport.close()


class _Client:
    """What an inline handler of the echo program uses of ``call.client``."""

    __slots__ = ("_close", "authenticated", "id", "private", "readonly")

    def __init__(self, client_id: int) -> None:
        self.id = client_id
        self.private: dict[Any, Any] = {}
        self.readonly = False
        self.authenticated = True
        self._close = False

    def close_after_reply(self) -> None:
        self._close = True


class CoreProtocol(asyncio.Protocol):
    counter = 0

    def __init__(self, dispatcher: Any) -> None:
        from netrpc.core.connection import Connection, Role

        CoreProtocol.counter += 1
        self.client = _Client(CoreProtocol.counter)
        self.dispatcher = dispatcher
        self.conn = Connection(Role.SERVER, max_requests=5)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def eof_received(self) -> bool:
        return False

    def data_received(self, data: bytes) -> None:
        from netrpc import RPCError
        from netrpc.core.connection import NEED_DATA, PAUSED, CallReceived, ConnectionClosed
        from netrpc.core.errors import RemoteProtocolError
        from netrpc.core.program import Call, Dispatcher

        conn = self.conn
        conn.receive_data(data, self.loop.time())
        client = self.client
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError:
                assert self.transport is not None
                self.transport.abort()
                return
            if event is NEED_DATA:
                break
            if isinstance(event, CallReceived):
                header = event.header
                resolved = self.dispatcher.resolve(
                    header, event.payload, authenticated=True, readonly=False
                )
                if resolved is None:
                    conn.discard(header)
                    continue
                if isinstance(resolved, RPCError):
                    conn.send_error(header, resolved)
                    continue
                proc = resolved.procedure
                try:
                    result = proc.handler(
                        resolved.program, Call(header, client, None, []), resolved.args
                    )
                    conn.send_reply(header, Dispatcher.encode_return(proc, result))
                except RPCError as exc:
                    conn.send_error(header, exc)
                if client._close:
                    conn.close_after_flush()
            elif isinstance(event, ConnectionClosed):
                break
            elif event is PAUSED and conn.has_output and not conn.closing:
                # Every slot holds an answered call: hand the replies to the transport,
                # which frees the slots.
                self._write()
            else:
                break
        self._write()

    def _write(self) -> None:
        conn = self.conn
        if conn.has_output and self.transport is not None:
            segments = [s for s in conn.data_to_send() if not isinstance(s, int)]
            self.transport.write(segments[0] if len(segments) == 1 else b"".join(segments))
            conn.output_written()
            if conn.closing:
                self.transport.close()


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    if args.mode == "raw":
        factory: Any = RawProtocol
    else:
        from bench.echo_server import EchoRemoteProgram
        from netrpc.core.program import Dispatcher

        dispatcher = Dispatcher([EchoRemoteProgram()])
        factory = lambda: CoreProtocol(dispatcher)  # noqa: E731
    servers = []
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        servers.append(await loop.create_unix_server(factory, args.unix, backlog=1000))
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        servers.append(await loop.create_server(factory, host.strip("[]"), int(port), backlog=1000))
    print(f"listening ({args.mode})", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    if args.unix and os.path.exists(args.unix):
        os.unlink(args.unix)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--mode", choices=("raw", "core"), default="raw")
    p.add_argument("--unix", metavar="PATH")
    p.add_argument("--tcp", metavar="HOST:PORT")
    args = p.parse_args(argv)
    if not args.unix and not args.tcp:
        p.error("give --unix and/or --tcp")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
