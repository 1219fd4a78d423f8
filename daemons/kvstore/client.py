"""The kvstore client: a typed :class:`KVClient` over :class:`netrpc.Client`, and a CLI.

::

    async with KVClient.connect("tcp://127.0.0.1:17100") as kv:
        await kv.put("greeting", b"hello")
        print(await kv.get("greeting"))          # b'hello'
        async with kv.watch("user/") as events:
            async for event in events:           # KeyEvent(kind, key, value, revision)
                ...

Command line (``python -m daemons.kvstore.client --help``)::

    python -m daemons.kvstore.client --connect tcp://127.0.0.1:17100 put foo bar
    python -m daemons.kvstore.client get foo
    python -m daemons.kvstore.client list
    python -m daemons.kvstore.client watch user/
    python -m daemons.kvstore.client stats

Without ``--connect`` (or ``$KVSTORE_URL``) the CLI uses the daemon's default unix socket
when it exists, else ``tcp://127.0.0.1:17100``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Sequence

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from netrpc import Client, Header, NetRPCError, RPCError

from .program import KVStoreProgram
from .protocol import (
    DEFAULT_TCP_PORT,
    EVENT_KEY_CHANGED,
    KEY_EVENT_CODEC,
    PROGRAM,
    EventKind,
    KeyArgs,
    KeyEvent,
    PrefixArgs,
    PutArgs,
    StatsRet,
    WaitArgs,
    default_unix_path,
    parse_address,
)

__all__ = ("KVClient", "KeyEvent", "StatsRet", "default_url", "main")

log = logging.getLogger("kvstore.client")


def default_url() -> str:
    """``$KVSTORE_URL``, else the default unix socket if it exists, else the default TCP port."""
    url = os.environ.get("KVSTORE_URL")
    if url:
        return url
    path = default_unix_path()
    if os.path.exists(path):
        return f"unix://{path}"
    return f"tcp://127.0.0.1:{DEFAULT_TCP_PORT}"


class KVClient:
    """Typed calls to a kvstore daemon.  Open one with :meth:`connect`.

    :param client: a connected :class:`netrpc.Client`.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._stub = client.stub(KVStoreProgram)
        # Local subscriptions: each `watch` context gets its own stream.  The server sends
        # one event per change to this connection; we route it to every matching stream.
        self._subscriptions: list[tuple[str, MemoryObjectSendStream[KeyEvent]]] = []
        self._watch_counts: dict[str, int] = {}
        client.on_event(PROGRAM, EVENT_KEY_CHANGED, self._on_event)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str | None = None) -> AsyncIterator[KVClient]:
        """Connect to ``unix:///path`` or ``tcp://host:port`` (default: :func:`default_url`)."""
        address = parse_address(url or default_url())
        connection = (
            Client.unix(address.path)
            if address.scheme == "unix"
            else Client.tcp(address.host, address.port)
        )
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(connection)
            tg = await stack.enter_async_context(anyio.create_task_group())
            kv = cls(client)
            tg.start_soon(kv._end_subscriptions_on_close)
            try:
                yield kv
            finally:
                tg.cancel_scope.cancel()
                # Leave the task groups (ours and the client's) without the body's
                # exception: they would re-raise it wrapped in an ExceptionGroup, and the
                # caller expects `except RPCError` to work.  It propagates unchanged.
                await stack.aclose()

    # ------------------------------------------------------------------ calls

    async def put(self, key: str, value: bytes | str) -> int:
        """Set *key*; returns the store's new revision."""
        if isinstance(value, str):
            value = value.encode()
        ret = await self._stub.put(PutArgs(key, value))
        return int(ret.revision)

    async def get(self, key: str) -> bytes:
        """The value of *key*.

        :raises RPCError: code NO_KEY (1000) when the key does not exist.
        """
        ret = await self._stub.get(KeyArgs(key))
        return bytes(ret.value)

    async def delete(self, key: str) -> int:
        """Remove *key*; returns the store's new revision.

        :raises RPCError: code NO_KEY (1000) when the key does not exist.
        """
        ret = await self._stub.delete(KeyArgs(key))
        return int(ret.revision)

    async def list(self, prefix: str = "") -> list[str]:
        """Keys starting with *prefix*, sorted (at most LIST_MAX)."""
        ret = await self._stub.list(PrefixArgs(prefix))
        return list(ret.keys)

    async def stats(self) -> StatsRet:
        """The daemon's counters."""
        ret: StatsRet = await self._stub.stats()
        return ret

    async def wait_for_key(self, key: str, timeout: float) -> bytes:  # noqa: ASYNC109
        """Wait until *key* exists and return its value.

        The daemon applies *timeout* (at most 3600 s), so a single call covers the wait.

        :raises RPCError: code TIMEOUT (68) after *timeout* seconds.
        """
        ret = await self._stub.wait_for_key(WaitArgs(key, float(timeout)))
        return bytes(ret.value)

    # ------------------------------------------------------------------ events

    @contextlib.asynccontextmanager
    async def watch(
        self, prefix: str = "", *, max_buffer: float = math.inf
    ) -> AsyncIterator[MemoryObjectReceiveStream[KeyEvent]]:
        """Receive a :class:`KeyEvent` for every change under *prefix* while inside the block.

        The stream ends when the connection closes.
        """
        send, receive = anyio.create_memory_object_stream[KeyEvent](max_buffer)
        entry = (prefix, send)
        if self._watch_counts.get(prefix, 0) == 0:
            await self._stub.watch(PrefixArgs(prefix))
        self._watch_counts[prefix] = self._watch_counts.get(prefix, 0) + 1
        self._subscriptions.append(entry)
        try:
            async with receive:
                yield receive
        finally:
            self._subscriptions.remove(entry)
            send.close()
            self._watch_counts[prefix] -= 1
            if self._watch_counts[prefix] == 0:
                del self._watch_counts[prefix]
                if not self.client.is_closed:
                    with anyio.CancelScope(shield=True), contextlib.suppress(NetRPCError):
                        await self._stub.unwatch(PrefixArgs(prefix))

    def _on_event(self, header: Header, payload: bytes) -> None:
        event = KEY_EVENT_CODEC.decode(payload)
        for prefix, send in self._subscriptions:
            if event.key.startswith(prefix):
                try:
                    send.send_nowait(event)
                except anyio.WouldBlock:
                    log.warning("watch %r: buffer full, dropping event %s", prefix, event)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass

    async def _end_subscriptions_on_close(self) -> None:
        await self.client.closed.wait()
        for _, send in self._subscriptions:
            send.close()


