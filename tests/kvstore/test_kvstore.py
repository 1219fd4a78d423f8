"""kvstore in process: procedures, errors, execution modes, events and persistence."""

from __future__ import annotations

import math
import os
import re
import threading

import anyio
import pytest

from daemons.kvstore.client import KVClient
from daemons.kvstore.program import KVStoreProgram
from daemons.kvstore.protocol import (
    ERROR_DOMAIN,
    EVENT_KEY_CHANGED,
    NO_KEY,
    PROGRAM,
    VERSION,
    EventKind,
    KeyArgs,
    KeyEvent,
    PrefixArgs,
    parse_address,
)
from daemons.kvstore.store import Change, Store
from netrpc import Client, ErrorCode, Header, RPCError

from ._support import running


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_put_get_delete_list(tmpdir_short: str, transport: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon, KVClient.connect(daemon.urls[transport]) as kv:
            assert await kv.put("user/alice", b"1") == 1
            assert await kv.put("user/bob", "2") == 2
            assert await kv.put("group/admins", b"alice") == 3
            assert await kv.put("user/alice", b"10") == 4
            assert await kv.get("user/alice") == b"10"
            assert await kv.list() == ["group/admins", "user/alice", "user/bob"]
            assert await kv.list("user/") == ["user/alice", "user/bob"]
            assert await kv.list("nobody/") == []
            assert await kv.delete("user/bob") == 5
            assert await kv.list("user/") == ["user/alice"]
            stats = await kv.stats()
            assert (stats.keys, stats.size, stats.revision) == (2, 7, 5)
            assert (stats.puts, stats.deletes, stats.clients) == (4, 1, 1)
            binary = bytes(range(256)) * 4
            await kv.put("blob", binary)
            assert await kv.get("blob") == binary


async def test_wire_numbers(tmpdir_short: str) -> None:
    """A client that knows only the numbers and the XDR types talks to the daemon."""
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon:
            path = parse_address(daemon.urls["unix"]).path
            async with Client.unix(path) as client:
                await client.call(PROGRAM, VERSION, 1, b"\0\0\0\1k\0\0\0" + b"\0\0\0\2hi\0\0")
                reply = await client.call(PROGRAM, VERSION, 2, KeyArgs.xdr.encode(KeyArgs("k")))  # type: ignore[attr-defined]
                assert reply == b"\0\0\0\2hi\0\0" + (1).to_bytes(8, "big")
                with pytest.raises(RPCError) as info:
                    await client.call(PROGRAM, VERSION, 99)
                assert info.value.message == "unknown procedure: 99"


async def test_missing_key_error(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon, KVClient.connect(daemon.urls["tcp"]) as kv:
            for call in (kv.get, kv.delete):
                with pytest.raises(RPCError) as info:
                    await call("no such key")
                err = info.value
                assert (err.code, err.domain, err.level) == (NO_KEY, ERROR_DOMAIN, 2)
                assert (err.code, err.domain) == (1000, 100)
                assert err.message == "key not found: 'no such key'"
                assert (err.str1, err.str2) == ("key not found: %s", "'no such key'")
            assert await kv.list() == []


async def test_argument_validation(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon, KVClient.connect(daemon.urls["unix"]) as kv:
            cases = [
                (kv.put("", b"x"), "invalid argument: key must not be empty"),
                (
                    kv.put("a\nb", b"x"),
                    "invalid argument: key 'a\\nb' contains a control character",
                ),
                (
                    kv.get("tab\there"),
                    "invalid argument: key 'tab\\there' contains a control character",
                ),
                (
                    kv.wait_for_key("k", -1),
                    "invalid argument: timeout must be between 0 and 3600 seconds, got -1.0",
                ),
                (
                    kv.wait_for_key("k", math.nan),
                    "invalid argument: timeout must be between 0 and 3600 seconds, got nan",
                ),
            ]
            for coro, message in cases:
                with pytest.raises(RPCError) as info:
                    await coro
                assert (info.value.code, info.value.domain) == (ErrorCode.INVALID_ARG, ERROR_DOMAIN)
                assert info.value.message == message
            with pytest.raises(RPCError) as info:
                await kv.wait_for_key("never", 0.05)
            assert (info.value.code, info.value.domain) == (
                ErrorCode.OPERATION_TIMEOUT,
                ERROR_DOMAIN,
            )
            assert (
                info.value.message
                == "operation timed out: key 'never' did not appear within 0.05 s"
            )
            assert await kv.list() == []


async def test_readonly_socket(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon:
            async with KVClient.connect(daemon.urls["unix"]) as kv:
                await kv.put("k", b"v")
            async with KVClient.connect(daemon.urls["readonly"]) as ro:
                assert await ro.get("k") == b"v"
                assert await ro.list() == ["k"]
                with pytest.raises(RPCError) as info:
                    await ro.put("k", b"w")
                assert info.value.code == ErrorCode.OPERATION_DENIED
                assert info.value.message == "operation forbidden: read only access prevents put"
                assert await ro.get("k") == b"v"


class GatedStore(Store):
    """A store whose put of the key "slow" blocks its worker thread until released."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.entered = threading.Event()
        self.release = threading.Event()

    def put(self, key: str, value: bytes) -> Change:
        if key == "slow":
            self.entered.set()
            assert self.release.wait(10)
        return super().put(key, value)


async def test_blocking_and_async_handlers_do_not_block_others(tmpdir_short: str) -> None:
    store = GatedStore(os.path.join(tmpdir_short, "kv.sqlite3"))
    with anyio.fail_after(15):
        async with (
            running(tmpdir_short, store) as daemon,
            KVClient.connect(daemon.urls["unix"]) as kv,
        ):
            await kv.put("k", b"v")
            done: list[str] = []

            async def slow_put() -> None:
                await kv.put("slow", b"s")
                done.append("put")

            async def wait() -> None:
                assert await kv.wait_for_key("late", 10) == b"here"
                done.append("wait")

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_put)
                tg.start_soon(wait)
                await anyio.to_thread.run_sync(store.entered.wait, 5)
                # A worker thread is stuck in put, an async handler is waiting: the inline
                # handlers still answer at once, on the same connection.
                with anyio.fail_after(2):
                    for _ in range(20):
                        assert await kv.get("k") == b"v"
                    assert await kv.list() == ["k"]
                    assert (await kv.stats()).keys == 1
                assert done == []
                store.release.set()
                with anyio.fail_after(5):
                    while "put" not in done:
                        await anyio.sleep(0.01)
                assert done == ["put"]
                # The waiter is still pending while other writes go through.
                await kv.put("other", b"o")
                assert done == ["put"]
                await kv.put("late", b"here")
            assert done == ["put", "wait"]


async def test_many_waiters_one_key(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon:
            results: list[bytes] = []

            async def waiter() -> None:
                async with KVClient.connect(daemon.urls["tcp"]) as kv:
                    results.append(await kv.wait_for_key("ready", 5))

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(waiter)
                async with KVClient.connect(daemon.urls["unix"]) as kv:
                    while (await kv.stats()).waiters < 3:
                        await anyio.sleep(0.01)
                    await kv.put("ready", b"go")
            assert results == [b"go"] * 3
            assert daemon.program._waiters == {}


async def test_events_reach_watchers_and_stop_after_unwatch(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with (
            running(tmpdir_short) as daemon,
            KVClient.connect(daemon.urls["unix"]) as watcher,
            KVClient.connect(daemon.urls["tcp"]) as writer,
        ):
            raw: list[tuple[Header, bytes]] = []
            watcher.client.on_event(PROGRAM, EVENT_KEY_CHANGED, lambda h, p: raw.append((h, p)))
            async with watcher.watch("user/") as users, watcher.watch("") as everything:
                await writer.put("user/alice", b"1")
                await writer.put("group/x", b"2")
                await writer.delete("user/alice")
                assert [await users.receive() for _ in range(2)] == [
                    KeyEvent(EventKind.PUT, "user/alice", b"1", 1),
                    KeyEvent(EventKind.DELETE, "user/alice", b"", 3),
                ]
                assert [(await everything.receive()).key for _ in range(3)] == [
                    "user/alice",
                    "group/x",
                    "user/alice",
                ]
                # One MESSAGE per change and connection, with its own procedure number and
                # libvirt's event serial 1, even when two watched prefixes match.
                assert len(raw) == 3
                header = raw[0][0]
                assert (header.program, header.version, header.procedure) == (PROGRAM, VERSION, 100)
                assert (header.type, header.serial) == (2, 1)
                assert (await writer.stats()).watchers == 1
            # Both watches ended: the daemon was told (unwatch) and sends nothing more.
            assert (await writer.stats()).watchers == 0
            await writer.put("user/bob", b"3")
            # The reply to this call is queued after any event the put caused.
            await watcher.stats()
            assert len(raw) == 3
            with pytest.raises(RPCError) as info:
                await watcher.client.stub(KVStoreProgram).unwatch(PrefixArgs("x/"))
            assert info.value.code == ErrorCode.OPERATION_INVALID
            assert (
                info.value.message == "Requested operation is not valid: not watching prefix 'x/'"
            )


async def test_watches_end_when_the_client_goes(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon, KVClient.connect(daemon.urls["tcp"]) as writer:
            async with KVClient.connect(daemon.urls["unix"]) as watcher:
                # Watch with the stub directly, so nothing unwatches on the way out.
                await watcher.client.stub(KVStoreProgram).watch(PrefixArgs(""))
                assert (await writer.stats()).watchers == 1
                await writer.put("a", b"1")
            while (await writer.stats()).watchers:
                await anyio.sleep(0.01)
            before = (await writer.stats()).events
            await writer.put("b", b"2")
            assert (await writer.stats()).events == before == 1


async def test_watch_stream_ends_when_the_daemon_stops(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon, KVClient.connect(daemon.urls["unix"]) as kv:
            async with kv.watch("") as events:
                await kv.put("a", b"1")
                daemon.server.shutdown()
                received = [event.key async for event in events]
            assert received == ["a"]
            assert kv.client.is_closed


async def test_restart_keeps_everything(tmpdir_short: str) -> None:
    with anyio.fail_after(10):
        async with running(tmpdir_short) as daemon, KVClient.connect(daemon.urls["unix"]) as kv:
            await kv.put("a", b"1")
            await kv.put("b", b"2")
            await kv.delete("a")
        async with running(tmpdir_short) as daemon, KVClient.connect(daemon.urls["tcp"]) as kv:
            assert await kv.list() == ["b"]
            assert await kv.get("b") == b"2"
            with pytest.raises(RPCError):
                await kv.get("a")
            assert (await kv.stats()).revision == 3
            assert await kv.put("c", b"3") == 4


def test_parse_address() -> None:
    assert str(parse_address("unix:///run/kv.sock")) == "unix:///run/kv.sock"
    assert parse_address("tcp://127.0.0.1:17100").port == 17100
    assert parse_address("tcp://[::1]:5?readonly").readonly
    assert str(parse_address("tcp://[::1]:5")) == "tcp://[::1]:5"
    for bad, message in [
        ("http://x:1", "'http://x:1': expected unix:///path or tcp://host:port"),
        ("tcp://host", "'tcp://host': expected tcp://host:port"),
        ("tcp://host:99999", "'tcp://host:99999': the port must be a number from 0 to 65535"),
        ("unix://", "'unix://': expected unix:///absolute/path.sock"),
        ("unix:///a?rw", "'unix:///a?rw': unknown option 'rw' (only 'readonly')"),
    ]:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            parse_address(bad)
