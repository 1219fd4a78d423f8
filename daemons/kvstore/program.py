"""The kvstore program: the procedures the daemon serves.

State lives in two places:

* the SQLite file (:class:`~daemons.kvstore.store.Store`), written only from worker threads;
* an in-memory copy of every key (:attr:`KVStoreProgram.entries`), with the watches and the
  ``wait_for_key`` waiters, touched only on the event loop thread.

So reads (``get``, ``list``, ``stats``) are inline handlers that answer from memory without
any hand-off, and writes (``put``, ``delete``) are plain ``def`` handlers that commit on a worker
thread, then hop back to the event loop with :func:`anyio.from_thread.run_sync` to update the
copy, wake the waiters and send the events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread

from netrpc import Call, Program, RPCError, procedure
from netrpc.core.program import ClientHandle

from .protocol import (
    ERROR_DOMAIN,
    EVENT_KEY_CHANGED,
    INVALID_ARG,
    KEY_EVENT_CODEC,
    LIST_MAX,
    NO_KEY,
    NOT_WATCHING,
    PROGRAM,
    TIMEOUT,
    VERSION,
    WAIT_MAX,
    WATCH_MAX,
    DeleteRet,
    EventKind,
    GetRet,
    KeyArgs,
    KeyEvent,
    ListRet,
    PrefixArgs,
    Proc,
    PutArgs,
    PutRet,
    StatsRet,
    WaitArgs,
)
from .store import Change, Store

__all__ = ("KVStoreProgram", "invalid_argument", "no_key")

log = logging.getLogger("kvstore")

# Key of this program's state in ServerClient.private: the set of watched prefixes.
_WATCHES = "kvstore.watches"


def no_key(key: str) -> RPCError:
    """The error for a missing key: ``key not found: 'KEY'`` (code NO_KEY, domain 100)."""
    return RPCError.formatted(NO_KEY, ERROR_DOMAIN, "key not found: %s", repr(key))


def invalid_argument(detail: str) -> RPCError:
    """``invalid argument: DETAIL``, worded like libvirt's VIR_ERR_INVALID_ARG."""
    return RPCError.formatted(INVALID_ARG, ERROR_DOMAIN, "invalid argument: %s", detail)