# ---------------------------------------------------------------------- command line


def _format_event(event: KeyEvent) -> str:
    if event.kind == EventKind.DELETE:
        return f"delete {event.key} (revision {event.revision})"
    value = event.value.decode("utf-8", "backslashreplace")
    return f"put {event.key} = {value} (revision {event.revision})"


def _write_value(value: bytes) -> None:
    sys.stdout.buffer.write(value + b"\n")
    sys.stdout.flush()


async def _run(args: argparse.Namespace) -> int:
    async with KVClient.connect(args.connect) as kv:
        if args.command == "put":
            revision = await kv.put(args.key, os.fsencode(args.value))
            print(f"revision {revision}")
        elif args.command == "get":
            _write_value(await kv.get(args.key))
        elif args.command == "delete":
            revision = await kv.delete(args.key)
            print(f"revision {revision}")
        elif args.command == "list":
            for key in await kv.list(args.prefix):
                print(key)
        elif args.command == "wait":
            _write_value(await kv.wait_for_key(args.key, args.timeout))
        elif args.command == "stats":
            stats = await kv.stats()
            for field in dataclasses.fields(stats):
                value = getattr(stats, field.name)
                print(f"{field.name}: {value:.1f}" if isinstance(value, float)
                      else f"{field.name}: {value}")
        elif args.command == "watch":
            async with kv.watch(args.prefix) as events:
                print(f"watching {args.prefix!r} (Ctrl-C to stop)", file=sys.stderr, flush=True)
                seen = 0
                async for event in events:
                    print(_format_event(event), flush=True)
                    seen += 1
                    if args.count and seen >= args.count:
                        break
                else:
                    print("connection closed", file=sys.stderr)
                    return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m daemons.kvstore.client", description="Talk to a kvstore daemon."
    )
    parser.add_argument(
        "--connect",
        metavar="URL",
        help="unix:///path or tcp://host:port (default: $KVSTORE_URL, the default unix socket "
        f"if it exists, else tcp://127.0.0.1:{DEFAULT_TCP_PORT})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("put", help="set KEY to VALUE")
    p.add_argument("key")
    p.add_argument("value")
    p = sub.add_parser("get", help="print the value of KEY")
    p.add_argument("key")
    p = sub.add_parser("delete", help="remove KEY")
    p.add_argument("key")
    p = sub.add_parser("list", help="list keys starting with PREFIX")
    p.add_argument("prefix", nargs="?", default="")
    p = sub.add_parser("wait", help="wait until KEY exists, print its value")
    p.add_argument("key")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    p = sub.add_parser("watch", help="print every change under PREFIX")
    p.add_argument("prefix", nargs="?", default="")
    p.add_argument("--count", type=int, default=0, help="exit after COUNT events")
    sub.add_parser("stats", help="print the daemon's counters")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return anyio.run(_run, args)
    except KeyboardInterrupt:
        return 130
    except RPCError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, NetRPCError, ValueError) as exc:
        url = args.connect or default_url()
        print(f"error: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