def check_key(key: str) -> None:
    """Keys are 1 to KEY_MAX bytes of UTF-8 without control characters.

    The XDR type already caps the length on the wire; this turns the other mistakes into a
    readable error that quotes the key.
    """
    if not key:
        raise invalid_argument("key must not be empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise invalid_argument(f"key {key!r} contains a control character")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid_argument(f"key {key!r} is not valid UTF-8") from None


class KVStoreProgram(Program):
    """Program 0x4E525031 version 1: a persistent key-value store with change events.

    :param store: the open database; the program loads it and writes through it.
    """

    number, version = PROGRAM, VERSION

    def __init__(self, store: Store) -> None:
        self.store = store
        #: key -> (value, revision): the in-memory copy of the store (event loop only)
        self.entries: dict[str, tuple[bytes, int]] = store.load()
        self.revision = store.revision
        self.counters = {"puts": 0, "gets": 0, "deletes": 0, "events": 0}
        self.started = time.monotonic()
        self._watchers: set[ClientHandle] = set()
        self._waiters: dict[str, list[anyio.Event]] = {}
        # Serializes every use of the SQLite connection (see Store), and makes "commit, then
        # apply on the event loop" a single step: two puts of one key reach the in-memory
        # copy and the watchers in the order they were committed.  Only worker threads take
        # it; the event loop never waits for it.
        self._write_lock = threading.Lock()

    # ------------------------------------------------------------------ writes (worker threads)

    @procedure(Proc.PUT, args=PutArgs, ret=PutRet)
    def put(self, call: Call, args: PutArgs) -> PutRet:
        """Store a value.  A plain ``def``: it runs on a worker thread and may block."""
        check_key(args.key)
        change = self._write(lambda: self.store.put(args.key, args.value))
        assert change is not None
        return PutRet(change.revision, change.created)

    @procedure(Proc.DELETE, args=KeyArgs, ret=DeleteRet)
    def delete(self, call: Call, args: KeyArgs) -> DeleteRet:
        """Remove a key; NO_KEY when it does not exist.  Runs on a worker thread."""
        check_key(args.key)
        change = self._write(lambda: self.store.delete(args.key))
        if change is None:
            raise no_key(args.key)
        return DeleteRet(change.revision)

    def _write(self, commit: Callable[[], Change | None]) -> Change | None:
        with self._write_lock:
            change = commit()
            if change is not None:
                # Worker threads must not touch clients or the in-memory state: run the
                # update on the event loop and wait for it.
                anyio.from_thread.run_sync(self._apply, change)
        return change

    # ------------------------------------------------------------------ reads (inline)

    @procedure(Proc.GET, args=KeyArgs, ret=GetRet, readonly=True, inline=True)
    def get(self, call: Call, args: KeyArgs) -> GetRet:
        """Inline: answered from memory in the connection's read loop, no hand-off."""
        self.counters["gets"] += 1
        entry = self.entries.get(args.key)
        if entry is None:
            check_key(args.key)  # a stored key is valid: only a miss needs the check
            raise no_key(args.key)
        return GetRet(*entry)

    @procedure(Proc.LIST, args=PrefixArgs, ret=ListRet, readonly=True, inline=True, name="list")
    def list_keys(self, call: Call, args: PrefixArgs) -> ListRet:
        """Keys starting with *prefix*.  ``name="list"`` names the procedure for stubs and
        logs; the method itself is list_keys so the builtin ``list`` stays usable here."""
        keys = sorted(k for k in self.entries if k.startswith(args.prefix))
        return ListRet(keys[:LIST_MAX], len(keys) > LIST_MAX)

    @procedure(Proc.STATS, ret=StatsRet, readonly=True, inline=True)
    def stats(self, call: Call, args: None) -> StatsRet:
        c = self.counters
        return StatsRet(
            keys=len(self.entries),
            size=sum(len(value) for value, _ in self.entries.values()),
            revision=self.revision,
            puts=c["puts"],
            gets=c["gets"],
            deletes=c["deletes"],
            events=c["events"],
            watchers=len(self._watchers),
            waiters=sum(len(w) for w in self._waiters.values()),
            clients=call.server.nclients,
            uptime=time.monotonic() - self.started,
        )

    # ------------------------------------------------------------------ waiting (async)

    @procedure(Proc.WAIT_FOR_KEY, args=WaitArgs, ret=GetRet, readonly=True)
    async def wait_for_key(self, call: Call, args: WaitArgs) -> GetRet:
        """``async def``: its own task on the event loop, so waiting blocks nobody."""
        check_key(args.key)
        if not 0 <= args.timeout <= WAIT_MAX:  # also rejects NaN
            raise invalid_argument(
                f"timeout must be between 0 and {WAIT_MAX:g} seconds, got {args.timeout!r}"
            )
        entry = self.entries.get(args.key)
        if entry is None:
            event = anyio.Event()
            waiters = self._waiters.setdefault(args.key, [])
            waiters.append(event)
            try:
                with anyio.move_on_after(args.timeout):
                    await event.wait()
            finally:
                waiters.remove(event)
                if not waiters:
                    del self._waiters[args.key]
            entry = self.entries.get(args.key)
            if entry is None:
                raise RPCError.formatted(
                    TIMEOUT,
                    ERROR_DOMAIN,
                    "operation timed out: %s",
                    f"key {args.key!r} did not appear within {args.timeout:g} s",
                )
        return GetRet(*entry)

    # ------------------------------------------------------------------ events (inline)

    @procedure(Proc.WATCH, args=PrefixArgs, readonly=True, inline=True)
    def watch(self, call: Call, args: PrefixArgs) -> None:
        """Send this connection a KEY_CHANGED event for every change under *prefix*."""
        client = call.client
        watches: set[str] = client.private.setdefault(_WATCHES, set())
        if args.prefix not in watches and len(watches) >= WATCH_MAX:
            raise invalid_argument(
                f"cannot watch {args.prefix!r}: a connection may watch {WATCH_MAX} prefixes"
            )
        watches.add(args.prefix)
        self._watchers.add(client)

    @procedure(Proc.UNWATCH, args=PrefixArgs, readonly=True, inline=True)
    def unwatch(self, call: Call, args: PrefixArgs) -> None:
        client = call.client
        watches: set[str] = client.private.get(_WATCHES, set())
        if args.prefix not in watches:
            raise RPCError.formatted(
                NOT_WATCHING,
                ERROR_DOMAIN,
                "Requested operation is not valid: %s",
                f"not watching prefix {args.prefix!r}",
            )
        watches.remove(args.prefix)
        if not watches:
            self._watchers.discard(client)

    def client_closed(self, client: Any) -> None:
        """The connection is gone: forget its watches."""
        client.private.pop(_WATCHES, None)
        self._watchers.discard(client)

    # ------------------------------------------------------------------ event loop side

    def _apply(self, change: Change) -> None:
        """Make a committed change visible (runs on the event loop thread)."""
        self.revision = change.revision
        if change.value is None:
            self.entries.pop(change.key, None)
            self.counters["deletes"] += 1
            event = KeyEvent(EventKind.DELETE, change.key, b"", change.revision)
        else:
            self.entries[change.key] = (change.value, change.revision)
            self.counters["puts"] += 1
            event = KeyEvent(EventKind.PUT, change.key, change.value, change.revision)
            for waiter in self._waiters.get(change.key, ()):
                waiter.set()
        self._publish(event)

    def _publish(self, event: KeyEvent) -> None:
        payload: bytes | None = None
        for client in list(self._watchers):
            if any(event.key.startswith(p) for p in client.private.get(_WATCHES, ())):
                if payload is None:
                    payload = KEY_EVENT_CODEC.encode(event)
                client.send_event(PROGRAM, VERSION, EVENT_KEY_CHANGED, payload)
                self.counters["events"] += 1
